"""The label-outlier cut: invalid ages and masses, large errors, stars off the age-mass relation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spt.io.predictions import LABELS, check_labels

#: Default label cuts (ages in Gyr, masses in solar masses).
LABEL_DEFAULTS: dict[str, Any] = {
    "age_min": 0.0,  # exclusive: an age must be positive
    "age_max": 14.0,  # older than the Universe is impossible
    # ... beyond this many of the label's own errors: a noisy 15 +- 3 Gyr is a possible old star
    # (0: a hard cut at age_max, which keeps too few of the oldest stars and biases them young)
    "age_max_nsigma": 2.0,
    "mass_min": 0.5,  # red giants below 0.5 Msun have not had time to evolve
    "mass_max": 5.0,
    "max_rel_err_age": 1.0,  # e_age / age above this: the age is unconstrained
    "max_rel_err_mass": 0.5,
    "relation_degree": 2,  # log age as a polynomial in log mass, plus a linear [Fe/H] term
    "relation_k": 3.5,  # |residual| above k robust sigma (1.4826 MAD) is off the relation
    "relation_iter": 10,
}


LABEL_FLAGS = ("age_invalid", "mass_invalid", "large_error", "off_relation")


_LABEL_REASONS = {
    "age_invalid": "age outside ({age_min}, {age_max}] Gyr by more than {age_max_nsigma} e_age",
    "mass_invalid": "mass outside [{mass_min}, {mass_max}] Msun",
    "large_error": "relative error above {max_rel_err_age} (age) or {max_rel_err_mass} (mass)",
    "off_relation": "off the age-mass-[Fe/H] relation by > {relation_k} robust sigma",
}


def _design(log_mass: np.ndarray, feh: np.ndarray | None, degree: int) -> np.ndarray:
    cols = [log_mass**d for d in range(degree + 1)]
    if feh is not None:
        cols.append(feh)
    return np.column_stack(cols)


def fit_age_mass_relation(
    age: np.ndarray, mass: np.ndarray, feh: np.ndarray | None, cfg: Mapping[str, Any] | None = None
) -> tuple[np.ndarray, float, np.ndarray]:
    """Robust fit of log10 age on log10 mass (and [Fe/H]) by iterated k-sigma clipping.

    Returns the residuals in dex for every star, the robust sigma (1.4826 MAD of the inliers)
    and the inlier mask. Stars with NaN inputs get a NaN residual.
    """
    c = {**LABEL_DEFAULTS, **(cfg or {})}
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log10(np.asarray(age, dtype=np.float64))
        lm = np.log10(np.asarray(mass, dtype=np.float64))
    f = None if feh is None else np.asarray(feh, dtype=np.float64)
    finite = np.isfinite(y) & np.isfinite(lm) & (True if f is None else np.isfinite(f))
    X = _design(lm, f, int(c["relation_degree"]))
    if finite.sum() <= X.shape[1] + 2:
        raise ValueError(f"only {int(finite.sum())} stars with usable labels: too few to fit")
    inlier = finite.copy()
    sigma = np.inf
    for _ in range(int(c["relation_iter"])):
        coef, *_ = np.linalg.lstsq(X[inlier], y[inlier], rcond=None)
        resid = np.where(finite, y - np.where(finite[:, None], X, 0.0) @ coef, np.nan)
        sigma = 1.4826 * float(np.median(np.abs(resid[inlier] - np.median(resid[inlier]))))
        new = finite & (np.abs(resid) <= c["relation_k"] * max(sigma, 1e-12))
        if np.array_equal(new, inlier):
            break
        inlier = new
    return resid, sigma, inlier


def flag_label_outliers(
    frame: pd.DataFrame,
    cfg: Mapping[str, Any] | None = None,
    labels: Sequence[str] = LABELS,
) -> pd.DataFrame:
    """Flag stars whose labels are impossible, too uncertain, or far off the age-mass relation.

    ``frame`` has the chosen ``labels`` (default ``age, mass``) and optionally their errors
    ``e_<label>``, ``feh`` and ids (``kic``, ``obsid``). Returns one row per input row (same
    order): the ids, a boolean column per cut, the relation residual (dex) and its robust z,
    ``reasons`` and ``rejected``. A label not chosen is not checked (its flag stays False, so a
    NaN age does not reject a star trained on mass alone), and with one label the age-mass
    relation cut is skipped (residuals NaN): it needs both.
    """
    chosen = check_labels(labels)
    c = {**LABEL_DEFAULTS, **(cfg or {})}
    unknown = set(cfg or {}) - set(LABEL_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown label-outlier setting(s) {sorted(unknown)}")
    missing = [col for col in chosen if col not in frame.columns]
    if missing:
        raise KeyError(f"label table lacks column(s) {missing}")
    n = len(frame)
    age = frame["age"].to_numpy(dtype=np.float64) if "age" in chosen else np.full(n, np.nan)
    mass = frame["mass"].to_numpy(dtype=np.float64) if "mass" in chosen else np.full(n, np.nan)
    out = frame[[col for col in ("kic", "obsid") if col in frame.columns]].copy()
    e_age = np.zeros(n)
    if "e_age" in frame.columns:
        e_age = np.nan_to_num(frame["e_age"].to_numpy(dtype=np.float64), nan=0.0).clip(min=0.0)
    age_top = c["age_max"] + c["age_max_nsigma"] * e_age
    out["age_invalid"] = ~((age > c["age_min"]) & (age <= age_top)) if "age" in chosen else False
    out["mass_invalid"] = (
        ~((mass >= c["mass_min"]) & (mass <= c["mass_max"])) if "mass" in chosen else False
    )
    large = np.zeros(n, dtype=bool)
    for col, key in (("age", "max_rel_err_age"), ("mass", "max_rel_err_mass")):
        if col in chosen and f"e_{col}" in frame.columns:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = frame[f"e_{col}"].to_numpy(dtype=np.float64) / np.abs(frame[col].to_numpy())
            large |= ~(rel <= c[key])  # NaN errors count as too large
    out["large_error"] = large
    valid = ~(out["age_invalid"] | out["mass_invalid"]).to_numpy()
    feh = None
    if "feh" in frame.columns and frame["feh"].notna().any():
        feh = frame["feh"].fillna(frame["feh"].median()).to_numpy(dtype=np.float64)
    resid = np.full(n, np.nan)
    z = np.full(n, np.nan)
    if len(chosen) == len(LABELS) and valid.sum() > 0:
        r, sigma, _ = fit_age_mass_relation(
            age[valid], mass[valid], None if feh is None else feh[valid], c
        )
        resid[valid] = r
        z[valid] = r / max(sigma, 1e-12)
    out["relation_resid_dex"] = resid
    out["relation_z"] = z
    out["off_relation"] = np.abs(np.nan_to_num(z, nan=0.0)) > c["relation_k"]
    reasons = []
    for row in out[list(LABEL_FLAGS)].itertuples(index=False):
        hits = [
            _LABEL_REASONS[name].format(**c) for name, v in zip(LABEL_FLAGS, row, strict=True) if v
        ]
        reasons.append("; ".join(hits))
    out["reasons"] = reasons
    out["rejected"] = out[list(LABEL_FLAGS)].any(axis=1)
    return out
