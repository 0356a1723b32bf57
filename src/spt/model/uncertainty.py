"""Calibrated prediction errors: MC-dropout spread plus an error floor fitted on validation stars.

MC dropout measures only the model's (epistemic) uncertainty, so on its own it is too small:
the information a spectrum lacks about age and mass does not show up as dropout spread. We add
in quadrature a floor proportional to the prediction, ``sigma = sqrt(sigma_mc**2 + (f * y)**2)``,
with one ``f`` per label chosen on the validation split so that the catalogue label (itself
uncertain, its error added in quadrature) lies within 1 sigma for the target fraction of stars
(0.683). Proportional, because age and mass errors grow with the value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

ONE_SIGMA = 0.6827


def coverage(residual: ArrayLike, sigma: ArrayLike) -> float:
    """Fraction of |residual| <= sigma."""
    return float(np.mean(np.abs(np.asarray(residual, float)) <= np.asarray(sigma, float)))


def total_std(mean: ArrayLike, std_mc: ArrayLike, floor: ArrayLike) -> NDArray[np.float64]:
    """``sqrt(std_mc**2 + (floor * mean)**2)``; ``floor`` broadcasts over the label axis."""
    mean, std_mc, floor = (np.asarray(a, dtype=float) for a in (mean, std_mc, floor))
    return np.hypot(std_mc, floor * np.abs(mean))


def fit_error_floor(
    mean: ArrayLike,
    std_mc: ArrayLike,
    y: ArrayLike,
    y_err: ArrayLike | None = None,
    target: float = ONE_SIGMA,
) -> float:
    """The smallest fractional floor f >= 0 giving ``target`` coverage of the labels ``y``.

    Star i is covered once f >= f_i = sqrt(max(r_i**2 - sigma_mc**2 - label_err**2, 0)) / |y_hat|,
    so coverage(f) is the empirical distribution of the f_i and f is its ``target`` quantile;
    0 when the MC spread (with the label errors) already covers ``target`` of the stars.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target coverage must be in (0, 1), got {target}")
    mean, std_mc, y = (np.asarray(a, dtype=float).ravel() for a in (mean, std_mc, y))
    label_err = np.zeros_like(y) if y_err is None else np.asarray(y_err, float).ravel()
    label_err = np.nan_to_num(label_err, nan=0.0)
    good = np.isfinite(mean) & np.isfinite(std_mc) & np.isfinite(y)
    if not good.any():
        raise ValueError("no finite prediction to calibrate on")
    mean, std_mc, y, label_err = mean[good], std_mc[good], y[good], label_err[good]
    excess = np.maximum((y - mean) ** 2 - std_mc**2 - label_err**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.where(excess > 0, np.sqrt(excess) / np.abs(mean), 0.0)
    return float(np.quantile(needed, target, method="inverted_cdf"))
