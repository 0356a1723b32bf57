"""The predictions CSV (one format for SPT and every baseline) and the feature-split npz files.

A predictions CSV has one row per star: ``obsid, kic, age, age_err, mass, mass_err`` (Gyr,
Msun; the errors are 1-sigma) and the catalogue labels ``age_true, mass_true`` (with their
errors ``e_age_true, e_mass_true``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

PREDICTION_COLUMNS = (
    "obsid", "kic", "age", "age_err", "mass", "mass_err",
    "age_true", "e_age_true", "mass_true", "e_mass_true",
)  # fmt: skip


class PredictionFormatError(ValueError):
    """A predictions file lacks a column or has unusable values; the message says which."""


def load_split(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays of one feature split (X, y, y_err, obsid, kic)."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def prediction_frame(
    split: Mapping[str, np.ndarray],
    mean: np.ndarray,
    std: np.ndarray | None = None,
    std_mc: np.ndarray | None = None,
) -> pd.DataFrame:
    """Predictions (n, 2) [age, mass] and their errors beside the split's ids and labels.

    ``std`` is the error to quote; ``std_mc``, when given, the MC-dropout spread alone
    (columns ``age_err_mc``, ``mass_err_mc``).
    """
    mean = np.asarray(mean, dtype=float)
    std = np.full_like(mean, np.nan) if std is None else np.asarray(std, dtype=float)
    if mean.shape != split["y"].shape or std.shape != mean.shape:
        raise ValueError(f"predictions {mean.shape} do not match labels {split['y'].shape}")
    y, y_err = split["y"].astype(float), split["y_err"].astype(float)
    frame = pd.DataFrame(
        {
            "obsid": split["obsid"].astype(np.int64),
            "kic": split["kic"].astype(np.int64),
            "age": mean[:, 0],
            "age_err": std[:, 0],
            "mass": mean[:, 1],
            "mass_err": std[:, 1],
            "age_true": y[:, 0],
            "e_age_true": y_err[:, 0],
            "mass_true": y[:, 1],
            "e_mass_true": y_err[:, 1],
        }
    )
    if std_mc is not None:
        std_mc = np.asarray(std_mc, dtype=float)
        frame.insert(4, "age_err_mc", std_mc[:, 0])
        frame.insert(7, "mass_err_mc", std_mc[:, 1])
    return frame


def read_predictions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a predictions CSV, checking its columns (a clear error names what is missing)."""
    frame = pd.read_csv(path)
    required = ("obsid", "age", "mass", "age_true", "mass_true")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise PredictionFormatError(f"{path}: predictions lack column(s) {missing}")
    bad = ~np.isfinite(frame[["age", "mass"]].to_numpy(dtype=float)).all(axis=1)
    if bad.any():
        raise PredictionFormatError(f"{path}: {int(bad.sum())} rows have non-finite predictions")
    return frame
