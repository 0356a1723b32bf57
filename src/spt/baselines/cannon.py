"""The Cannon (Ness et al. 2015): a quadratic data-driven spectral model."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from sklearn.preprocessing import PolynomialFeatures

from spt.baselines.base import (
    Array,
    Baseline,
    BaselineConfigError,
    Split,
    _reproducible,
    mean_delta_p,
)
from spt.io.predictions import split_labels


class CannonModel:
    """The Cannon's spectral model: flux = θ_λ · v(labels) + noise of variance σ² + s_λ².

    v holds the constant, linear and quadratic terms of the (standardised) labels. ``fit`` is
    the training step (weighted least squares per pixel, alternated with the per-pixel scatter
    s_λ²); ``infer`` the test step (labels of each spectrum by non-linear least squares).
    """

    def __init__(self, n_labels: int, ridge: float = 0.0, n_iter: int = 5) -> None:
        self.poly = PolynomialFeatures(degree=2).fit(np.zeros((1, n_labels)))
        self.ridge, self.n_iter = float(ridge), int(n_iter)

    def vectorise(self, labels: np.ndarray) -> Array:
        return self.poly.transform(np.atleast_2d(labels))

    def _jacobian_terms(self, labels: np.ndarray) -> Array:
        """d v / d label at one label vector: (n_terms, n_labels)."""
        p = self.poly.powers_
        out = np.zeros(p.shape, dtype=np.float64)
        for k in range(p.shape[1]):
            lowered = p.copy()
            lowered[:, k] = np.maximum(p[:, k] - 1, 0)
            out[:, k] = p[:, k] * np.prod(labels**lowered, axis=1)
        return out

    @staticmethod
    def _scatter(resid: Array, ivar: Array, s2: Array, n_steps: int = 5) -> Array:
        """Per-pixel s² maximising the Gaussian likelihood (fixed-point iteration)."""
        for _ in range(n_steps):
            w = ivar / (1.0 + ivar * s2)  # 1 / (σ² + s²); 0 where masked
            w2 = w * w
            # s² ← Σ w²(r² − σ²) / Σ w², the stationary point of the log-likelihood in s²
            excess = (w2 * resid**2).sum(0) - (w / (1.0 + ivar * s2)).sum(0)  # w²σ² = w/(1+ivar s²)
            s2 = np.maximum(0.0, excess / np.maximum(w2.sum(0), 1e-300))
        return s2

    def fit(self, labels: np.ndarray, flux: np.ndarray, ivar: np.ndarray) -> Self:
        """Training step on standardised labels (n, L), flux and inverse variance (n, p)."""
        v = self.vectorise(labels)
        n, k = v.shape
        self.label_mean_ = np.mean(labels, axis=0)
        self.label_cov_ = np.atleast_2d(np.cov(labels, rowvar=False))
        f, iv = np.asarray(flux, np.float64), np.asarray(ivar, np.float64)
        self.pixel_ok_ = (iv > 0).sum(axis=0) >= max(2 * k, 10)
        outer = (v[:, :, None] * v[:, None, :]).reshape(n, k * k)
        penalty = np.eye(k) * self.ridge
        penalty[0, 0] = 0.0  # the constant term is not shrunk
        theta = np.linalg.lstsq(v, f, rcond=None)[0]  # all pixels at once, unweighted
        s2 = np.zeros(f.shape[1])
        for _ in range(self.n_iter):
            s2 = self._scatter(f - v @ theta, iv, s2)
            w = iv / (1.0 + iv * s2)
            a = (outer.T @ w).T.reshape(-1, k, k)
            # relative ridge: scaled by each pixel's total weight so one value suits all pixels
            a = a + penalty * (w.sum(0) / n)[:, None, None] + 1e-9 * np.eye(k)
            theta = np.linalg.solve(a, (v.T @ (w * f)).T[:, :, None])[:, :, 0].T
        self.theta_ = np.where(self.pixel_ok_, theta, np.eye(k)[:, :1])  # unusable: flat 1.0
        self.s2_ = np.where(self.pixel_ok_, self._scatter(f - v @ theta, iv, s2), 0.0)
        return self

    def model_flux(self, labels: np.ndarray) -> Array:
        return self.vectorise(labels) @ self.theta_

    def _linear_guess(self, f: Array, w: Array) -> Array:
        """Labels from the linear terms of a per-star linear fit of all non-constant terms."""
        t = self.theta_[1:].T  # (p, k-1)
        a = np.einsum("pk,np,pj->nkj", t, w, t) + 1e-9 * np.eye(t.shape[1])
        b = np.einsum("pk,np->nk", t, w * (f - self.theta_[0]))
        coef = np.linalg.solve(a, b[:, :, None])[:, :, 0]
        return coef[:, : self.poly.n_features_in_]

    def infer(
        self, flux: np.ndarray, ivar: np.ndarray, bounds: tuple[Array, Array], prior: float = 0.0
    ) -> tuple[Array, Array]:
        """Test step: best-fit standardised labels (n, L) and their formal 1-sigma.

        ``prior`` > 0 adds ``prior`` × the training labels' Gaussian log-density (MAP instead
        of maximum likelihood), which tames nearly degenerate labels such as age and mass.
        """
        f, iv = np.asarray(flux, np.float64), np.asarray(ivar, np.float64)
        w = np.where(self.pixel_ok_, iv / (1.0 + iv * self.s2_), 0.0)
        lo, hi = bounds
        starts = np.clip(self._linear_guess(f, w), lo + 1e-6, hi - 1e-6)
        n_labels = len(lo)
        # residuals whose squares sum to prior × (z − mean)ᵀ Σ⁻¹ (z − mean)
        root = math.sqrt(prior) * np.linalg.cholesky(np.linalg.inv(self.label_cov_)).T
        labels = np.full((len(f), n_labels), np.nan)
        errors = np.full((len(f), n_labels), np.nan)
        for i in range(len(f)):
            use = w[i] > 0
            sw, fi, th = np.sqrt(w[i, use]), f[i, use], self.theta_[:, use]

            def resid(x: Array, sw: Array = sw, fi: Array = fi, th: Array = th) -> Array:
                data = sw * (fi - self.vectorise(x)[0] @ th)
                return np.concatenate([data, root @ (x - self.label_mean_)])

            def jac(x: Array, sw: Array = sw, th: Array = th) -> Array:
                return np.vstack([-sw[:, None] * (th.T @ self._jacobian_terms(x)), root])

            fits = [
                least_squares(resid, x0, jac=jac, bounds=(lo, hi), method="trf")
                for x0 in (starts[i], np.zeros(n_labels))
            ]
            best = min(fits, key=lambda r: r.cost)
            labels[i] = best.x
            with contextlib.suppress(np.linalg.LinAlgError):
                errors[i] = np.sqrt(np.diag(np.linalg.inv(best.jac.T @ best.jac)))
        return labels, errors


class CannonBaseline(Baseline):
    """The Cannon (Ness et al. 2015) on the full normalised spectra.

    Labels: ln age, ln mass (or the split's one label) and the optional ``extra_labels`` (split
    columns, e.g. added by `attach_columns`), all standardised; the extra labels are inferred too
    but not returned.
    Tuned: a relative ridge on the non-constant coefficients (training step) and the weight of
    a Gaussian prior from the training labels (test step; 0 is the original maximum likelihood).
    """

    name = "cannon"
    inputs = "spectra"
    defaults: ClassVar[Mapping[str, Any]] = {
        "ridge": 0.0,
        "prior": 0.0,
        "n_iter": 5,
        "extra_labels": [],
        "bound_margin": 1.0,
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {
        "ridge": [0.0, 0.1],
        "prior": [0.0, 10.0, 30.0, 100.0],
    }

    def _inputs(self, split: Split) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        assert self.spectra is not None
        return self.spectra.rows(split["obsid"])

    def fit(self, train: Split, val: Split) -> Self:
        extra = list(self.params["extra_labels"])
        absent = [c for c in extra if c not in train]
        if absent:
            raise BaselineConfigError(
                f"cannon: extra label(s) {absent} not in the training split (see attach_columns)"
            )
        self.label_names_ = split_labels(train)
        k = self.n_main_ = len(self.label_names_)
        with _reproducible(int(self.params["threads"]), self.seed):
            y = np.column_stack([np.asarray(train["y"], np.float64), *[train[c] for c in extra]])
            self.labels_ = self._label_scaler(y.shape[1], k).fit(y)
            z = self.labels_.transform(y)
            margin = float(self.params["bound_margin"])
            self.bounds_ = (z.min(axis=0) - margin, z.max(axis=0) + margin)
            (flux, ivar), val_in = self._inputs(train), self._inputs(val)
            y_val = np.asarray(val["y"], dtype=np.float64)
            self.tuning_ = []
            trained: dict[tuple[float, int], CannonModel] = {}  # the prior needs no retraining

            def fit_one(s: dict[str, Any]) -> tuple[CannonModel, float]:
                key = (float(s["ridge"]), int(s["n_iter"]))
                if key not in trained:
                    trained[key] = CannonModel(z.shape[1], *key).fit(z, flux, ivar)
                return trained[key], float(s["prior"])

            def score(fitted: tuple[CannonModel, float]) -> float:
                zv = fitted[0].infer(*val_in, self.bounds_, prior=fitted[1])[0]
                return mean_delta_p(self.labels_.inverse(zv)[:, :k], y_val)

            self.models_ = [self._tune(list(range(k)), fit_one, score)]
        return self

    def predict(self, split: Split) -> tuple[Array, Array]:
        """Mean (n, k) and formal 1-sigma (n, k) of the k training labels (age, mass)."""
        if not hasattr(self, "models_"):
            raise RuntimeError("cannon: call fit before predict")
        model, prior = self.models_[0]
        k = self.n_main_
        with _reproducible(int(self.params["threads"]), self.seed):
            z, z_err = model.infer(*self._inputs(split), self.bounds_, prior=prior)
        return self.labels_.inverse(z)[:, :k], self.labels_.inverse_std(z, z_err)[:, :k]
