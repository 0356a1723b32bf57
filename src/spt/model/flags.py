"""Quality flags: one bitfield per star saying why its prediction may not be trusted.

SDSS Astra convention: an integer ``flag`` whose bits name the reasons, ``flag_warn`` (any
bit: use with care) and ``flag_bad`` (a bit in `BAD_BITS`: do not use). A star is never
dropped: it keeps its row, its prediction where one exists, and its reasons. The thresholds
come from a `DomainModel` fitted on the training split (ranges, PCA mean and covariance) and
the validation split (percentile thresholds, so that few in-domain stars are flagged).

Choice of bad bits (ours): a spectrum that cannot be read or carries an anomaly, or whose PCA
vector or reconstruction lies outside what the training spectra span, or whose prediction no
giant could have (`UNPHYSICAL_FACTOR` beyond the training labels), gives a prediction with no
support; parameters just outside the training range, low S/N, a prediction just outside the
training labels or a large dropout spread only warn, since the error model still widens the
quoted sigma for them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray


class Flag(enum.IntFlag):
    """Quality bits of a prediction; `describe` gives each bit's one-line meaning."""

    UNREADABLE = 1 << 0
    ANOMALY_OSCILLATION = 1 << 1
    ANOMALY_MISSING = 1 << 2
    ANOMALY_OUTLIER = 1 << 3
    ANOMALY_NEGATIVE = 1 << 4
    LOW_SNR = 1 << 5
    FAR_FROM_TRAINING = 1 << 6
    PARAMS_OUTSIDE_TRAINING = 1 << 7
    PREDICTION_OUT_OF_RANGE = 1 << 8
    LARGE_MC_SPREAD = 1 << 9
    POOR_RECONSTRUCTION = 1 << 10
    PREDICTION_UNPHYSICAL = 1 << 11
    PARAMS_UNKNOWN = 1 << 12
    NO_ERROR = 1 << 13


DESCRIPTIONS: dict[Flag, str] = {
    Flag.UNREADABLE: "spectrum could not be read or preprocessed; no prediction",
    Flag.ANOMALY_OSCILLATION: "spurious oscillation across the spectrum (anomaly detector)",
    Flag.ANOMALY_MISSING: "a stretch of flux is missing (anomaly detector)",
    Flag.ANOMALY_OUTLIER: "spikes or dips not shared by the population (anomaly detector)",
    Flag.ANOMALY_NEGATIVE: "a stretch of negative flux (anomaly detector)",
    Flag.LOW_SNR: "g-band S/N below the training set's lowest",
    Flag.FAR_FROM_TRAINING: "PCA vector beyond the validation percentile of Mahalanobis distance",
    Flag.PARAMS_OUTSIDE_TRAINING: "LAMOST Teff, log g or [Fe/H] outside the training set's range",
    Flag.PREDICTION_OUT_OF_RANGE: "predicted age or mass non-finite or outside the training labels",
    Flag.LARGE_MC_SPREAD: "relative MC-dropout spread beyond the validation percentile",
    Flag.POOR_RECONSTRUCTION: "PCA reconstruction chi2 (ivar units) beyond validation percentile",
    Flag.PREDICTION_UNPHYSICAL: "predicted age or mass non-finite or beyond 2x the training labels",
    Flag.PARAMS_UNKNOWN: "LAMOST Teff, log g or [Fe/H] unknown: parameter-domain check not made",
    Flag.NO_ERROR: "a prediction without a finite calibrated error (e.g. no S/N known)",
}

BAD_BITS = (
    Flag.UNREADABLE
    | Flag.ANOMALY_OSCILLATION
    | Flag.ANOMALY_MISSING
    | Flag.ANOMALY_OUTLIER
    | Flag.ANOMALY_NEGATIVE
    | Flag.FAR_FROM_TRAINING
    | Flag.POOR_RECONSTRUCTION
    | Flag.PREDICTION_UNPHYSICAL
    | Flag.NO_ERROR
)
UNUSABLE_BITS = (
    Flag.UNREADABLE
    | Flag.ANOMALY_OSCILLATION
    | Flag.ANOMALY_MISSING
    | Flag.ANOMALY_OUTLIER
    | Flag.ANOMALY_NEGATIVE
)
ANOMALY_BITS = {
    "oscillation": Flag.ANOMALY_OSCILLATION,
    "missing": Flag.ANOMALY_MISSING,
    "outlier": Flag.ANOMALY_OUTLIER,
    "negative": Flag.ANOMALY_NEGATIVE,
}
PARAM_NAMES = ("teff", "logg", "feh")
#: A prediction this factor beyond the training labels' range is not a number to use (ours): no
#: giant has such an age or mass; seen when a network's activations blow up.
UNPHYSICAL_FACTOR = 2.0


