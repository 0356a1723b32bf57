"""The predictions CSV (one format for SPT and every baseline) and the feature-split npz files.

A predictions CSV has one row per star: ``obsid, kic, age, age_err, mass, mass_err`` (Gyr,
Msun; the errors are 1-sigma) and the catalogue labels ``age_true, mass_true`` (with their
errors ``e_age_true, e_mass_true``). A model trained on fewer labels (config
``features.labels``, e.g. ``[mass]`` for a seismic table without ages) has only those columns.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

PREDICTION_COLUMNS = (
    "obsid", "kic", "age", "age_err", "mass", "mass_err",
    "age_true", "e_age_true", "mass_true", "e_mass_true",
)  # fmt: skip


#: Every label a model can learn, in the fixed order of the ``y`` columns (Gyr, Msun).
LABELS = ("age", "mass")


class PredictionFormatError(ValueError):
    """A predictions file lacks a column or has unusable values; the message says which."""


def check_labels(labels: Iterable[str] | None = None) -> tuple[str, ...]:
    """The chosen labels as a tuple in the order of LABELS (default: all); others raise.

    The order is fixed so that ``y`` column j means the same label in every file.
    """
    chosen = LABELS if labels is None else tuple(str(x) for x in labels)
    unknown = sorted(set(chosen) - set(LABELS))
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"labels must be a non-empty subset of {list(LABELS)}, got {chosen}")
    if list(chosen) != [x for x in LABELS if x in chosen]:
        raise ValueError(f"labels must be in the order {list(LABELS)}, got {list(chosen)}")
    return chosen


def split_labels(split: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """The label names of a split's ``y`` columns (its ``labels`` array; age, mass if absent)."""
    if "labels" not in split:
        return LABELS
    return check_labels(np.asarray(split["labels"]).astype(str).tolist())


def frame_labels(frame: pd.DataFrame) -> tuple[str, ...]:
    """The labels a predictions frame carries: those with a prediction column, in LABELS order."""
    return tuple(label for label in LABELS if label in frame.columns)


def load_split(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays of one feature split (X, y, y_err, obsid, kic, labels)."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def prediction_frame(
    split: Mapping[str, np.ndarray],
    mean: np.ndarray,
    std: np.ndarray | None = None,
    std_mc: np.ndarray | None = None,
) -> pd.DataFrame:
    """Predictions (n, k) of the split's labels and their errors beside its ids and labels.

    Columns: ``obsid, kic``, per label ``<label>, <label>_err[, <label>_err_mc]``, then per label
    ``<label>_true, e_<label>_true``. ``std`` is the error to quote; ``std_mc``, when given, the
    MC-dropout spread alone.
    """
    labels = split_labels(split)
    mean = np.asarray(mean, dtype=float)
    std = np.full_like(mean, np.nan) if std is None else np.asarray(std, dtype=float)
    if mean.shape != split["y"].shape or std.shape != mean.shape:
        raise ValueError(f"predictions {mean.shape} do not match labels {split['y'].shape}")
    if mean.ndim != 2 or mean.shape[1] != len(labels):
        raise ValueError(f"predictions {mean.shape} do not match the labels {list(labels)}")
    if std_mc is not None:
        std_mc = np.asarray(std_mc, dtype=float)
        if std_mc.shape != mean.shape:
            raise ValueError(f"MC spread {std_mc.shape} does not match predictions {mean.shape}")
    y, y_err = split["y"].astype(float), split["y_err"].astype(float)
    columns: dict[str, np.ndarray] = {
        "obsid": split["obsid"].astype(np.int64),
        "kic": split["kic"].astype(np.int64),
    }
    for j, label in enumerate(labels):
        columns[label] = mean[:, j]
        columns[f"{label}_err"] = std[:, j]
        if std_mc is not None:
            columns[f"{label}_err_mc"] = std_mc[:, j]
    for j, label in enumerate(labels):
        columns[f"{label}_true"] = y[:, j]
        columns[f"e_{label}_true"] = y_err[:, j]
    return pd.DataFrame(columns)


def read_predictions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a predictions CSV, checking its columns (a clear error names what is missing).

    It must have ``obsid`` and, for at least one label, the prediction and ``<label>_true``.
    """
    frame = pd.read_csv(path)
    labels = frame_labels(frame)
    if not labels:
        raise PredictionFormatError(f"{path}: predictions lack a label column (any of {LABELS})")
    required = ("obsid", *labels, *(f"{label}_true" for label in labels))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise PredictionFormatError(f"{path}: predictions lack column(s) {missing}")
    bad = ~np.isfinite(frame[list(labels)].to_numpy(dtype=float)).all(axis=1)
    if bad.any():
        raise PredictionFormatError(f"{path}: {int(bad.sum())} rows have non-finite predictions")
    return frame
