"""Seeded, stratified train/validation/test split and PCA fitted on the training spectra only.

Choices (the paper states neither): fractions 0.7 / 0.1 / 0.2, stratified on the joint
quantile bins of the labels (age and mass by default) so that every split spans the label
plane; the labels learnt are the config's ``features.labels`` (``[mass]`` or ``[age]`` for a
seismic table that lacks the other, ours; the paper learns both); masked pixels are
imputed with the training spectra's per-pixel median before PCA (the training split only, so no
information from validation or test reaches the features). The PCA is fitted on the imputed
training spectra; each spectrum's coefficients are then found by inverse-variance-weighted
least squares (``projection: weighted``, ours), so noisy and masked pixels weigh as little as
their noise says. For noise augmentation (ours), the
training split also carries ``noise_draws`` realisations of each spectrum's own noise (drawn
from its inverse variance) projected onto the components: SPT then sees in training how its
input varies with the noise, which a single noisy copy of each star never shows.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from spt.io.files import write_bytes
from spt.io.predictions import LABELS, check_labels
from spt.prep.spectra import load_spectra, write_npz

PathLike = str | os.PathLike[str]

#: Default split and PCA settings; `config.yaml` may override any key.
DEFAULTS: dict[str, Any] = {
    "fractions": [0.7, 0.1, 0.2],  # train, validation, test
    "n_components": 50,
    "n_bins": 4,  # quantile bins per label for the stratification (n_bins**2 strata)
    "labels": list(LABELS),  # labels to learn, in this order: [age, mass], [age] or [mass]
    "noise_draws": 8,  # noise realisations per training spectrum for augmentation (0: none)
    "projection": "weighted",  # weighted (inverse-variance least squares) | plain
}
PROJECTIONS = ("weighted", "plain")
#: Ridge added to the weighted normal matrices (weights are in units of the median pixel's).
WEIGHTED_RIDGE = 1e-6

SPLITS = ("train", "val", "test")
#: Sub-stream of the features seed for the augmentation noise (the split uses the seed itself).
NOISE_STREAM = 1


class FeatureConfigError(ValueError):
    """A split or PCA setting that cannot work with the data at hand; the message says why."""


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or np.any(f < 0) or f[0] <= 0 or not np.isclose(f.sum(), 1.0):
        raise FeatureConfigError(
            "fractions must be three non-negative numbers (train > 0) summing to 1, "
            f"got {fractions}"
        )
    return f


def _strata(labels: np.ndarray, n_bins: int) -> np.ndarray:
    """Joint quantile-bin id of each row; rows with a non-finite label form their own stratum."""
    labels = np.asarray(labels, dtype=np.float64).reshape(len(labels), -1)
    ids = np.zeros(len(labels), dtype=np.int64)
    finite = np.isfinite(labels).all(axis=1)
    for col in labels.T:
        if finite.sum() == 0:
            break
        edges = np.unique(np.quantile(col[finite], np.linspace(0, 1, n_bins + 1)[1:-1]))
        ids = ids * (n_bins + 1) + np.searchsorted(edges, np.where(finite, col, 0.0), side="right")
    ids[~finite] = -1
    return ids


def split_indices(
    n: int,
    labels: np.ndarray | None = None,
    fractions: Sequence[float] = DEFAULTS["fractions"],
    seed: int = 0,
    n_bins: int = DEFAULTS["n_bins"],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/val/test row indices (sorted), stratified on quantile bins of ``labels``.

    Each stratum is shuffled and cut at ``floor(cumsum(fractions) * size + u)`` with one random
    ``u`` in [0, 1) per stratum, so every stratum is split in proportion and no split is
    systematically short-changed by rounding.
    """
    f = _check_fractions(fractions)
    if n < 1:
        raise FeatureConfigError("cannot split an empty selection (n = 0)")
    strata = np.zeros(n, dtype=np.int64) if labels is None else _strata(labels, n_bins)
    if len(strata) != n:
        raise ValueError(f"labels have {len(strata)} rows, expected {n}")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), strata))  # strata in turn, shuffled inside each
    cum = np.cumsum(f)[:2]
    out: list[list[np.ndarray]] = [[], [], []]
    for stratum in np.unique(strata):
        members = order[strata[order] == stratum]
        cuts = np.minimum(
            np.floor(cum * members.size + rng.random()).astype(np.int64), members.size
        )
        for k, part in enumerate(np.split(members, cuts)):
            out[k].append(part)
    train, val, test = (np.sort(np.concatenate(parts)) for parts in out)
    if train.size == 0:
        raise FeatureConfigError(f"the training split is empty (n = {n}, fractions {list(f)})")
    return train, val, test