def describe(flag: int) -> list[str]:
    """Names of the bits set in ``flag``."""
    return [str(bit.name) for bit in Flag if int(flag) & bit]


def header_cards() -> list[tuple[str, int, str]]:
    """(keyword, value, comment) per bit, for FITS headers and the README."""
    return [
        (f"FLAG{b.value.bit_length() - 1:02d}", int(b), f"{b.name}: {DESCRIPTIONS[b]}")
        for b in Flag
    ]


@dataclass
class DomainModel:
    """What the training set spans, and the validation-fitted thresholds of the flags."""

    snr_min: float
    pca_mean: NDArray[np.float64]
    pca_precision: NDArray[np.float64]
    mahalanobis_max: float
    param_lo: NDArray[np.float64]  # teff, logg, feh
    param_hi: NDArray[np.float64]
    label_lo: NDArray[np.float64]  # age, mass
    label_hi: NDArray[np.float64]
    rel_mc_max: NDArray[np.float64]  # per label
    chi2_max: float | None = None
    percentile: float = 99.0
    extra: dict[str, Any] = field(default_factory=dict)

    def mahalanobis(self, features: ArrayLike) -> NDArray[np.float64]:
        """Mahalanobis distance of PCA vectors from the training mean (NaN rows stay NaN)."""
        d = np.asarray(features, dtype=float) - self.pca_mean
        return np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", d, self.pca_precision, d), 0.0))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DomainModel:
        """Inverse of `to_dict`."""
        arrays = {"pca_mean", "pca_precision", "param_lo", "param_hi", "label_lo", "label_hi",
                  "rel_mc_max"}  # fmt: skip
        kw = {k: (np.asarray(v, dtype=float) if k in arrays else v) for k, v in data.items()}
        return cls(**kw)


