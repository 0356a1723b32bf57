"""Scores of a predictions table (``spt.io.predictions``): Delta_P, calibration, noise floor.

Each function scores the labels the table carries (`spt.io.predictions.frame_labels`): age and
mass by default, one of them for a model trained on ``features.labels: [mass]`` or ``[age]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spt.io.predictions import PredictionFormatError, frame_labels
from spt.validation.metrics import delta_p, score_table


def scores(frame: pd.DataFrame) -> dict[str, float]:
    """Delta_P and the other scores of metrics.score_table, for each label of the frame."""
    out: dict[str, float] = {}
    for label in frame_labels(frame):
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
    for label in frame_labels(frame):
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
    when scored against the catalogue), for each label of the predictions.
    """
    labels = frame_labels(predictions)
    joined = predictions.merge(truth[["obsid", *labels]], on="obsid", suffixes=("", "_noisefree"))
    if len(joined) != len(predictions):
        raise PredictionFormatError("some predicted stars are missing from the truth table")
    rows = []
    for label in labels:
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
