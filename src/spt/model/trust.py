"""Per-star trust: the calibrated error model and the quality flags, fitted once after training.

Both are fitted on the training and validation splits
(`spt.model.uncertainty.fit_additive_error_model`, `spt.model.flags.fit_domain_model`) and
stored in the model file (``extra["trust"]``), so a model file alone gives every spectrum its
age, mass, per-star error and flags. MC dropout stays
the paper's uncertainty: ``*_err_mc`` is its spread alone; ``*_err`` is the calibrated error
against the true value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from spt.io.predictions import prediction_frame, split_labels
from spt.io.seismic import RED_CLUMP, RGB
from spt.model.flags import (
    DomainModel,
    clean_params,
    fit_domain_model,
    outside,
    quality_flags,
    reconstruction_chi2,
)
from spt.model.predict import PredictConfig, predict_mc
from spt.model.spt import SpectralTransformer
from spt.model.store import ModelFileError, read_extra
from spt.model.uncertainty import (
    DISTANCE_COVARIATE,
    ERROR_COVARIATES,
    FEH_COVARIATE,
    STATE_COVARIATE,
    ErrorModel,
    StateModel,
    fit_additive_error_model,
    fit_state_model,
    log_normal_interval,
)
from spt.prep.anomalies import ANOMALY_TYPES
from spt.prep.features import transform_spectra

TRUST_KEY = "trust"
#: LAMOST's own parameters of a spectrum, as the cross-match names them (matched.csv).
PARAM_COLUMNS = ("teff_lamost", "logg_lamost", "feh_lamost")
#: Neighbours of the distance (ours): enough that one odd training star does not make a hole.
DENSITY_NEIGHBOURS = 20


@dataclass(frozen=True)
class ParamDensity:
    """How far a star lies from the training set: the distance to its k-th nearest training
    star in LAMOST (Teff, log g, [Fe/H]), each standardised by the training spread.

    Where training stars are sparse (the edges of the training set, a population it barely
    holds) the model has seen few stars like this one and errs more; the error model takes
    the log of this distance as a covariate. A star without LAMOST parameters gets
    ``fallback`` (the calibration sample's median), i.e. no change. With ``clump`` (1 for a
    red-clump training star, 0 for a branch one, NaN unknown: in neither) the distance is
    counted among the training stars of each state and weighted by the star's clump
    probability: clump and branch giants of the same Teff, log g and [Fe/H] have different
    ages, so branch stars do not make a neighbourhood for a clump star
    (`predict.distance_by_state`).
    """

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    points: NDArray[np.float64]  # standardised training parameters (n, 3)
    k: int
    fallback: float = 0.0
    clump: NDArray[np.float64] | None = None  # (n,) 1 red clump, 0 branch, NaN unknown

    def log_distance(
        self,
        params: np.ndarray,
        in_reference: np.ndarray | None = None,
        p_clump: np.ndarray | None = None,
    ) -> NDArray[np.float64]:
        """log of the k-th neighbour distance per row of ``params`` (n, 3); rows marked in
        ``in_reference`` are training stars themselves and skip their own point. With
        ``clump`` and ``p_clump`` (n,): ``p log d_clump + (1 - p) log d_branch``."""
        x = (clean_params(params).reshape(-1, len(self.mean)) - self.mean) / self.scale
        out = np.full(len(x), self.fallback)
        known = np.isfinite(x).all(axis=1)
        if not known.any():
            return out
        own = np.zeros(len(x), bool) if in_reference is None else np.asarray(in_reference, bool)
        if self.clump is None or p_clump is None:
            out[known] = _log_kth(self.points, x[known], own[known], self.k)
            return out
        p = np.clip(np.asarray(p_clump, dtype=float)[known], 0.0, 1.0)
        d_clump = _log_kth(self.points[self.clump == 1.0], x[known], own[known], self.k)
        d_branch = _log_kth(self.points[self.clump == 0.0], x[known], own[known], self.k)
        out[known] = p * d_clump + (1 - p) * d_branch
        return out

    def feh_offset(self, params: np.ndarray) -> NDArray[np.float64]:
        """[Fe/H] (column 3 of ``params``) minus the training mean, in dex; 0 where unknown."""
        feh = clean_params(params).reshape(-1, len(self.mean))[:, 2] - self.mean[2]
        return np.where(np.isfinite(feh), feh, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        out = {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
               "points": self.points.tolist(), "k": self.k, "fallback": self.fallback}  # fmt: skip
        if self.clump is not None:
            out["clump"] = self.clump.tolist()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamDensity:
        """Inverse of `to_dict`."""
        arrays = {k: np.asarray(data[k], dtype=float) for k in ("mean", "scale", "points")}
        clump = None if data.get("clump") is None else np.asarray(data["clump"], dtype=float)
        return cls(**arrays, k=int(data["k"]), fallback=float(data["fallback"]), clump=clump)


def _log_kth(
    points: NDArray[np.float64], x: NDArray[np.float64], own: NDArray[np.bool_], k: int
) -> NDArray[np.float64]:
    """log distance from each row of ``x`` to its k-th nearest of ``points``; an ``own`` row
    whose nearest point is itself (distance 0: a training star) skips that point."""
    from sklearn.neighbors import NearestNeighbors

    dist = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(x)[0]
    kth = np.where(own & (dist[:, 0] == 0.0), dist[:, k], dist[:, k - 1])
    return np.log(np.maximum(kth, 1e-6))


def fit_param_density(
    params: np.ndarray,
    k: int = DENSITY_NEIGHBOURS,
    min_stars: int = 50,
    clump: np.ndarray | None = None,
) -> ParamDensity | None:
    """`ParamDensity` of the training stars' LAMOST parameters (rows with all three known);
    None when fewer than ``min_stars`` have them (no LAMOST parameters: no such covariate).
    ``clump`` (n,): 1 for a red-clump training star, 0 for a branch one, anything else unknown
    (e.g. a catalogue's unclassified stars: in neither state); kept when each state has more
    than k stars."""
    x = clean_params(params).reshape(len(params), -1)
    rows = np.isfinite(x).all(axis=1)
    x = x[rows]
    if len(x) < max(min_stars, k + 2):
        return None
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    state = None
    if clump is not None:
        state = np.asarray(clump, dtype=float)[rows]
        state = np.where(np.isin(state, (0.0, 1.0)), state, np.nan)
        if min((state == 1.0).sum(), (state == 0.0).sum()) <= k:
            state = None
    return ParamDensity(mean, scale, (x - mean) / scale, int(k), clump=state)


@dataclass(frozen=True)
class Trust:
    """The error model, the training domain and the red-clump classifier of one model."""

    errors: ErrorModel
    domain: DomainModel
    state: StateModel | None = None
    density: ParamDensity | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (torch.save / JSON safe)."""
        out = {"errors": self.errors.to_dict(), "domain": self.domain.to_dict()}
        if self.state is not None:
            out["state"] = self.state.to_dict()
        if self.density is not None:
            out["density"] = self.density.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trust:
        """Inverse of `to_dict`."""
        state = StateModel.from_dict(data["state"]) if data.get("state") else None
        density = ParamDensity.from_dict(data["density"]) if data.get("density") else None
        return cls(
            ErrorModel.from_dict(data["errors"]), DomainModel.from_dict(data["domain"]), state,
            density,
        )  # fmt: skip

    def covariates(
        self, features: np.ndarray, params: np.ndarray | None = None
    ) -> dict[str, np.ndarray] | None:
        """The error model's covariates of stars with these PCA vectors and LAMOST
        parameters (n, 3; NaN where unknown): P(red clump), the distance from the training
        set and [Fe/H], those the model was fitted with."""
        out = {}
        terms = self.errors.terms
        p_clump = None if self.state is None else self.state.probability(features)
        if p_clump is not None and STATE_COVARIATE in terms:
            out[STATE_COVARIATE] = p_clump
        if self.density is not None:
            n = len(features)
            known = np.full((n, len(PARAM_COLUMNS)), np.nan) if params is None else params
            if DISTANCE_COVARIATE in terms:
                out[DISTANCE_COVARIATE] = self.density.log_distance(known, p_clump=p_clump)
            if FEH_COVARIATE in terms:
                out[FEH_COVARIATE] = self.density.feh_offset(known)
        return out or None

    def clump_probability(
        self, features: np.ndarray, covariates: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray | None:
        """P(red clump) of stars with these PCA vectors: the error model's covariate when
        ``covariates`` (`covariates`' output) hold it, else the state model's; None without
        a state model."""
        if covariates and STATE_COVARIATE in covariates:
            return covariates[STATE_COVARIATE]
        return None if self.state is None else self.state.probability(features)


def star_info(obsid: NDArray[np.int64], table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """S/N (g band) and LAMOST (Teff, log g, [Fe/H]) of each obsid, from a matched/sample table;
    NaN where the table does not know it."""
    rows = table.drop_duplicates("obsid").set_index("obsid").reindex(np.asarray(obsid))
    params = [rows[c] if c in rows else pd.Series(np.nan, index=rows.index) for c in PARAM_COLUMNS]
    return rows["snrg"].to_numpy(float), np.column_stack([p.to_numpy(float) for p in params])


def fit_trust(
    model: SpectralTransformer,
    train: Mapping[str, np.ndarray],
    val: Mapping[str, np.ndarray],
    table: pd.DataFrame,
    val_spectra: Mapping[str, np.ndarray],
    pca_bundle: Mapping[str, Any],
    passes: int,
    seed: int,
    percentile: float,
    calibration: Mapping[str, np.ndarray] | None = None,
    covariates: Sequence[str] = ERROR_COVARIATES,
    distance_by_state: bool = PredictConfig.distance_by_state,
) -> Trust:
    """Fit the per-star error model and the domain of the quality flags.

    ``table`` gives each obsid's S/N, LAMOST parameters (`star_info`) and seismic ``phase``
    (for the red-clump classifier, fitted on the training split when the phases are known);
    ``val_spectra`` holds the validation spectra (``flux``, ``ivar``, rows in the split's
    order) for the PCA reconstruction chi2. ``covariates``: ``predict.error_covariates``
    (`ERROR_COVARIATES`); ``distance_by_state``: ``predict.distance_by_state``
    (`ParamDensity`, when the training phases are known).
    The error model is fitted on ``calibration`` (out-of-fold predictions,
    `spt.model.crossfit.OOF_KEYS`) when given, else on the model's validation predictions;
    stars predicted outside the training labels' range (flagged, `Flag.PREDICTION_OUT_OF_RANGE`)
    are left out of it: the quoted sigma describes the stars the flags let through.
    """
    mean, std_mc = predict_mc(model, val["X"], passes=passes, seed=seed, ids=val["obsid"])
    snr_train, params_train = star_info(train["obsid"], table)
    state, clump = None, None
    if "phase" in table:
        phase = table.drop_duplicates("obsid").set_index("obsid")["phase"]
        phase_train = pd.to_numeric(phase.reindex(train["obsid"]), errors="coerce").to_numpy()
        state = fit_state_model(train["X"], phase_train, seed)
        known = np.isin(phase_train, (RGB, RED_CLUMP))
        clump = np.where(known, (phase_train == RED_CLUMP).astype(float), np.nan)
    labels = split_labels(val)
    if calibration is None:
        calibration = {**val, "mean": mean, "std_mc": std_mc}
    density = fit_param_density(params_train, clump=clump if distance_by_state else None)
    density, errors = fit_calibrated_errors(
        calibration, train, table, state, density, labels, covariates
    )
    chi2 = reconstruction_chi2(
        pca_bundle["pca"], pca_bundle["fill"], val_spectra["flux"], val_spectra["ivar"]
    )
    domain = fit_domain_model(
        train["X"], snr_train, params_train, train["y"], val["X"], mean, std_mc, chi2, percentile
    )
    return Trust(errors, domain, state, density)


@dataclass(frozen=True)
class CalibrationSample:
    """What an error model is fitted on: the stars kept (`fit_calibrated_errors`), their S/N,
    covariates by name, and the density with its fallback set."""

    stars: dict[str, np.ndarray]
    snr: np.ndarray
    covariates: dict[str, np.ndarray]
    density: ParamDensity | None


def calibration_sample(
    sample: Mapping[str, np.ndarray],
    train: Mapping[str, np.ndarray],
    table: pd.DataFrame,
    state: StateModel | None,
    density: ParamDensity | None,
    covariates: Sequence[str] = ERROR_COVARIATES,
) -> CalibrationSample:
    """The stars of a calibration sample (X, y, y_err, obsid, mean, std_mc) predicted inside
    the training labels' range, with their S/N and the error-model ``covariates`` that the
    state model and density allow; the density's fallback becomes the sample's median log
    distance."""
    unknown = sorted(set(covariates) - set(ERROR_COVARIATES))
    if unknown:
        raise ValueError(
            f"unknown predict.error_covariates {unknown}; known: {list(ERROR_COVARIATES)}"
        )
    y_train = np.asarray(train["y"], dtype=float)
    keep = ~outside(sample["mean"], y_train.min(axis=0), y_train.max(axis=0))
    stars = {k: np.asarray(sample[k])[keep] for k in ("X", "y", "y_err", "obsid", "mean", "std_mc")}
    snr, params = star_info(stars["obsid"], table)
    out = {}
    p_clump = None if state is None else state.probability(stars["X"])
    if p_clump is not None and STATE_COVARIATE in covariates:
        out[STATE_COVARIATE] = p_clump
    if density is not None and DISTANCE_COVARIATE in covariates:
        missing = dataclasses.replace(density, fallback=np.nan)
        dist = missing.log_distance(params, np.isin(stars["obsid"], train["obsid"]), p_clump)
        density = dataclasses.replace(density, fallback=float(np.nanmedian(dist)))
        out[DISTANCE_COVARIATE] = np.where(np.isnan(dist), density.fallback, dist)
    if density is not None and FEH_COVARIATE in covariates:
        out[FEH_COVARIATE] = density.feh_offset(params)
    return CalibrationSample(stars, snr, out, density)


def fit_calibrated_errors(
    sample: Mapping[str, np.ndarray],
    train: Mapping[str, np.ndarray],
    table: pd.DataFrame,
    state: StateModel | None,
    density: ParamDensity | None,
    labels: tuple[str, ...],
    covariates: Sequence[str] = ERROR_COVARIATES,
) -> tuple[ParamDensity | None, ErrorModel]:
    """The error model fitted on a `calibration_sample` with these ``covariates``, and its
    density."""
    cal = calibration_sample(sample, train, table, state, density, covariates)
    s = cal.stars
    errors = fit_additive_error_model(
        s["mean"], s["std_mc"], cal.snr, s["y"], s["y_err"], labels, cal.covariates or None
    )
    return cal.density, errors


def load_trust(path: str | os.PathLike[str]) -> Trust:
    """The trust stored in a model file by rule ``trust_spt``; ModelFileError without one."""
    data = read_extra(path).get(TRUST_KEY)
    if data is None:
        raise ModelFileError(
            f"{path} holds no error model and flag domain (a trained-only file, or one from "
            "before they existed); rerun `snakemake --forcerun trust_spt`"
        )
    return Trust.from_dict(data)


def predict_trusted(
    model: SpectralTransformer,
    trust: Trust,
    flux: np.ndarray,
    ivar: np.ndarray,
    pca_bundle: Mapping[str, Any],
    snr: np.ndarray,
    params: np.ndarray,
    report: pd.DataFrame | None,
    passes: int,
    seed: int,
    ids: np.ndarray | None = None,
) -> pd.DataFrame:
    """Age, mass, calibrated and MC errors and quality flags of preprocessed spectra (``ids``:
    their obsids, which seed each spectrum's MC-dropout masks: `predict_mc`).

    One row per input row, in order; a spectrum that is unreadable or anomalous (``report``:
    ``ok`` and the four anomaly columns of `spt.prep.spectra.preprocess_files`) gets NaN
    predictions and its flag bits, never a silent drop. ``p_red_clump`` is the spectrum's
    red-clump probability (`StateModel`; NaN without one): what the error model reads, and a
    survey star's only evolutionary state. ``{label}_p16`` / ``_p84`` bound the true value's
    68.3 % interval (`log_normal_interval`). ``{label}_err_floor`` is the part of the error
    every spectrum of the star shares, the error model's floor (`spt.catalog.stars`).
    """
    n = len(flux)
    ok = np.ones(n, bool) if report is None else report["ok"].to_numpy(bool)
    anomalies = None
    if report is not None and all(c in report for c in ANOMALY_TYPES):
        anomalies = report[list(ANOMALY_TYPES)].fillna(False).astype(bool)
        usable = ok & ~anomalies.to_numpy().any(axis=1)
    else:
        usable = ok
    labels = trust.errors.labels
    k = len(labels)
    mean, std_mc, sigma, shared = (np.full((n, k), np.nan) for _ in range(4))
    features = np.full((n, len(trust.domain.pca_mean)), np.nan)
    chi2, p_clump = np.full(n, np.nan), np.full(n, np.nan)
    if usable.any():
        features[usable] = transform_spectra(pca_bundle, flux[usable], ivar[usable])
        mean[usable], std_mc[usable] = predict_mc(
            model, features[usable], passes, seed=seed, ids=None if ids is None else ids[usable]
        )
        covariates = trust.covariates(features[usable], params[usable])
        sigma[usable] = trust.errors.sigma(mean[usable], std_mc[usable], snr[usable], covariates)
        terms = trust.errors.variance_terms(mean[usable], std_mc[usable], snr[usable], covariates)
        shared[usable] = np.abs(mean[usable]) * np.sqrt(terms["floor"])
        chi2[usable] = reconstruction_chi2(
            pca_bundle["pca"], pca_bundle["fill"], flux[usable], ivar[usable]
        )
        clump = trust.clump_probability(features[usable], covariates)
        if clump is not None:
            p_clump[usable] = clump
    flags = quality_flags(
        trust.domain, n, readable=ok, anomalies=anomalies, snr=snr, features=features,
        params=params, mean=mean, std_mc=std_mc, chi2=chi2, sigma=sigma,
    )  # fmt: skip
    out = {}
    for j, label in enumerate(labels):
        out[label] = mean[:, j]
        out[f"{label}_err"] = sigma[:, j]
        out[f"{label}_err_mc"] = std_mc[:, j]
    for j, label in enumerate(labels):
        out[f"{label}_p16"], out[f"{label}_p84"] = log_normal_interval(mean[:, j], sigma[:, j])
        out[f"{label}_err_floor"] = shared[:, j]
    out[STATE_COVARIATE] = p_clump
    return pd.concat([pd.DataFrame(out), flags], axis=1)


def rows_of(spectra: Mapping[str, np.ndarray], obsid: np.ndarray) -> dict[str, np.ndarray]:
    """The ``flux`` and ``ivar`` rows of a spectra.npz for ``obsid``, in that order."""
    index = pd.Series(np.arange(len(spectra["obsid"])), index=spectra["obsid"])
    rows = index.reindex(np.asarray(obsid)).to_numpy()
    if np.isnan(rows.astype(float)).any():
        raise ValueError("some obsids of the split are not in the preprocessed spectra")
    return {k: spectra[k][rows.astype(np.int64)] for k in ("flux", "ivar")}


def predict_split(
    model: SpectralTransformer,
    trust: Trust,
    split: Mapping[str, np.ndarray],
    spectra: Mapping[str, np.ndarray],
    table: pd.DataFrame,
    pca_bundle: Mapping[str, Any],
    predict: Mapping[str, Any] | PredictConfig,
    seed: int,
) -> pd.DataFrame:
    """A feature split's predictions file: `spt.io.predictions.prediction_frame` with the
    per-star error, each star's red-clump probability (``p_red_clump``, when the trust has a
    state model: the catalogue's column, which the calibration table groups by) and the
    quality flags."""
    cfg = PredictConfig.from_mapping(predict)
    mean, std_mc = predict_mc(
        model, split["X"], passes=cfg.mc_passes, seed=seed, ids=split["obsid"]
    )
    snr, params = star_info(split["obsid"], table)
    covariates = trust.covariates(split["X"], params)
    sigma = trust.errors.sigma(mean, std_mc, snr, covariates)
    frame = prediction_frame(split, mean, sigma, std_mc)
    clump = trust.clump_probability(split["X"], covariates)
    if clump is not None:
        frame[STATE_COVARIATE] = clump
    own = rows_of(spectra, split["obsid"])
    chi2 = reconstruction_chi2(pca_bundle["pca"], pca_bundle["fill"], own["flux"], own["ivar"])
    flags = quality_flags(
        trust.domain, len(frame), snr=snr, features=split["X"], params=params, mean=mean,
        std_mc=std_mc, chi2=chi2, sigma=sigma,
    )  # fmt: skip
    return pd.concat([frame, flags], axis=1)