def fit_pca(X_train: np.ndarray, n_components: int, seed: int = 0) -> PCA:
    """PCA fitted on the training spectra; a clear error when that many components cannot exist."""
    n, p = X_train.shape
    if not 1 <= n_components <= min(n, p):
        raise FeatureConfigError(
            f"n_components = {n_components} is impossible with {n} training spectra of {p} "
            f"pixels: it must be between 1 and {min(n, p)} (lower pca n_components in the "
            "config, or select more stars)"
        )
    return PCA(n_components=n_components, random_state=seed).fit(X_train)


def apply_pca(pca: PCA, X: np.ndarray) -> np.ndarray:
    """Project spectra onto the fitted components (float32)."""
    if X.shape[0] == 0:
        return np.zeros((0, pca.n_components_), dtype=np.float32)
    return pca.transform(X).astype(np.float32)


def _pair_products(pca: PCA) -> tuple[np.ndarray, np.ndarray]:
    """Products P_k P_l per pixel for k <= l (upper triangle, rows) and their (k, l) indices."""
    P = pca.components_.astype(np.float64)
    iu = np.triu_indices(len(P))
    return (P[iu[0]] * P[iu[1]]).astype(np.float32), np.stack(iu)


def _weights(ivar: np.ndarray) -> np.ndarray:
    """Per-pixel weights: ivar over the spectrum's median usable ivar (scale-free; 0 masked)."""
    w = np.where(ivar > 0, ivar, 0.0).astype(np.float64)
    scale = np.array([np.median(row[row > 0]) if (row > 0).any() else 1.0 for row in w])
    return w / scale[:, None]


