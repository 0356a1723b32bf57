"""Baselines on synthetic data: beat the training mean, tune on validation only, determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from spt.baselines import (
    BASELINES,
    Baseline,
    BaselineConfigError,
    CannonModel,
    LabelScaler,
    attach_columns,
    default_params,
    make_baseline,
    mean_delta_p,
    predict_mean_baseline,
)
from spt.validation.metrics import delta_p

SPLIT_SIZES = {"train": 300, "val": 100, "test": 100}
N_PIXELS = 160
# Small settings so the whole file runs in well under a minute on two cores.
FAST: dict[str, dict[str, Any]] = {
    "mean": {},
    "ridge": {},
    "svr": {"grid": {"C": [1.0, 10.0], "gamma": ["scale", 0.05]}},
    "random_forest": {"n_estimators": 30, "grid": {"min_samples_leaf": [1, 5]}},
    "gradient_boosting": {
        "max_iter": 300,
        "n_iter_no_change": 10,
        "learning_rate": 0.1,
        "grid": {"max_leaf_nodes": [7, 15]},
    },
    "mlp": {
        "hidden": [32],
        "lr": 3e-3,
        "batch_size": 32,
        "epochs": 150,
        "patience": 15,
        "grid": {"weight_decay": [1e-4, 1e-2]},
    },
    "cnn1d": {
        "filters": [4, 8],
        "kernel_size": 5,
        "pool": 2,
        "dense": [32],
        "batch_size": 32,
        "epochs": 40,
        "patience": 8,
        "grid": {"lr": [3e-3]},
    },
    "cannon": {"ridge": 0.0, "grid": {"prior": [0.0, 10.0]}},
}
MODELS = [name for name in BASELINES if name != "mean"]


def synthetic(seed: int = 0) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Splits whose (age, mass) are smooth functions of PCA-like features and of a spectrum.

    The spectrum: a flat continuum with a few Gaussian lines whose depths depend on the labels.
    """
    rng = np.random.default_rng(seed)
    n = sum(SPLIT_SIZES.values())
    latent = rng.normal(size=(n, 2))
    mass = np.exp(0.25 + 0.2 * latent[:, 0])
    age = 9.0 * mass**-2.5 * np.exp(0.3 * latent[:, 1])
    X = np.column_stack(
        [
            latent + rng.normal(0, 0.05, (n, 2)),
            np.tanh(latent[:, 0] * latent[:, 1]),
            rng.normal(size=(n, 5)) * np.geomspace(0.5, 0.05, 5),
        ]
    ) * np.geomspace(3.0, 1.0, 8)
    pixels = np.arange(N_PIXELS)
    centres = np.linspace(10, N_PIXELS - 10, 6)
    zage = (np.log(age) - np.log(age).mean()) / np.log(age).std()
    zmass = (np.log(mass) - np.log(mass).mean()) / np.log(mass).std()
    a, b = rng.uniform(-0.08, 0.08, (2, len(centres)))
    depth = np.clip(0.35 + a * zage[:, None] + b * zmass[:, None], 0.02, 0.9)
    profiles = np.exp(-0.5 * ((pixels[None, :] - centres[:, None]) / 2.0) ** 2)
    flux = 1.0 - depth @ profiles + rng.normal(0, 0.01, (n, N_PIXELS))
    ivar = np.full_like(flux, 1e4)
    masked = rng.random(flux.shape) < 0.01
    flux[masked], ivar[masked] = 1.0, 0.0
    obsid = rng.permutation(np.arange(10_000, 10_000 + 3 * n))[:n].astype(np.int64)
    y = np.column_stack([age, mass]).astype(np.float32)
    splits, start = {}, 0
    for name, size in SPLIT_SIZES.items():
        rows = slice(start, start + size)
        start += size
        splits[name] = {
            "X": X[rows].astype(np.float32),
            "y": y[rows],
            "y_err": 0.05 * y[rows],
            "obsid": obsid[rows],
            "kic": obsid[rows] + 1,
        }
    order = rng.permutation(n)  # the spectra file is in its own order
    spectra = {
        "flux": flux[order].astype(np.float32),
        "ivar": ivar[order].astype(np.float32),
        "wavelength": 5000.0 + pixels.astype(np.float64),
        "obsid": obsid[order],
    }
    return splits, spectra


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    return synthetic()


