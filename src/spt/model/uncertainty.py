"""Calibrated prediction errors: MC-dropout spread plus an error floor fitted on validation stars.

MC dropout measures only the model's (epistemic) uncertainty, so on its own it is too small:
the information a spectrum lacks about age and mass does not show up as dropout spread. We add
in quadrature a floor proportional to the prediction, ``sigma = sqrt(sigma_mc**2 + (f * y)**2)``,
with one ``f`` per label chosen on the validation split so that the catalogue label (itself
uncertain, its error added in quadrature) lies within 1 sigma for the target fraction of stars
(0.683). Proportional, because age and mass errors grow with the value.

That floor makes every star's error the same fraction of its value, so coverage falls with
S/N. `fit_error_model` replaces it by a per-star error: a log-variance regression on log S/N
and the log relative MC spread (optionally a distance from the training set and named
covariates), fitted by
maximum likelihood on validation with the labels' own errors deconvolved, then scaled once
so that 68.3 % of validation labels (errors added) are covered (or kept at the likelihood's
variance, the default: see `fit_error_model`). MC dropout stays reported
alone as the model's own uncertainty.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from spt.io.files import write_bytes
from spt.io.seismic import RED_CLUMP, RGB

ONE_SIGMA = 0.6827


def coverage(residual: ArrayLike, sigma: ArrayLike) -> float:
    """Fraction of |residual| <= sigma."""
    return float(np.mean(np.abs(np.asarray(residual, float)) <= np.asarray(sigma, float)))


def total_std(mean: ArrayLike, std_mc: ArrayLike, floor: ArrayLike) -> NDArray[np.float64]:
    """``sqrt(std_mc**2 + (floor * mean)**2)``; ``floor`` broadcasts over the label axis."""
    mean, std_mc, floor = (np.asarray(a, dtype=float) for a in (mean, std_mc, floor))
    return np.hypot(std_mc, floor * np.abs(mean))


def log_normal_interval(
    mean: ArrayLike, sigma: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The 16th and 84th percentiles ``mean * exp(-+ sigma / |mean|)`` of the true value.

    The error model is Gaussian in ``log(y / y_hat)`` with standard deviation
    ``sigma / |y_hat|``, so the true value's 68.3 % interval is asymmetric about the prediction:
    wider above, and never below zero, where ``mean -+ sigma`` is symmetric and can go negative.
    """
    mean, sigma = np.asarray(mean, dtype=float), np.asarray(sigma, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.exp(sigma / np.abs(mean))
    return mean / width, mean * width


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


# --------------------------------------------------------------------------- per-star error model
#: Regressors of the log-variance model, in column order (``distance`` only when fitted with it).
ERROR_TERMS = ("const", "log_snr", "log_rel_mc", "log1p_dist2")
_REL_MC_MIN = 1e-4  # relative MC spread below this is read as this (log stays finite)


def _design(
    mean: NDArray[np.float64],
    std_mc: NDArray[np.float64],
    snr: NDArray[np.float64],
    distance: NDArray[np.float64] | None,
    covariates: Mapping[str, NDArray[np.float64]] | None = None,
) -> NDArray[np.float64]:
    """Regressors (n, n_labels, n_terms) of the log-variance model for each star and label."""
    n, k = mean.shape
    with np.errstate(invalid="ignore"):  # NaN predictions (unusable spectra) stay NaN
        rel_mc = np.maximum(std_mc / np.maximum(np.abs(mean), 1e-12), _REL_MC_MIN)
    cols = [
        np.ones((n, k)),
        np.repeat(np.log(np.maximum(snr, 1.0))[:, None], k, axis=1),
        np.log(rel_mc),
    ]
    if distance is not None:
        cols.append(np.repeat(np.log1p(np.maximum(distance, 0.0) ** 2)[:, None], k, axis=1))
    for name in sorted(covariates or {}):
        cols.append(np.repeat(np.asarray(covariates[name], float).ravel()[:, None], k, axis=1))  # type: ignore[index]
    return np.stack(cols, axis=-1)


def _as_2d(a: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(a, dtype=float)
    return arr[:, None] if arr.ndim == 1 else arr


@dataclass(frozen=True)
class ErrorModel:
    """Per-star relative error of each label, fitted on validation; two forms (``kind``).

    ``loglinear``: ``sigma/y = scale * exp(0.5 * x.coef)``, ``x`` = (1, log S/N, log relative
    MC spread[, log(1 + distance^2)][, covariates by name]), centred on ``center``.
    ``additive``: ``(sigma/y)^2 = (e^c0 + e^c1 / SNR^2 + e^c2 * rel_mc^2) * exp(sum_k c_k z_k)``
    with covariates ``z`` by name (`ADDITIVE_TERMS`): a floor, a noise term and the model's own
    spread, each non-negative, scaled by e.g. the red-clump probability.
    The quoted sigma is never below the MC spread: ``max(|y_hat| * rel, std_mc)``.
    """

    labels: tuple[str, ...]
    terms: tuple[str, ...]
    coef: NDArray[np.float64]  # (n_labels, n_terms)
    center: NDArray[np.float64]  # (n_labels, n_terms); const column centred at 0
    scale: NDArray[np.float64]  # (n_labels,)
    kind: str = "loglinear"

    def relative(
        self,
        mean: ArrayLike,
        std_mc: ArrayLike,
        snr: ArrayLike,
        distance: ArrayLike | None = None,
        covariates: Mapping[str, ArrayLike] | None = None,
    ) -> NDArray[np.float64]:
        """Relative 1-sigma error (n, n_labels) of each star's prediction."""
        mean, std_mc = _as_2d(mean), _as_2d(std_mc)
        snr = np.asarray(snr, dtype=float).ravel()
        if self.kind == "additive":
            return self._relative_additive(mean, std_mc, snr, covariates)
        uses_distance = "log1p_dist2" in self.terms
        if uses_distance and distance is None:
            raise ValueError("this error model was fitted with a distance term: pass distance")
        dist = np.asarray(distance, dtype=float).ravel() if uses_distance else None
        names = [t for t in self.terms if t not in ERROR_TERMS]
        missing = [t for t in names if t not in (covariates or {})]
        if missing:
            raise ValueError(f"this error model was fitted with covariates {missing}: pass them")
        cov = {t: np.asarray(covariates[t], dtype=float) for t in names}  # type: ignore[index]
        x = _design(mean, std_mc, snr, dist, cov) - self.center[None]
        return self.scale[None] * np.exp(0.5 * np.einsum("nkt,kt->nk", x, self.coef))

    def _relative_additive(
        self,
        mean: NDArray[np.float64],
        std_mc: NDArray[np.float64],
        snr: NDArray[np.float64],
        covariates: Mapping[str, ArrayLike] | None,
    ) -> NDArray[np.float64]:
        names = self.terms[len(ADDITIVE_TERMS) :]
        missing = [t for t in names if t not in (covariates or {})]
        if missing:
            raise ValueError(f"this error model was fitted with covariates {missing}: pass them")
        z = [np.asarray(covariates[t], dtype=float).ravel() for t in names]  # type: ignore[index]
        var = np.empty_like(mean)
        for j in range(mean.shape[1]):
            x = _additive_design(mean[:, j], std_mc[:, j], snr, z)
            var[:, j] = _additive_variance(x, self.coef[j])
        return self.scale[None] * np.sqrt(var)

    def variance_terms(
        self,
        mean: ArrayLike,
        std_mc: ArrayLike,
        snr: ArrayLike,
        covariates: Mapping[str, ArrayLike] | None = None,
    ) -> dict[str, NDArray[np.float64]]:
        """Each ``ADDITIVE_TERMS`` term's share (n, n_labels) of the relative variance
        (additive form; they sum to ``(relative / scale)**2``): what two spectra of one star
        differ by is the noise and MC terms alone, the floor being the star's own."""
        if self.kind != "additive":
            raise ValueError("only the additive error model has separate variance terms")
        mean, std_mc = _as_2d(mean), _as_2d(std_mc)
        snr = np.asarray(snr, dtype=float).ravel()
        names = self.terms[len(ADDITIVE_TERMS) :]
        z = [np.asarray((covariates or {})[t], dtype=float).ravel() for t in names]
        n = len(ADDITIVE_TERMS)
        out = {t: np.empty_like(mean) for t in ADDITIVE_TERMS}
        for j in range(mean.shape[1]):
            x = _additive_design(mean[:, j], std_mc[:, j], snr, z)
            factor = np.exp(np.clip(x[:, n:] @ self.coef[j, n:], -20.0, 20.0))
            for i, t in enumerate(ADDITIVE_TERMS):
                out[t][:, j] = x[:, i] * np.exp(np.clip(self.coef[j, i], -40.0, 20.0)) * factor
        return out

    def sigma(
        self,
        mean: ArrayLike,
        std_mc: ArrayLike,
        snr: ArrayLike,
        distance: ArrayLike | None = None,
        covariates: Mapping[str, ArrayLike] | None = None,
    ) -> NDArray[np.float64]:
        """Calibrated 1-sigma error (n, n_labels) in the labels' units (Gyr, Msun)."""
        mean2, std2 = _as_2d(mean), _as_2d(std_mc)
        rel = self.relative(mean2, std2, snr, distance, covariates)
        return np.maximum(np.abs(mean2) * rel, std2)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists and floats)."""
        return {
            "kind": self.kind,
            "labels": list(self.labels),
            "terms": list(self.terms),
            "coef": self.coef.tolist(),
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorModel:
        """Inverse of `to_dict`."""
        return cls(
            tuple(data["labels"]),
            tuple(data["terms"]),
            np.asarray(data["coef"], dtype=float),
            np.asarray(data["center"], dtype=float),
            np.asarray(data["scale"], dtype=float),
            # files written before the additive form say "log_variance_regression"
            "additive" if data.get("kind") == "additive" else "loglinear",
        )


def _fit_log_variance(
    x: NDArray[np.float64], r: NDArray[np.float64], e: NDArray[np.float64], ridge: float
) -> NDArray[np.float64]:
    """Coefficients maximising the Gaussian likelihood of ``r`` with variance exp(x.b) + e^2."""

    def nll(b: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        v = np.exp(np.clip(x @ b, -30.0, 10.0))
        total = v + e**2
        value = 0.5 * np.sum(np.log(total) + r**2 / total) + 0.5 * ridge * np.sum(b[1:] ** 2)
        grad_v = 0.5 * (1.0 / total - r**2 / total**2) * v
        grad = x.T @ grad_v
        grad[1:] += ridge * b[1:]
        return float(value), grad

    excess = max(float(np.mean(r**2 - e**2)), 1e-4)
    b0 = np.zeros(x.shape[1])
    b0[0] = np.log(excess)
    res = minimize(nll, b0, jac=True, method="L-BFGS-B")
    return np.asarray(res.x, dtype=float)


def fit_error_model(
    mean: ArrayLike,
    std_mc: ArrayLike,
    snr: ArrayLike,
    y: ArrayLike,
    y_err: ArrayLike | None = None,
    distance: ArrayLike | None = None,
    target: float = ONE_SIGMA,
    labels: Sequence[str] = ("age", "mass"),
    ridge: float = 1.0,
    covariates: Mapping[str, ArrayLike] | None = None,
    scale_method: str = "likelihood",
) -> ErrorModel:
    """Fit the per-star error model on validation predictions against catalogue labels.

    Log residuals ``r = log(y / y_hat)`` are modelled as Gaussian with variance
    ``exp(x.b) + e^2``, ``e`` the label's own relative error (deconvolved: the fitted sigma is
    against the true value). ``scale_method`` "coverage" then sets one scale per label so that
    ``target`` of the labels lie within ``sqrt(sigma^2 + y_err^2)`` (linear units);
    "likelihood" (default) keeps the maximum-likelihood variance (scale 1), which on the mock
    covered the noise-free truth better (the coverage step assumes Gaussian residuals).
    ``ridge`` shrinks the slopes (not the intercept) towards zero for small validation sets.
    ``covariates`` (name -> (n,) array, e.g. LAMOST log g) enter as further linear terms and
    must be passed again, by name, to `ErrorModel.sigma`.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target coverage must be in (0, 1), got {target}")
    if scale_method not in ("likelihood", "coverage"):
        raise ValueError(f"scale_method must be 'likelihood' or 'coverage', not {scale_method!r}")
    mean, std_mc, y = _as_2d(mean), _as_2d(std_mc), _as_2d(y)
    snr = np.asarray(snr, dtype=float).ravel()
    y_err = np.zeros_like(y) if y_err is None else np.nan_to_num(_as_2d(y_err), nan=0.0)
    dist = None if distance is None else np.asarray(distance, dtype=float).ravel()
    if not mean.shape == std_mc.shape == y.shape == y_err.shape or len(snr) != len(mean):
        raise ValueError("mean, std_mc, y, y_err (n, k) and snr (n,) must agree in shape")
    if len(labels) != mean.shape[1]:
        labels = tuple(f"label{j}" for j in range(mean.shape[1]))
    cov = {k: np.asarray(v, dtype=float) for k, v in (covariates or {}).items()}
    clash = set(cov) & set(ERROR_TERMS)
    if clash:
        raise ValueError(f"covariate names {sorted(clash)} are reserved")
    x_all = _design(mean, std_mc, snr, dist, cov)
    n_terms = x_all.shape[-1]
    coef = np.zeros((mean.shape[1], n_terms))
    center = np.zeros((mean.shape[1], n_terms))
    scale = np.ones(mean.shape[1])
    for j in range(mean.shape[1]):
        good = (
            np.isfinite(x_all[:, j]).all(axis=1)
            & np.isfinite(y[:, j])
            & (y[:, j] > 0)
            & (mean[:, j] > 0)
        )
        if good.sum() < 2 * n_terms:
            raise ValueError(f"too few finite stars ({int(good.sum())}) to fit the error model")
        x = x_all[good, j]
        center[j, 1:] = x[:, 1:].mean(axis=0)
        x = x - center[j]
        r = np.log(y[good, j] / mean[good, j])
        e = y_err[good, j] / y[good, j]
        coef[j] = _fit_log_variance(x, r, e, ridge)
        if scale_method == "likelihood":
            continue
        # One scalar so that the labels (with their errors) are covered at the target rate.
        sig = mean[good, j] * np.exp(0.5 * x @ coef[j])
        excess = np.maximum((y[good, j] - mean[good, j]) ** 2 - y_err[good, j] ** 2, 0.0)
        needed = np.sqrt(excess) / sig
        scale[j] = max(float(np.quantile(needed, target, method="inverted_cdf")), 1e-6)
    terms = (*ERROR_TERMS[: 4 if dist is not None else 3], *sorted(cov))
    return ErrorModel(tuple(labels), terms, coef, center, scale)