def _normal_matrices(pca: PCA, w: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """P diag(w_i) P^T (n, k, k) of each spectrum, plus the ridge, by one matrix product."""
    pairs, (i, j) = _pair_products(pca)
    k = pca.n_components_
    out = np.empty((len(w), k, k))
    for start in range(0, len(w), chunk):
        # float32 product (twice as fast; the sums of 10^3-10^4 terms keep ~6 digits)
        flat = w[start : start + chunk].astype(np.float32) @ pairs.T  # (n, k(k+1)/2)
        out[start : start + chunk, i, j] = flat
        out[start : start + chunk, j, i] = flat
    out += WEIGHTED_RIDGE * np.eye(k)
    return out


def weighted_projection(pca: PCA, X: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """PCA coefficients by inverse-variance-weighted least squares, per spectrum (float32).

    ``c = argmin sum_p ivar_p (x_p - mean_p - (c P)_p)^2``: noisy pixels (the blue end, sky
    lines) count as little as their noise allows and masked ones (ivar 0) not at all, where
    the plain projection weighs every pixel alike. Equal weights give the plain projection.
    """
    k = pca.n_components_
    if X.shape[0] == 0:
        return np.zeros((0, k), dtype=np.float32)
    w = _weights(ivar)
    rhs = ((X.astype(np.float64) - pca.mean_) * w) @ pca.components_.T.astype(np.float64)
    return np.linalg.solve(_normal_matrices(pca, w), rhs[..., None])[..., 0].astype(np.float32)


def impute_values(flux: np.ndarray, ivar: np.ndarray, fallback: float = 1.0) -> np.ndarray:
    """Per-pixel median of the usable pixels (ivar > 0) of these spectra; ``fallback`` if none."""
    masked = np.where(ivar > 0, flux, np.nan)
    with np.errstate(all="ignore"):
        fill = np.nanmedian(masked, axis=0) if len(flux) else np.full(flux.shape[1], np.nan)
    return np.where(np.isfinite(fill), fill, fallback).astype(np.float32)


def impute(flux: np.ndarray, ivar: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Replace unusable pixels (ivar = 0) by ``fill``."""
    return np.where(ivar > 0, flux, fill[None, :]).astype(np.float32)


def transform_spectra(bundle: Mapping[str, Any], flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """PCA coefficients of spectra with a saved bundle (`load_pca`): impute, then project as the
    bundle says (``projection``: weighted or plain; bundles from before the choice: plain)."""
    filled = impute(flux, ivar, bundle["fill"])
    if bundle.get("projection", "plain") == "weighted":
        return weighted_projection(bundle["pca"], filled, ivar)
    return apply_pca(bundle["pca"], filled)


def load_pca(path: PathLike) -> dict[str, Any]:
    """Read ``pca.joblib``: a dict with ``pca`` (sklearn PCA), ``fill``, ``wavelength`` and
    ``projection``."""
    return joblib.load(path)


def pca_to_arrays(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """A `load_pca` bundle as plain arrays and values (what a model file can carry, read back
    without unpickling code: `pca_from_arrays`)."""
    pca = bundle["pca"]
    arrays = {name: np.asarray(getattr(pca, name), dtype=np.float64)
              for name in ("components_", "mean_", "explained_variance_")}  # fmt: skip
    return {
        **arrays,
        "whiten": bool(pca.whiten),
        "fill": np.asarray(bundle["fill"], dtype=np.float64),
        "wavelength": np.asarray(bundle["wavelength"], dtype=np.float64),
        "projection": str(bundle.get("projection", "plain")),
    }


def pca_from_arrays(data: Mapping[str, Any]) -> dict[str, Any]:
    """The `load_pca` bundle back from `pca_to_arrays`: a fitted sklearn PCA with the same
    components, mean and variances, so transform and inverse_transform give the same numbers."""
    components = np.asarray(data["components_"], dtype=np.float64)
    pca = PCA(n_components=len(components), whiten=bool(data["whiten"]))
    pca.components_ = components
    pca.mean_ = np.asarray(data["mean_"], dtype=np.float64)
    pca.explained_variance_ = np.asarray(data["explained_variance_"], dtype=np.float64)
    pca.n_components_ = len(components)
    pca.n_features_in_ = components.shape[1]
    return {
        "pca": pca,
        "fill": np.asarray(data["fill"], dtype=np.float64),
        "wavelength": np.asarray(data["wavelength"], dtype=np.float64),
        "projection": str(data["projection"]),
    }


def _dump_joblib(obj: object, path: PathLike) -> None:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    write_bytes(path, buffer.getvalue())


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    return table[name].to_numpy(dtype=np.float32) if name in table else np.full(len(table), np.nan)


def projected_noise(
    pca: PCA,
    ivar: np.ndarray,
    draws: int,
    seed: int | Sequence[int],
    projection: str = DEFAULTS["projection"],
) -> np.ndarray:
    """``draws`` realisations (n, draws, k) of each spectrum's noise in PCA space (float32).

    Gaussian noise of variance 1/ivar on each usable pixel (none on masked ones), projected as
    the features are (``projection``, `PROJECTIONS`: `weighted_projection` or plain); both
    are linear, so adding one draw to a star's PCA vector gives a new noisy copy of that star.
    """
    out = np.zeros((len(ivar), draws, pca.n_components_), dtype=np.float32)
    if draws < 1 or len(ivar) == 0:
        return out
    rng = np.random.default_rng(seed)
    good = ivar > 0
    sd = np.where(good, 1.0 / np.sqrt(np.where(good, ivar, 1.0)), 0.0)
    P = pca.components_.astype(np.float64)
    weighted = projection == "weighted"
    w = _weights(ivar) if weighted else good.astype(np.float64)
    normal = _normal_matrices(pca, w) if weighted else None
    for d in range(draws):
        rhs = (rng.standard_normal(ivar.shape) * sd * w) @ P.T
        out[:, d] = rhs if normal is None else np.linalg.solve(normal, rhs[..., None])[..., 0]
    return out


def build_features(
    spectra_npz: PathLike,
    table: pd.DataFrame | PathLike,
    fractions: Sequence[float] = DEFAULTS["fractions"],
    n_components: int = DEFAULTS["n_components"],
    seed: int = 0,
    out_dir: PathLike = "features",
    n_bins: int = DEFAULTS["n_bins"],
    labels: Sequence[str] = LABELS,
    noise_draws: int = DEFAULTS["noise_draws"],
    projection: str = DEFAULTS["projection"],
) -> dict[str, Any]:
    """Split the selected stars, fit PCA on the training spectra and write the feature files.

    ``table`` lists the stars kept after all cuts (``obsid, kic``, the chosen ``labels`` and
    optionally their errors ``e_<label>``); their spectra are looked up in ``spectra_npz`` by
    obsid. Writes ``{train,val,test}.npz`` (``X`` float32 n x k, ``y`` and ``y_err`` float32
    n x len(labels) in the order of ``labels``, ``obsid`` and ``kic`` int64, ``labels`` the
    names of the y columns) and ``pca.joblib`` atomically and reproducibly; with
    ``noise_draws`` > 0 the training split also holds ``X_noise`` (n x noise_draws x k,
    `projected_noise`). ``projection`` (`PROJECTIONS`) is how spectra become coefficients
    (`transform_spectra`), kept in the bundle. Returns a summary (split sizes, explained variance).
    """
    if noise_draws < 0:
        raise FeatureConfigError(f"noise_draws must be 0 or more, got {noise_draws}")
    if projection not in PROJECTIONS:
        raise FeatureConfigError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
    chosen = check_labels(labels)
    if not isinstance(table, pd.DataFrame):
        table = pd.read_csv(table)
    missing = [c for c in ("obsid", "kic", *chosen) if c not in table.columns]
    if missing:
        raise KeyError(f"star table lacks column(s) {missing}")
    if len(table) == 0:
        raise FeatureConfigError(
            "no stars left after filtering: the selection is empty (check the anomaly and "
            "label-outlier cuts and the cross-match)"
        )
    if table["obsid"].duplicated().any():
        dup = table.loc[table["obsid"].duplicated(), "obsid"].tolist()[:5]
        raise ValueError(f"star table repeats obsid(s) {dup}")
    data = load_spectra(spectra_npz)
    row_of = pd.Series(np.arange(len(data["obsid"])), index=data["obsid"])
    absent = ~table["obsid"].isin(row_of.index)
    if absent.any():
        raise KeyError(
            f"{int(absent.sum())} selected obsid(s) have no spectrum in {spectra_npz}, "
            f"e.g. {table.loc[absent, 'obsid'].tolist()[:5]}"
        )
    rows = row_of.loc[table["obsid"].to_numpy()].to_numpy()
    flux, ivar = data["flux"][rows], data["ivar"][rows]
    unusable = ~np.isfinite(flux).all(axis=1) | ~(ivar > 0).any(axis=1)
    if unusable.any():
        raise ValueError(
            f"{int(unusable.sum())} selected spectra could not be preprocessed, e.g. obsid "
            f"{table['obsid'].to_numpy()[unusable][:5].tolist()}: drop them before the split"
        )
    y = np.column_stack([_column(table, label) for label in chosen])
    y_err = np.column_stack([_column(table, f"e_{label}") for label in chosen])
    parts = split_indices(len(table), y, fractions, seed, n_bins)
    train = parts[0]
    fill = impute_values(flux[train], ivar[train])
    pca = fit_pca(impute(flux[train], ivar[train], fill), n_components, seed)
    bundle = {"pca": pca, "fill": fill, "wavelength": data["wavelength"], "seed": seed,
              "projection": projection}  # fmt: skip
    out = Path(out_dir)
    obsid = table["obsid"].to_numpy(dtype=np.int64)
    kic = table["kic"].to_numpy(dtype=np.int64)
    for name, idx in zip(SPLITS, parts, strict=True):
        arrays = {
            "X": transform_spectra(bundle, flux[idx], ivar[idx]),
            "y": y[idx],
            "y_err": y_err[idx],
            "obsid": obsid[idx],
            "kic": kic[idx],
            "labels": np.array(chosen),
        }
        if name == "train" and noise_draws > 0:
            arrays["X_noise"] = projected_noise(
                pca, ivar[idx], noise_draws, (seed, NOISE_STREAM), projection
            )
        write_npz(out / f"{name}.npz", arrays)
    _dump_joblib(bundle, out / "pca.joblib")
    return {
        "n_train": int(parts[0].size),
        "n_val": int(parts[1].size),
        "n_test": int(parts[2].size),
        "n_components": int(n_components),
        "explained_variance": float(pca.explained_variance_ratio_.sum()),
    }
