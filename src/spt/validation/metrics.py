"""Scores for one predicted label against its truth, shared by SPT and every baseline.

All functions take 1-D arrays (one label, e.g. age) and return a float. Relative scores are in
percent: Delta_P (the paper's score), the median relative residual (bias) and the robust scatter.
NaN or infinite values, mismatched shapes and (for relative scores) zero truth raise ValueError.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

MAD_TO_SIGMA = 1.4826  # scales a median absolute deviation to a Gaussian sigma


def _pair(pred: ArrayLike, true: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate and return (pred, true) as equal-length, finite, 1-D float arrays."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.ndim != 1 or p.shape != t.shape:
        raise ValueError(f"pred and true must be 1-D of equal length, got {p.shape} and {t.shape}")
    if p.size == 0:
        raise ValueError("pred and true are empty")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("pred or true contains NaN or infinite values")
    return p, t


def _relative(pred: ArrayLike, true: ArrayLike) -> NDArray[np.float64]:
    """Relative residuals (pred − true) / true; zero truth raises."""
    p, t = _pair(pred, true)
    if np.any(t == 0):
        raise ValueError("true contains zeros; relative residuals are undefined")
    return (p - t) / t


def delta_p(pred: ArrayLike, true: ArrayLike) -> float:
    """The paper's Delta_P: mean of |pred − true| / true, in percent."""
    return float(100.0 * np.mean(np.abs(_relative(pred, true))))


def mae(pred: ArrayLike, true: ArrayLike) -> float:
    """Mean absolute error, in the label's units."""
    p, t = _pair(pred, true)
    return float(np.mean(np.abs(p - t)))


def rmse(pred: ArrayLike, true: ArrayLike) -> float:
    """Root mean squared error, in the label's units."""
    p, t = _pair(pred, true)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def r2(pred: ArrayLike, true: ArrayLike) -> float:
    """Coefficient of determination 1 − SS_res / SS_tot; constant truth raises."""
    p, t = _pair(pred, true)
    ss_tot = np.sum((t - t.mean()) ** 2)
    if ss_tot == 0:
        raise ValueError("true is constant; R² is undefined")
    return float(1.0 - np.sum((p - t) ** 2) / ss_tot)


def median_rel_residual(pred: ArrayLike, true: ArrayLike) -> float:
    """Median of (pred − true) / true in percent: the typical relative bias."""
    return float(100.0 * np.median(_relative(pred, true)))


def robust_scatter(pred: ArrayLike, true: ArrayLike) -> float:
    """1.4826 × median absolute deviation of the relative residuals, in percent."""
    rel = _relative(pred, true)
    return float(100.0 * MAD_TO_SIGMA * np.median(np.abs(rel - np.median(rel))))


def score_table(pred: ArrayLike, true: ArrayLike) -> dict[str, float]:
    """Every score above for one label, keyed by function name."""
    return {
        fn.__name__: fn(pred, true)
        for fn in (delta_p, mae, rmse, r2, median_rel_residual, robust_scatter)
    }