def fit(name: str, data: Any, seed: int = 0) -> Baseline:
    splits, spectra = data
    return make_baseline(name, FAST[name], seed=seed, spectra=spectra).fit(
        splits["train"], splits["val"]
    )


@pytest.fixture(scope="module")
def fitted(data: Any) -> dict[str, tuple[Baseline, np.ndarray, np.ndarray | None]]:
    """Every baseline fitted once (seed 0) with its test predictions."""
    out = {}
    for name in BASELINES:
        model = fit(name, data)
        out[name] = (model, *model.predict(data[0]["test"]))
    return out


@pytest.mark.parametrize("name", MODELS)
def test_beats_training_mean(name: str, data: Any, fitted: Any) -> None:
    test = data[0]["test"]
    _, mean, std = fitted[name]
    floor, _ = predict_mean_baseline(data[0]["train"], test)
    assert mean.shape == test["y"].shape and np.all(np.isfinite(mean))
    if std is not None:
        assert std.shape == mean.shape and np.all(std >= 0)
    for j, label in enumerate(("age", "mass")):
        model, base = delta_p(mean[:, j], test["y"][:, j]), delta_p(floor[:, j], test["y"][:, j])
        assert model < 0.5 * base, f"{name} {label}: Delta_P {model:.2f} vs mean {base:.2f}"


def test_mean_baseline_is_the_training_mean(data: Any, fitted: Any) -> None:
    _, mean, std = fitted["mean"]
    assert std is None
    np.testing.assert_allclose(mean, np.broadcast_to(data[0]["train"]["y"].mean(0), mean.shape))


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_predictions(name: str, data: Any, fitted: Any) -> None:
    _, mean, std = fitted[name]
    again, again_std = fit(name, data, seed=0).predict(data[0]["test"])
    np.testing.assert_array_equal(again, mean)
    if std is not None:
        np.testing.assert_array_equal(again_std, std)


@pytest.mark.parametrize("name", ["random_forest", "mlp", "cnn1d"])
def test_seed_is_used(name: str, data: Any, fitted: Any) -> None:
    other, _ = fit(name, data, seed=1).predict(data[0]["test"])
    assert not np.array_equal(other, fitted[name][1])


@pytest.mark.parametrize("name", MODELS)
def test_predict_reads_no_labels(name: str, data: Any, fitted: Any) -> None:
    """Test labels are neither needed nor used: garbage or absent labels change nothing."""
    model, mean, _ = fitted[name]
    test = data[0]["test"]
    garbage = {**test, "y": np.full_like(test["y"], -1e6), "y_err": np.full_like(test["y"], 1e9)}
    np.testing.assert_array_equal(model.predict(garbage)[0], mean)
    unlabelled = {k: test[k] for k in ("X", "obsid", "kic")}
    np.testing.assert_array_equal(model.predict(unlabelled)[0], mean)


@pytest.mark.parametrize("name", MODELS)
def test_tuning_scores_are_validation_delta_p(name: str, data: Any, fitted: Any) -> None:
    """The selected grid point's recorded score is the refitted model's validation Delta_P."""
    model = fitted[name][0]
    val = data[0]["val"]
    pred = model.predict(val)[0]
    table = model.tuning
    n_points = max(1, int(np.prod([len(v) for v in model.grid.values()])))
    groups = table.groupby("labels")["val_delta_p"]
    assert groups.size().eq(n_points).all()
    for labels, best in groups.min().items():
        cols = [("age", "mass").index(lab) for lab in labels.split("+")]
        assert best == pytest.approx(mean_delta_p(pred[:, cols], val["y"][:, cols]), rel=1e-9)


