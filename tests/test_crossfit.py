"""Cross-fitted calibration sample: folds, fold models trained for a fixed number of epochs, and
the error model fitted on their out-of-fold predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA

from spt.model import make_loss
from spt.model.crossfit import (
    OOF_KEYS,
    assign_folds,
    best_epoch,
    calibration_pool,
    fit_fold,
    fold_seed,
    load_out_of_fold,
    save_out_of_fold,
    validation_noise,
)
from spt.model.predict import predict
from spt.model.train import TrainConfig, train_model
from spt.model.trust import fit_calibrated_errors
from spt.model.uncertainty import fit_additive_error_model

torch.set_num_threads(1)


def _split(n: int, first: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    mass = 1.3 + 0.2 * np.tanh(X[:, 0]) + rng.normal(0, 0.02, n)
    age = 9.0 * mass**-2.5 * np.exp(0.05 * X[:, 1])
    y = np.c_[age, mass]
    return {"X": X, "y": y, "y_err": 0.1 * y, "obsid": np.arange(first, first + n)}


def test_folds_partition_the_stars_evenly_and_reproducibly() -> None:
    folds = assign_folds(103, 4, seed=5)
    assert sorted(np.bincount(folds)) == [25, 26, 26, 26]
    np.testing.assert_array_equal(folds, assign_folds(103, 4, seed=5))
    assert not np.array_equal(folds, assign_folds(103, 4, seed=6))
    # not dealt in input order: a sorted input must not give sorted folds
    assert not np.array_equal(folds, np.arange(103) % 4)
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(10, 1, seed=0)
    with pytest.raises(ValueError, match="cannot fill"):
        assign_folds(3, 4, seed=0)
    assert len({fold_seed(5, f) for f in range(4)} | {5}) == 5


def test_best_epoch_is_the_first_lowest_validation_loss() -> None:
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_loss": [0.9, 0.5, 0.5, 0.7]})
    assert best_epoch(history) == 2
    with pytest.raises(ValueError, match="empty"):
        best_epoch(history.iloc[:0])


def test_pool_joins_the_splits_and_needs_validation_noise_with_augmentation() -> None:
    train, val = _split(10, 0, 0), _split(4, 100, 1)
    pool = calibration_pool(train, val)
    np.testing.assert_array_equal(pool["obsid"], np.r_[train["obsid"], val["obsid"]])
    assert "X_noise" not in pool
    noisy = {**train, "X_noise": np.zeros((10, 3, 6), np.float32)}
    with pytest.raises(ValueError, match="noise draws"):
        calibration_pool(noisy, val)
    pool = calibration_pool(noisy, val, np.ones((4, 3, 6), np.float32))
    assert pool["X_noise"].shape == (14, 3, 6) and pool["X_noise"][10:].min() == 1


def test_validation_noise_follows_the_training_draws() -> None:
    rng = np.random.default_rng(0)
    pca = PCA(3, random_state=0).fit(rng.normal(size=(50, 20)))
    ivar = np.full((5, 20), 4.0)
    for projection in ("plain", "weighted"):
        bundle = {"pca": pca, "projection": projection}
        noise = validation_noise(bundle, ivar, np.zeros((9, 7, 3)), seed=1)
        assert noise.shape == (5, 7, 3)
        # unit-norm components, pixel sigma 0.5: each coefficient scatters by about 0.5
        assert 0.35 < noise.std() < 0.65
        np.testing.assert_array_equal(noise, validation_noise(bundle, ivar, noise, seed=1))


def test_stop_epoch_trains_that_long_and_keeps_the_last_weights(tmp_path: Path) -> None:
    train, val = _split(256, 0, 0), _split(64, 1000, 1)
    # a far too large learning rate would early-stop at patience 1; stop_epoch overrides it
    cfg = TrainConfig.tiny(epochs=8, patience=1, lr=0.3, scheduler="plateau", grad_clip=None)
    model, history = train_model(train["X"], train["y"], val["X"], val["y"], cfg,
                                 tmp_path / "c.pt", progress=False, stop_epoch=6)  # fmt: skip
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    loss = make_loss("mahalanobis", train["y"])
    got = float(loss(torch.as_tensor(predict(model, val["X"])), torch.as_tensor(val["y"])))
    assert got == pytest.approx(history["val_loss"].iloc[-1], rel=1e-5)
    with pytest.raises(ValueError, match="stop_epoch"):
        train_model(train["X"], train["y"], val["X"], val["y"], cfg, tmp_path / "d.pt",
                    progress=False, stop_epoch=9)  # fmt: skip


def test_fold_predicts_exactly_its_own_stars_reproducibly(tmp_path: Path) -> None:
    pool = calibration_pool(_split(240, 0, 0), _split(60, 1000, 1))
    folds = assign_folds(300, 3, seed=2)
    cfg = TrainConfig.tiny(epochs=4)
    parts = []
    for fold in range(3):
        oof = fit_fold(pool, folds, fold, cfg, 3, tmp_path / f"c{fold}.pt", passes=4, seed=2)
        assert set(oof) == set(OOF_KEYS)
        np.testing.assert_array_equal(oof["obsid"], pool["obsid"][folds == fold])
        np.testing.assert_array_equal(oof["y"], pool["y"][folds == fold])
        assert np.isfinite(oof["mean"]).all() and (oof["std_mc"] > 0).all()
        save_out_of_fold(tmp_path / f"f{fold}.npz", oof)
        parts.append(oof)
    again = fit_fold(pool, folds, 0, cfg, 3, tmp_path / "again.pt", passes=4, seed=2)
    np.testing.assert_array_equal(again["mean"], parts[0]["mean"])
    pooled = load_out_of_fold([tmp_path / f"f{f}.npz" for f in range(3)])
    assert sorted(pooled["obsid"].tolist()) == sorted(pool["obsid"].tolist())
    np.testing.assert_array_equal(pooled["mean"][: len(parts[0]["mean"])], parts[0]["mean"])
    np.savez(tmp_path / "bad.npz", obsid=np.arange(3))
    with pytest.raises(ValueError, match=r"bad\.npz: not an out-of-fold file"):
        load_out_of_fold([tmp_path / "bad.npz"])


def test_error_model_leaves_out_predictions_outside_the_training_labels() -> None:
    rng = np.random.default_rng(3)
    n = 400
    y = np.c_[rng.uniform(1, 10, n), rng.uniform(0.8, 2.5, n)]
    rel = np.where(rng.random(n) < 0.5, 0.1, 0.3)[:, None]
    mean = y * np.exp(rel * rng.standard_normal((n, 2)))
    sample = {"X": np.zeros((n, 2)), "y": y, "y_err": 0.05 * y, "obsid": np.arange(n),
              "mean": mean, "std_mc": 0.01 * mean}  # fmt: skip
    table = pd.DataFrame({"obsid": np.arange(n), "snrg": np.where(rel[:, 0] > 0.2, 10.0, 100.0)})
    train = {"y": y, "obsid": np.arange(n)}
    _, clean = fit_calibrated_errors(sample, train, table, None, None, ("age", "mass"))
    # two wild predictions (a fold model blowing up) far outside the labels do not change it
    wild = {**sample, "mean": mean.copy()}
    wild["mean"][:2] = [[1e20, 1e-8], [5e5, 0.1]]
    _, got = fit_calibrated_errors(wild, train, table, None, None, ("age", "mass"))
    inside = ((mean >= y.min(axis=0)) & (mean <= y.max(axis=0))).all(axis=1)
    inside[:2] = False
    assert 250 < inside.sum() < n - 2
    direct = fit_additive_error_model(mean[inside], 0.01 * mean[inside], table["snrg"][inside],
                                      y[inside], 0.05 * y[inside], ("age", "mass"))  # fmt: skip
    np.testing.assert_allclose(got.coef, direct.coef)
    snr = table["snrg"].to_numpy()
    sig_clean = clean.relative(mean, 0.01 * mean, snr)
    # the noise term carries the S/N dependence: low-S/N stars get about 3x the error
    ratio = np.median(sig_clean[snr < 50, 0]) / np.median(sig_clean[snr > 50, 0])
    assert 2.0 < ratio < 4.0