def reconstruction_chi2(
    pca: Any, fill: ArrayLike, flux: ArrayLike, ivar: ArrayLike
) -> NDArray[np.float64]:
    """Reduced chi2 (ivar units) of each spectrum against its PCA reconstruction.

    ``pca`` and ``fill`` are the saved bundle's (`spt.prep.features.load_pca`); pixels with
    ivar 0 do not count. A spectrum unlike all training spectra is poorly reconstructed.
    """
    flux = np.asarray(flux, dtype=np.float64)
    ivar = np.asarray(ivar, dtype=np.float64)
    good = (ivar > 0) & np.isfinite(flux)
    filled = np.where(good, flux, np.asarray(fill, dtype=np.float64)[None, :])
    recon = pca.inverse_transform(pca.transform(filled))
    chi = np.where(good, (filled - recon) ** 2 * ivar, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return chi.sum(axis=1) / good.sum(axis=1)


def _finite_range(values: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    with np.errstate(invalid="ignore"):
        return np.nanmin(values, axis=0), np.nanmax(values, axis=0)


def _rel_spread(mean: ArrayLike, std_mc: ArrayLike) -> NDArray[np.float64]:
    mean, std = np.asarray(mean, dtype=float), np.asarray(std_mc, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return std / np.abs(mean)


def outside(values: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> NDArray[np.bool_]:
    """Rows (n, k) with any column below ``lo`` or above ``hi`` (NaN is never outside)."""
    v = np.asarray(values, dtype=float)
    v = v.reshape(len(v), -1)
    with np.errstate(invalid="ignore"):
        return ((v < lo) | (v > hi)).any(axis=1)


def clean_params(params: ArrayLike) -> NDArray[np.float64]:
    """LAMOST parameters with the catalogue's no-value markers (-9999, 99) as NaN."""
    p = np.asarray(params, dtype=float).copy()
    p[(p <= -9990) | (np.abs(p - 99.0) < 1e-9)] = np.nan
    return p


def fit_domain_model(
    train_features: ArrayLike,
    train_snr: ArrayLike,
    train_params: ArrayLike,
    train_y: ArrayLike,
    val_features: ArrayLike,
    val_mean: ArrayLike,
    val_std_mc: ArrayLike,
    val_chi2: ArrayLike | None = None,
    percentile: float = 99.0,
    ridge: float = 1e-6,
) -> DomainModel:
    """Training ranges and PCA statistics; thresholds at ``percentile`` of the validation split.

    ``*_params`` are LAMOST (teff, logg, feh) (n, 3); ``val_chi2`` is `reconstruction_chi2` of
    the validation spectra (omit to switch POOR_RECONSTRUCTION off).
    """
    X = np.asarray(train_features, dtype=float)
    mu = X.mean(axis=0)
    cov = np.cov(X, rowvar=False) + ridge * np.eye(X.shape[1]) * np.trace(np.cov(X, rowvar=False))
    precision = np.linalg.inv(cov)
    plo, phi = _finite_range(clean_params(train_params))
    ylo, yhi = _finite_range(np.asarray(train_y, dtype=float))
    model = DomainModel(
        snr_min=float(np.nanmin(np.asarray(train_snr, dtype=float))),
        pca_mean=mu,
        pca_precision=precision,
        mahalanobis_max=np.inf,
        param_lo=plo,
        param_hi=phi,
        label_lo=ylo,
        label_hi=yhi,
        rel_mc_max=np.nanpercentile(_rel_spread(val_mean, val_std_mc), percentile, axis=0),
        percentile=percentile,
    )
    model.mahalanobis_max = float(np.nanpercentile(model.mahalanobis(val_features), percentile))
    if val_chi2 is not None:
        model.chi2_max = float(np.nanpercentile(np.asarray(val_chi2, dtype=float), percentile))
    return model


def _as_bool(values: ArrayLike | None, n: int, default: bool) -> NDArray[np.bool_]:
    if values is None:
        return np.full(n, default)
    s = pd.Series(np.asarray(values, dtype=object))
    return s.fillna(default).astype(bool).to_numpy()


def quality_flags(
    domain: DomainModel,
    n: int,
    *,
    readable: ArrayLike | None = None,
    anomalies: Mapping[str, ArrayLike] | pd.DataFrame | None = None,
    snr: ArrayLike | None = None,
    features: ArrayLike | None = None,
    params: ArrayLike | None = None,
    mean: ArrayLike | None = None,
    std_mc: ArrayLike | None = None,
    chi2: ArrayLike | None = None,
    sigma: ArrayLike | None = None,
) -> pd.DataFrame:
    """``flag``, ``flag_warn``, ``flag_bad`` for ``n`` stars from whatever is known of them.

    Each input is optional (its bits stay clear without it) and NaN means "not known" (no
    bit), except two checks that must not pass silently: a row of ``params`` (LAMOST teff,
    logg, feh; n × 3) with an unknown value gets PARAMS_UNKNOWN, and a finite prediction
    (``mean``) whose calibrated error (``sigma``, like ``mean``) is not finite gets NO_ERROR.
    ``anomalies`` maps oscillation/missing/outlier/negative to booleans (the preprocessing
    report's columns).
    """
    flag = np.zeros(n, dtype=np.int64)

    def mark(mask: NDArray[np.bool_], bit: Flag) -> None:
        if mask.shape != (n,):
            raise ValueError(f"{bit.name}: expected {n} values, got shape {mask.shape}")
        flag[mask] |= int(bit)

    mark(~_as_bool(readable, n, True), Flag.UNREADABLE)
    if anomalies is not None:
        for name, bit in ANOMALY_BITS.items():
            if name in anomalies:
                mark(_as_bool(np.asarray(anomalies[name]), n, False), bit)
    with np.errstate(invalid="ignore"):
        if snr is not None:
            mark(np.asarray(snr, dtype=float) < domain.snr_min, Flag.LOW_SNR)
        if features is not None:
            mark(domain.mahalanobis(features) > domain.mahalanobis_max, Flag.FAR_FROM_TRAINING)
        if chi2 is not None and domain.chi2_max is not None:
            mark(np.asarray(chi2, dtype=float) > domain.chi2_max, Flag.POOR_RECONSTRUCTION)
        if params is not None:
            p = clean_params(params).reshape(n, -1)
            mark(outside(p, domain.param_lo, domain.param_hi), Flag.PARAMS_OUTSIDE_TRAINING)
            mark(~np.isfinite(p).all(axis=1), Flag.PARAMS_UNKNOWN)
        if mean is not None:
            m = np.asarray(mean, dtype=float).reshape(n, -1)
            # A non-finite prediction of a usable spectrum (the network overflowed) is out of
            # range too; unusable spectra have NaN predictions by design and keep their bits.
            usable = (flag & int(UNUSABLE_BITS)) == 0
            blown = (~np.isfinite(m)).any(axis=1) & usable
            mark(blown | outside(m, domain.label_lo, domain.label_hi), Flag.PREDICTION_OUT_OF_RANGE)
            lo, hi = domain.label_lo / UNPHYSICAL_FACTOR, domain.label_hi * UNPHYSICAL_FACTOR
            mark(blown | outside(m, lo, hi), Flag.PREDICTION_UNPHYSICAL)
            if std_mc is not None:
                rel = _rel_spread(m, np.asarray(std_mc, dtype=float).reshape(n, -1))
                mark((rel > domain.rel_mc_max).any(axis=1), Flag.LARGE_MC_SPREAD)
            if sigma is not None:
                err = np.asarray(sigma, dtype=float).reshape(n, -1)
                mark(np.isfinite(m).all(axis=1) & ~np.isfinite(err).all(axis=1), Flag.NO_ERROR)
    return pd.DataFrame(
        {"flag": flag, "flag_warn": flag != 0, "flag_bad": (flag & int(BAD_BITS)) != 0}
    )
