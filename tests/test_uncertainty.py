"""Calibrated errors: the fractional error floor fitted on validation stars."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spt.io.predictions import prediction_frame
from spt.model import SpectralTransformer
from spt.model.predict import (
    calibrate_error_floor,
    calibrate_from_settings,
    predict_mc,
    predict_with_errors,
)
from spt.model.store import load_model, save_model
from spt.model.uncertainty import coverage, fit_error_floor, total_std
from spt.validation.evaluate import calibration


def relative_scatter(n: int = 20_000, rel: float = 0.2, seed: int = 0):
    rng = np.random.default_rng(seed)
    mean = rng.uniform(1.0, 10.0, n)
    y = mean * (1.0 + rel * rng.standard_normal(n))
    return mean, 0.01 * mean, y


def test_floor_restores_one_sigma_coverage() -> None:
    mean, std_mc, y = relative_scatter()
    assert coverage(y - mean, std_mc) < 0.1  # the spread alone covers almost nothing
    f = fit_error_floor(mean, std_mc, y)
    assert f == pytest.approx(math.sqrt(0.2**2 - 0.01**2), rel=0.03)
    assert coverage(y - mean, total_std(mean, std_mc, f)) == pytest.approx(0.6827, abs=0.002)
    f2 = fit_error_floor(mean, std_mc, y, target=0.954)
    assert f2 == pytest.approx(2 * 0.2, rel=0.05)  # 2 sigma of a normal


def test_label_errors_take_their_share() -> None:
    mean, std_mc, y = relative_scatter()
    f = fit_error_floor(mean, std_mc, y, y_err=0.12 * mean)
    assert f == pytest.approx(math.sqrt(0.2**2 - 0.12**2 - 0.01**2), rel=0.05)


def test_no_floor_when_already_covered() -> None:
    mean, _, y = relative_scatter()
    assert fit_error_floor(mean, 0.5 * mean, y) == 0.0
    with pytest.raises(ValueError, match="target coverage"):
        fit_error_floor(mean, 0.5 * mean, y, target=1.0)
    with pytest.raises(ValueError, match="no finite"):
        fit_error_floor([np.nan], [1.0], [1.0])


def test_model_calibration_is_stored_and_used(tmp_path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 10)).astype(np.float32)
    y = np.c_[np.exp(1.5 + 0.3 * X[:, 0]), 1.3 + 0.1 * X[:, 1]]
    y_noisy = y * (1.0 + 0.15 * rng.standard_normal(y.shape))
    torch.manual_seed(0)
    model = SpectralTransformer.tiny(10)
    model.set_data_stats(X, y)
    model.train()(torch.as_tensor(X))  # BatchNorm statistics
    model.eval()
    _, std0, mc0 = predict_with_errors(model, X, passes=8, seed=3)
    np.testing.assert_array_equal(std0, mc0)  # uncalibrated: the spread alone

    floors = calibrate_error_floor(model, X, y_noisy, passes=8, seed=3)
    assert np.all(floors > 0)
    np.testing.assert_allclose(model.err_floor.numpy(), floors)
    mean, std, std_mc = predict_with_errors(model, X, passes=8, seed=3)
    np.testing.assert_array_equal(mean, predict_mc(model, X, passes=8, seed=3)[0])
    np.testing.assert_allclose(std, np.hypot(std_mc, floors * np.abs(mean)))
    for j in range(2):
        assert coverage(y_noisy[:, j] - mean[:, j], std[:, j]) == pytest.approx(0.683, abs=0.01)

    save_model(tmp_path / "m.pt", model)
    loaded = load_model(tmp_path / "m.pt", device="cpu")
    np.testing.assert_array_equal(loaded.err_floor.numpy(), floors)

    split = {
        "y": y_noisy,
        "y_err": np.zeros_like(y),
        "obsid": np.arange(400),
        "kic": np.arange(400),
    }
    frame = prediction_frame(split, mean, std, std_mc)
    assert list(frame.columns[2:8]) == [
        "age",
        "age_err",
        "age_err_mc",
        "mass",
        "mass_err",
        "mass_err_mc",
    ]
    cal = calibration(frame).set_index(["label", "sigma"])
    assert (
        cal.loc[("age", "dropout"), "within_1sigma"]
        < cal.loc[("age", "prediction"), "within_1sigma"]
    )
    assert cal.loc[("mass", "prediction"), "within_1sigma"] == pytest.approx(0.683, abs=0.01)


def test_calibration_follows_the_config() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 10)).astype(np.float32)
    y = np.c_[np.exp(1.5 + 0.3 * X[:, 0]), 1.3 + 0.1 * X[:, 1]]
    val = {"X": X, "y": y * (1.0 + 0.2 * rng.standard_normal(y.shape)), "y_err": 0.05 * y}
    torch.manual_seed(0)
    model = SpectralTransformer.tiny(10)
    model.set_data_stats(X, y)
    model.eval()
    settings = {"calibrate": False, "mc_passes": 4, "coverage": 0.683}
    assert calibrate_from_settings(model, val, settings, seed=1) is None
    np.testing.assert_array_equal(model.err_floor.numpy(), 0.0)
    floors = calibrate_from_settings(model, val, {**settings, "calibrate": True}, seed=1)
    assert floors is not None and np.all(floors > 0)
    np.testing.assert_array_equal(model.err_floor.numpy(), floors)