#: The additive form's covariates (`spt.model.trust` computes them): the red-clump
#: probability (`StateModel`), the log distance from the training set and the star's LAMOST
#: [Fe/H] in dex from the training mean (weaker lines carry less of the mass signature, so
#: metal-poor giants err more); config ``predict.error_covariates`` picks among them.
STATE_COVARIATE = "p_red_clump"
DISTANCE_COVARIATE = "log_knn_distance"
FEH_COVARIATE = "feh_lamost"
ERROR_COVARIATES = (STATE_COVARIATE, DISTANCE_COVARIATE, FEH_COVARIATE)

#: The additive form's variance terms, in coefficient order (covariate factors follow).
ADDITIVE_TERMS = ("floor", "inv_snr2", "rel_mc2")
ERROR_FORMS = ("additive", "loglinear")


def _additive_design(
    mean: NDArray[np.float64],
    std_mc: NDArray[np.float64],
    snr: NDArray[np.float64],
    covariates: Sequence[NDArray[np.float64]],
) -> NDArray[np.float64]:
    """Columns (1, 1/SNR^2, rel_mc^2, covariates...) of the additive form, one label."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_mc = std_mc / np.maximum(np.abs(mean), 1e-12)
    inv_snr2 = 1.0 / np.maximum(snr, 1.0) ** 2
    return np.column_stack([np.ones_like(mean), inv_snr2, rel_mc**2, *covariates])


def _additive_variance(x: NDArray[np.float64], coef: NDArray[np.float64]) -> NDArray[np.float64]:
    """Relative variance of the additive form for design ``x`` and coefficients ``coef``."""
    n = len(ADDITIVE_TERMS)
    base = x[:, :n] @ np.exp(np.clip(coef[:n], -40.0, 20.0))
    return base * np.exp(np.clip(x[:, n:] @ coef[n:], -20.0, 20.0))


def fit_additive_error_model(
    mean: ArrayLike,
    std_mc: ArrayLike,
    snr: ArrayLike,
    y: ArrayLike,
    y_err: ArrayLike | None = None,
    labels: Sequence[str] = ("age", "mass"),
    covariates: Mapping[str, ArrayLike] | None = None,
) -> ErrorModel:
    """Fit the additive error model (`ErrorModel`, ``kind="additive"``) on validation stars.

    Why this form: the error of a spectroscopic estimate is a floor (what the spectrum cannot
    tell, e.g. the age spread at fixed chemistry) plus a noise term that grows as 1/SNR^2
    (information scales with SNR^2), plus the model's own (MC-dropout) uncertainty; each term
    is non-negative, so a small validation split cannot turn a slope the wrong way, and the
    form extrapolates to S/N beyond the split's range like the noise does. Fitted by maximum
    likelihood of the log residuals ``log(y / y_hat)`` with each label's own relative error
    added to the model variance (deconvolved: sigma is against the true value). Covariates
    (name -> (n,) array, e.g. the red-clump probability) scale the whole variance by
    ``exp(c * z)``.
    """
    mean, std_mc, y = _as_2d(mean), _as_2d(std_mc), _as_2d(y)
    snr = np.asarray(snr, dtype=float).ravel()
    y_err = np.zeros_like(y) if y_err is None else np.nan_to_num(_as_2d(y_err), nan=0.0)
    if not mean.shape == std_mc.shape == y.shape == y_err.shape or len(snr) != len(mean):
        raise ValueError("mean, std_mc, y, y_err (n, k) and snr (n,) must agree in shape")
    if len(labels) != mean.shape[1]:
        labels = tuple(f"label{j}" for j in range(mean.shape[1]))
    names = sorted(covariates or {})
    clash = set(names) & set(ADDITIVE_TERMS)
    if clash:
        raise ValueError(f"covariate names {sorted(clash)} are reserved")
    z = [np.asarray(covariates[k], dtype=float).ravel() for k in names]  # type: ignore[index]
    n_terms = len(ADDITIVE_TERMS) + len(names)
    coef = np.zeros((mean.shape[1], n_terms))
    for j in range(mean.shape[1]):
        x = _additive_design(mean[:, j], std_mc[:, j], snr, z)
        good = np.isfinite(x).all(axis=1) & (y[:, j] > 0) & (mean[:, j] > 0)
        good &= np.isfinite(y[:, j]) & np.isfinite(snr)
        if good.sum() < 2 * n_terms:
            raise ValueError(f"too few finite stars ({int(good.sum())}) to fit the error model")
        xg = x[good]
        r = np.log(y[good, j] / mean[good, j])
        e2 = (y_err[good, j] / y[good, j]) ** 2

        def nll(b: NDArray[np.float64], xg=xg, r=r, e2=e2) -> float:
            total = _additive_variance(xg, b) + e2 + 1e-12
            return float(0.5 * np.sum(np.log(total) + r**2 / total))

        level = max(float(np.mean(r**2 - e2)), 1e-4)
        median_snr2 = float(np.median(1.0 / xg[:, 1]))
        b0 = np.concatenate([
            [np.log(level / 2), np.log(level / 2 * median_snr2), np.log(1.0)],
            np.zeros(len(names)),
        ])  # fmt: skip
        options = {"maxiter": 4000 * n_terms, "xatol": 1e-6, "fatol": 1e-9}
        res = minimize(nll, b0, method="Nelder-Mead", options=options)
        coef[j] = res.x
    return ErrorModel(
        tuple(labels),
        (*ADDITIVE_TERMS, *names),
        coef,
        np.zeros_like(coef),
        np.ones(mean.shape[1]),
        kind="additive",
    )


@dataclass(frozen=True)
class StateModel:
    """Probability that a star is in the red clump, from its PCA vector (logistic regression).

    Red-clump and red-giant-branch stars of the same spectrum-derived labels have different
    age and mass errors, and survey stars have no seismic state: the error model takes this
    probability, learnt on the training split's seismic states, as a covariate.
    """

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    weights: NDArray[np.float64]
    bias: float

    def probability(self, features: ArrayLike) -> NDArray[np.float64]:
        """P(red clump) per row of ``features`` (NaN rows stay NaN)."""
        x = (np.asarray(features, dtype=float) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-np.clip(x @ self.weights + self.bias, -50.0, 50.0)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "bias": self.bias}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StateModel:
        """Inverse of `to_dict`."""
        arrays = {k: np.asarray(data[k], dtype=float) for k in ("mean", "scale", "weights")}
        return cls(**arrays, bias=float(data["bias"]))


def fit_state_model(
    features: ArrayLike, phase: ArrayLike, seed: int = 0, min_per_class: int = 20
) -> StateModel | None:
    """Logistic regression of red clump (``phase == RED_CLUMP``) against RGB on PCA vectors;
    None when the stars' states are unknown or either class has fewer than ``min_per_class``."""
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(features, dtype=float)
    codes = pd.to_numeric(pd.Series(np.asarray(phase)), errors="coerce").to_numpy()
    known = np.isfinite(codes) & np.isin(codes, (RGB, RED_CLUMP)) & np.isfinite(X).all(axis=1)
    is_rc = codes[known] == RED_CLUMP
    if min(int(is_rc.sum()), int((~is_rc).sum())) < min_per_class:
        return None
    mean, scale = X[known].mean(axis=0), X[known].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    clf = LogisticRegression(C=1.0, max_iter=5000, random_state=seed)
    clf.fit((X[known] - mean) / scale, is_rc)
    return StateModel(mean, scale, clf.coef_[0].astype(float), float(clf.intercept_[0]))


def coverage_table(
    residual: ArrayLike, sigma: ArrayLike, groups: Mapping[str, ArrayLike]
) -> dict[str, tuple[int, float, float]]:
    """Per group: (n, fraction within 1 sigma, within 2 sigma) of residuals."""
    r = np.abs(np.asarray(residual, dtype=float))
    s = np.asarray(sigma, dtype=float)
    out: dict[str, tuple[int, float, float]] = {}
    for name, mask in groups.items():
        m = np.asarray(mask, dtype=bool) & np.isfinite(r) & np.isfinite(s)
        if m.any():
            out[name] = (
                int(m.sum()),
                float(np.mean(r[m] <= s[m])),
                float(np.mean(r[m] <= 2 * s[m])),
            )
    return out


def save_error_model(path: str | os.PathLike[str], model: ErrorModel) -> None:
    """Write the error model as JSON (atomically)."""
    write_bytes(path, json.dumps(model.to_dict(), indent=2).encode())


def load_error_model(path: str | os.PathLike[str]) -> ErrorModel:
    """Read an error model written by `save_error_model`."""
    return ErrorModel.from_dict(json.loads(Path(path).read_text()))
