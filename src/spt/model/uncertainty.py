"""The per-star error model: a calibrated 1-sigma error for every prediction (ours).

MC dropout measures only the model's own uncertainty and is far too small on its own: the
information a spectrum lacks about age and mass does not show up as dropout spread. The quoted
error is an additive model of the relative variance, ``(sigma/y)^2 = (a + k / SNR^2 +
c * rel_mc^2) * exp(sum_k b_k z_k)``: a floor (what a spectrum cannot tell), a noise term that
grows as 1/SNR^2, and the model's own MC spread, each non-negative, scaled by covariates
``z`` (the red-clump probability, the distance from the training set, LAMOST [Fe/H]).
`fit_additive_error_model` fits it by maximum likelihood of the log residuals with each
catalogue label's own error deconvolved, so sigma is against the true value. The MC-dropout
spread stays reported alone as the paper's uncertainty.
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
#: The one form of the error model (the two retired forms' files are refused on reading).
ERROR_FORM = "additive"


def coverage(residual: ArrayLike, sigma: ArrayLike) -> float:
    """Fraction of |residual| <= sigma."""
    return float(np.mean(np.abs(np.asarray(residual, float)) <= np.asarray(sigma, float)))


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
    """Fit the error model (`ErrorModel`) on calibration stars' predictions and labels.

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
    return ErrorModel(tuple(labels), (*ADDITIVE_TERMS, *names), coef, np.ones(mean.shape[1]))


def _as_2d(a: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(a, dtype=float)
    return arr[:, None] if arr.ndim == 1 else arr


@dataclass(frozen=True)
class ErrorModel:
    """Per-star relative error of each label: ``(sigma/y)^2 = (e^c0 + e^c1 / SNR^2 +
    e^c2 * rel_mc^2) * exp(sum_k c_k z_k)``, with covariates ``z`` by name after
    `ADDITIVE_TERMS` in ``terms``: a floor, a noise term and the model's own spread, each
    non-negative, scaled by e.g. the red-clump probability. The quoted sigma is never below
    the MC spread: ``max(|y_hat| * rel, std_mc)``.
    """

    labels: tuple[str, ...]
    terms: tuple[str, ...]
    coef: NDArray[np.float64]  # (n_labels, n_terms)
    scale: NDArray[np.float64]  # (n_labels,)

    @property
    def covariates(self) -> tuple[str, ...]:
        """The covariates' names, in coefficient order."""
        return self.terms[len(ADDITIVE_TERMS) :]

    def _z(self, covariates: Mapping[str, ArrayLike] | None) -> list[NDArray[np.float64]]:
        missing = [t for t in self.covariates if t not in (covariates or {})]
        if missing:
            raise ValueError(f"this error model was fitted with covariates {missing}: pass them")
        return [np.asarray(covariates[t], dtype=float).ravel() for t in self.covariates]  # type: ignore[index]

    def relative(
        self,
        mean: ArrayLike,
        std_mc: ArrayLike,
        snr: ArrayLike,
        covariates: Mapping[str, ArrayLike] | None = None,
    ) -> NDArray[np.float64]:
        """Relative 1-sigma error (n, n_labels) of each star's prediction."""
        mean, std_mc = _as_2d(mean), _as_2d(std_mc)
        snr = np.asarray(snr, dtype=float).ravel()
        z = self._z(covariates)
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
        """Each ``ADDITIVE_TERMS`` term's share (n, n_labels) of the relative variance (they
        sum to ``(relative / scale)**2``): what two spectra of one star differ by is the noise
        and MC terms alone, the floor being the star's own."""
        mean, std_mc = _as_2d(mean), _as_2d(std_mc)
        snr = np.asarray(snr, dtype=float).ravel()
        z = self._z(covariates)
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
        covariates: Mapping[str, ArrayLike] | None = None,
    ) -> NDArray[np.float64]:
        """Calibrated 1-sigma error (n, n_labels) in the labels' units (Gyr, Msun)."""
        mean2, std2 = _as_2d(mean), _as_2d(std_mc)
        rel = self.relative(mean2, std2, snr, covariates)
        return np.maximum(np.abs(mean2) * rel, std2)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists and floats)."""
        return {
            "kind": ERROR_FORM,
            "labels": list(self.labels),
            "terms": list(self.terms),
            "coef": self.coef.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorModel:
        """Inverse of `to_dict`; ValueError for a file of a retired form."""
        if data.get("kind") != ERROR_FORM:
            raise ValueError(
                f"error model of form {data.get('kind')!r}, retired: only the {ERROR_FORM} form "
                "is read; rerun `snakemake --forcerun trust_spt` to refit it"
            )
        return cls(
            tuple(data["labels"]),
            tuple(data["terms"]),
            np.asarray(data["coef"], dtype=float),
            np.asarray(data["scale"], dtype=float),
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