def test_selection_follows_the_validation_split(data: Any) -> None:
    """Pure-noise validation labels make ridge choose its strongest regularisation."""
    splits, _ = data
    rng = np.random.default_rng(1)
    noisy_val = {**splits["val"], "y": rng.permutation(splits["val"]["y"])}
    grid = [0.01, 1.0, 1e6]
    chosen = []
    for val in (splits["val"], noisy_val):
        model = make_baseline("ridge", {"grid": {"alpha": grid}}).fit(splits["train"], val)
        chosen.append(model.tuning.loc[model.tuning["val_delta_p"].idxmin(), "alpha"])
    assert chosen[0] < 1e6 and chosen[1] == 1e6


def test_cannon_recovers_labels_of_its_own_model() -> None:
    """Noiseless spectra quadratic in (ln age, ln mass): the test step returns them to < 1 %."""
    rng = np.random.default_rng(3)
    n_train, n_test, n_pix = 200, 50, 300
    n = n_train + n_test
    mass = rng.uniform(0.9, 2.2, n)
    age = 9.0 * mass**-2.5 * np.exp(rng.uniform(-0.3, 0.3, n))
    la, lm = np.log(age) - 1.0, np.log(mass) - 0.3
    terms = np.column_stack([np.ones(n), la, lm, la**2, la * lm, lm**2])
    theta = rng.normal(0, 0.05, (6, n_pix)) * np.array([0, 1, 1, 0.3, 0.3, 0.3])[:, None]
    flux = 1.0 + terms @ theta
    obsid = np.arange(n, dtype=np.int64)
    spectra = {"flux": flux, "ivar": np.full_like(flux, 1e6), "obsid": obsid}
    y = np.column_stack([age, mass])

    def split(rows: slice) -> dict[str, np.ndarray]:
        return {"y": y[rows], "obsid": obsid[rows]}

    train, test = split(slice(0, n_train)), split(slice(n_train, n))
    model = make_baseline("cannon", {"ridge": 0.0, "prior": 0.0}, spectra=spectra)
    model.fit(train, train)
    pred, err = model.predict(test)
    assert np.max(np.abs(pred / test["y"] - 1)) < 0.01
    assert np.all(np.isfinite(err)) and np.all(err < 0.01 * pred)


def test_cannon_model_fits_pixels_exactly() -> None:
    """The vectorised training step recovers θ and a zero scatter from noiseless spectra."""
    rng = np.random.default_rng(4)
    labels = rng.normal(size=(120, 3))
    model = CannonModel(n_labels=3)
    theta = rng.normal(0, 0.1, (model.vectorise(labels).shape[1], 40))
    flux = model.vectorise(labels) @ theta
    ivar = np.full_like(flux, 1e4)
    ivar[rng.random(ivar.shape) < 0.05] = 0.0  # masked pixels carry no weight
    model.fit(labels, np.where(ivar > 0, flux, 1.0), ivar)
    np.testing.assert_allclose(model.theta_, theta, atol=1e-8)
    assert np.all(model.s2_ < 1e-10)


def test_cannon_extra_labels(data: Any) -> None:
    splits, spectra = data
    table = pd.DataFrame(
        {
            "obsid": np.concatenate([s["obsid"] for s in splits.values()]),
            "teff": np.linspace(4500, 5000, sum(SPLIT_SIZES.values())),
        }
    )
    params = {"extra_labels": ["teff"], "ridge": 0.0, "prior": 10.0}
    model = make_baseline("cannon", params, spectra=spectra)
    with pytest.raises(BaselineConfigError, match="teff"):
        model.fit(splits["train"], splits["val"])
    train = attach_columns(splits["train"], table, ["teff"])
    pred, _ = model.fit(train, splits["val"]).predict(splits["test"])
    assert pred.shape == (SPLIT_SIZES["test"], 2) and np.all(np.isfinite(pred))


def test_label_scaler_round_trip() -> None:
    y = np.array([[1.0, 0.9, -0.3], [10.0, 2.0, 0.2], [3.0, 1.2, 0.0]])
    scaler = LabelScaler([True, True, False]).fit(y)
    z = scaler.transform(y)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(scaler.inverse(z), y)
    with pytest.raises(ValueError, match="positive"):
        scaler.transform(-y)


