"""Cross-fitted calibration sample: out-of-fold predictions of the labelled stars outside the test
split, so that the per-star error model is fitted on many stars instead of the validation split.

Why: the error model (`spt.model.uncertainty`) deconvolves the catalogue labels' own errors,
which on Kepler giants are as large as the model's (about 19 % in age). Its variance is then a
small difference of two large ones, and on the 10 % validation split alone (386 stars in the
default run) it came out 25 % low in age. K fold models, each trained like the main one (same
settings and schedule, a seed of its own, as many epochs as the main one kept) on the training
and validation stars outside its fold, predict their fold with MC dropout; the pooled predictions
give every one of those stars an out-of-sample residual. A fold model sees (K-1)/K of them,
slightly fewer than the main model's training split, so the errors it shows err on the safe side.
The PCA and the noise augmentation are the main model's (the PCA is unsupervised).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spt.model.predict import predict_mc
from spt.model.train import TrainConfig, train_model
from spt.prep.features import NOISE_STREAM, projected_noise
from spt.prep.spectra import write_npz

#: Sub-stream of the master seed for the fold assignment and the fold models' seeds.
FOLD_STREAM = 7
#: Keys of an out-of-fold file (`fit_fold`), one row per star of the fold.
OOF_KEYS = ("obsid", "X", "y", "y_err", "mean", "std_mc")


def assign_folds(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..n_folds-1) of each of ``n`` stars: a seeded shuffle dealt out in turn,
    so the folds differ in size by at most one star."""
    if n_folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {n_folds}")
    if n < n_folds:
        raise ValueError(f"{n} stars cannot fill {n_folds} folds")
    order = np.random.default_rng([seed, FOLD_STREAM]).permutation(n)
    folds = np.empty(n, dtype=np.int64)
    folds[order] = np.arange(n) % n_folds
    return folds


def fold_seed(seed: int, fold: int) -> int:
    """Training seed of fold model ``fold``, derived from the master seed."""
    return int(np.random.default_rng([seed, FOLD_STREAM, fold + 1]).integers(2**31 - 1))


def calibration_pool(
    train: Mapping[str, np.ndarray],
    val: Mapping[str, np.ndarray],
    val_noise: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The training and validation stars as one set (X, y, y_err, obsid, and X_noise when the
    training split has noise draws: then ``val_noise`` gives the validation stars' own)."""
    pool = {k: np.concatenate([train[k], val[k]]) for k in ("X", "y", "y_err", "obsid")}
    if "X_noise" in train:
        if val_noise is None or val_noise.shape[1:] != train["X_noise"].shape[1:]:
            raise ValueError(
                "the training split has noise draws: pass the validation stars' own "
                f"(n_val, {train['X_noise'].shape[1]}, {train['X_noise'].shape[2]})"
            )
        pool["X_noise"] = np.concatenate([train["X_noise"], val_noise])
    return pool


def validation_noise(
    bundle: Mapping[str, Any], ivar: np.ndarray, train_noise: np.ndarray, seed: int
) -> np.ndarray:
    """Noise draws of the validation spectra (``ivar``) like the training split's
    (``train_noise``: as many draws, same projection), from their own seed stream."""
    projection = bundle.get("projection", "plain")
    draws = train_noise.shape[1]
    return projected_noise(
        bundle["pca"], ivar, draws, (seed, NOISE_STREAM, FOLD_STREAM), projection
    )


def best_epoch(history: pd.DataFrame) -> int:
    """The epoch a training history kept: that of its lowest validation loss (the first one)."""
    if history.empty:
        raise ValueError("the training history is empty")
    return int(history.loc[history["val_loss"].idxmin(), "epoch"])


def fit_fold(
    pool: Mapping[str, np.ndarray],
    folds: np.ndarray,
    fold: int,
    cfg: TrainConfig,
    stop_epoch: int,
    checkpoint_path: str | os.PathLike[str],
    passes: int,
    seed: int,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Train fold model ``fold`` on the pool's other folds for ``stop_epoch`` epochs (seed
    `fold_seed`) and predict its own fold with ``passes`` MC-dropout passes (`OOF_KEYS`)."""
    held = np.asarray(folds) == fold
    if not held.any() or held.all():
        raise ValueError(f"fold {fold} is empty or holds every star")
    noise = pool.get("X_noise")
    cfg = TrainConfig.from_dict({**cfg.to_dict(), "seed": fold_seed(seed, fold)})
    model, _ = train_model(
        pool["X"][~held], pool["y"][~held], pool["X"][held], pool["y"][held], cfg,
        checkpoint_path, progress=progress, stop_epoch=stop_epoch,
        X_noise=None if noise is None else noise[~held],
    )  # fmt: skip
    mean, std_mc = predict_mc(
        model, pool["X"][held], passes=passes, seed=seed, ids=pool["obsid"][held]
    )
    out = {k: np.asarray(pool[k])[held] for k in ("obsid", "X", "y", "y_err")}
    return {**out, "mean": mean, "std_mc": std_mc}


def save_out_of_fold(path: str | os.PathLike[str], oof: Mapping[str, np.ndarray]) -> None:
    """Write one fold's out-of-fold predictions (atomically)."""
    write_npz(path, {k: oof[k] for k in OOF_KEYS})


def load_out_of_fold(paths: Sequence[str | os.PathLike[str]]) -> dict[str, np.ndarray]:
    """The out-of-fold predictions of every fold, pooled (rows in the order of ``paths``)."""
    if not paths:
        raise ValueError("no out-of-fold file given")
    parts = []
    for path in paths:
        with np.load(path) as data:
            missing = [k for k in OOF_KEYS if k not in data.files]
            if missing:
                raise ValueError(f"{path}: not an out-of-fold file (no {', '.join(missing)})")
            parts.append({k: data[k] for k in OOF_KEYS})
    return {k: np.concatenate([p[k] for p in parts]) for k in OOF_KEYS}
