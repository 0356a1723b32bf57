"""Prediction tables and their scores: one format for SPT and every baseline.

A predictions CSV has one row per star: ``obsid, kic, age, age_err, mass, mass_err`` (Gyr,
Msun; the errors are 1-sigma, e.g. from MC dropout) and the catalogue labels ``age_true,
mass_true`` (with their errors ``e_age_true, e_mass_true``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from spt.metrics import delta_p, score_table

LABELS = ("age", "mass")
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


def scores(frame: pd.DataFrame) -> dict[str, float]:
    """Delta_P and the other scores of metrics.score_table, for age and for mass."""
    out: dict[str, float] = {}
    for label in LABELS:
        for name, value in score_table(frame[label], frame[f"{label}_true"]).items():
            out[f"{label}_{name}"] = value
    return out


def calibration(frame: pd.DataFrame) -> pd.DataFrame:
    """Fraction of stars whose catalogue label lies within 1 and 2 sigma of the prediction.

    Rows per label: "dropout" (the MC-dropout spread alone, when the frame has ``*_err_mc``),
    "prediction" (the quoted error) and "combined" (the quoted error and the label's own error
    in quadrature: the label is itself a measurement). Ideal coverage is 0.683 and 0.954.
    """
    rows = []
    for label in LABELS:
        pred_err = frame[f"{label}_err"].to_numpy(dtype=float)
        label_err = frame.get(f"e_{label}_true", pd.Series(0.0, index=frame.index)).to_numpy(float)
        kinds = [("prediction", pred_err), ("combined", np.hypot(pred_err, label_err))]
        if f"{label}_err_mc" in frame.columns:
            kinds.insert(0, ("dropout", frame[f"{label}_err_mc"].to_numpy(dtype=float)))
        for name, sigma in kinds:
            z = np.abs(frame[label] - frame[f"{label}_true"]).to_numpy(float) / sigma
            rows.append(
                {
                    "label": label,
                    "sigma": name,
                    "within_1sigma": float(np.mean(z <= 1.0)),
                    "within_2sigma": float(np.mean(z <= 2.0)),
                    "ideal_1sigma": 0.683,
                    "ideal_2sigma": 0.954,
                    "median_z": float(np.median(z)),
                    "n": len(z),
                }
            )
    return pd.DataFrame(rows)


def noise_floor(predictions: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Mock survey only: Delta_P of SPT and of the catalogue labels against the noise-free truth.

    ``truth`` is the simulator's truth table (obsid, age, mass). Rows: the predictions scored
    against the catalogue labels (what the paper reports), against the noise-free labels, and
    the catalogue labels against the noise-free labels (the floor a perfect model would reach
    when scored against the catalogue), for age and mass.
    """
    joined = predictions.merge(
        truth[["obsid", "age", "mass"]], on="obsid", suffixes=("", "_noisefree")
    )
    if len(joined) != len(predictions):
        raise PredictionFormatError("some predicted stars are missing from the truth table")
    rows = []
    for label in LABELS:
        pred, cat, clean = (
            joined[c].to_numpy(float) for c in (label, f"{label}_true", f"{label}_noisefree")
        )
        for name, value in (
            ("SPT vs catalogue labels", delta_p(pred, cat)),
            ("SPT vs noise-free labels", delta_p(pred, clean)),
            ("catalogue vs noise-free labels (floor)", delta_p(cat, clean)),
        ):
            rows.append({"label": label, "comparison": name, "delta_p": value})
    out = pd.DataFrame(rows)
    out["n"] = len(joined)
    return out