def test_errors_are_clear(data: Any) -> None:
    splits, spectra = data
    with pytest.raises(BaselineConfigError, match="unknown baseline 'xgboost'"):
        make_baseline("xgboost", {})
    with pytest.raises(BaselineConfigError, match=r"unknown parameter\(s\) \['alhpa'\]"):
        make_baseline("ridge", {"alhpa": 1.0})
    with pytest.raises(BaselineConfigError, match="untunable or unknown"):
        make_baseline("ridge", {"grid": {"threads": [1, 2]}})
    with pytest.raises(BaselineConfigError, match="both as a value and a grid"):
        make_baseline("ridge", {"alpha": 1.0, "grid": {"alpha": [1.0]}})
    with pytest.raises(BaselineConfigError, match="non-empty list"):
        make_baseline("ridge", {"grid": {"alpha": []}})
    with pytest.raises(BaselineConfigError, match="needs the full spectra"):
        make_baseline("cnn1d", {})
    with pytest.raises(RuntimeError, match="fit before predict"):
        make_baseline("ridge", {}).predict(splits["test"])
    model = make_baseline("cannon", {"ridge": 0.0, "prior": 0.0}, spectra=spectra)
    stranger = {**splits["test"], "obsid": splits["test"]["obsid"] + 10**9}
    with pytest.raises(KeyError, match="not in the spectra"):
        model.fit(splits["train"], stranger)


def test_default_params_are_accepted() -> None:
    for name, params in default_params().items():
        model = make_baseline(name, params, spectra={"flux": [], "ivar": [], "obsid": []})
        assert model.grid == BASELINES[name].default_grid


def test_fixed_value_replaces_default_grid() -> None:
    model = make_baseline("ridge", {"alpha": 5.0})
    assert model.grid == {} and model.params["alpha"] == 5.0
    model = make_baseline("svr", {"grid": {"C": [2.0]}})
    assert model.grid["C"] == [2.0] and "gamma" in model.grid


def _one_label(split: dict[str, np.ndarray], label: str) -> dict[str, np.ndarray]:
    """The split as `build_features` writes it for ``features.labels: [label]``."""
    j = ("age", "mass").index(label)
    return {**split, "y": split["y"][:, [j]], "y_err": split["y_err"][:, [j]],
            "labels": np.array([label])}  # fmt: skip


@pytest.mark.parametrize("label", ["mass", "age"])
def test_per_label_model_on_one_label_is_that_label_of_two(
    label: str, data: Any, fitted: Any
) -> None:
    """Per-label tuning: a one-label gradient boosting equals the two-label one's column."""
    splits, spectra = data
    one = {k: _one_label(v, label) for k, v in splits.items()}
    model = make_baseline("gradient_boosting", FAST["gradient_boosting"], spectra=spectra)
    mean = model.fit(one["train"], one["val"]).predict(one["test"])[0]
    j = ("age", "mass").index(label)
    assert mean.shape == (SPLIT_SIZES["test"], 1)
    np.testing.assert_allclose(mean[:, 0], fitted["gradient_boosting"][1][:, j], rtol=1e-12)
    assert set(model.tuning["labels"]) == {label}


@pytest.mark.parametrize("name", ["mean", "ridge", "mlp", "cannon"])
def test_joint_models_fit_one_label(name: str, data: Any) -> None:
    """Models of all labels at once predict (n, 1) for mass alone and beat the training mean."""
    splits, spectra = data
    one = {k: _one_label(v, "mass") for k, v in splits.items()}
    model = make_baseline(name, FAST[name], spectra=spectra).fit(one["train"], one["val"])
    mean, std = model.predict(one["test"])
    assert mean.shape == (SPLIT_SIZES["test"], 1)
    assert std is None or std.shape == mean.shape
    truth = one["test"]["y"][:, 0]
    floor = delta_p(np.full_like(truth, one["train"]["y"].mean()), truth)
    if name == "mean":
        np.testing.assert_allclose(mean[:, 0], one["train"]["y"].mean(), rtol=1e-6)
    else:
        assert delta_p(mean[:, 0], truth) < 0.8 * floor
        assert set(model.tuning["labels"]) == {"mass"}
