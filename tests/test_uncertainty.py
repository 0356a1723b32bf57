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
from spt.model.uncertainty import (
    ErrorModel,
    StateModel,
    coverage,
    coverage_table,
    fit_additive_error_model,
    fit_error_floor,
    fit_error_model,
    fit_state_model,
    load_error_model,
    log_normal_interval,
    save_error_model,
    total_std,
)
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


# --------------------------------------------------------------------------- per-star error model
def heteroscedastic(n: int = 20_000, seed: int = 0, label_err: float = 0.08):
    """Stars whose true relative error is 0.15 * (50 / snr)**0.5, labels with errors on top."""
    rng = np.random.default_rng(seed)
    snr = 10 ** rng.uniform(np.log10(8), np.log10(300), n)
    truth = rng.uniform(1.0, 10.0, (n, 2))
    rel = 0.15 * np.sqrt(50.0 / snr)
    mean = truth * np.exp(rel[:, None] * rng.standard_normal((n, 2)))
    std_mc = 0.02 * mean
    y = truth * np.exp(label_err * rng.standard_normal((n, 2)))
    return mean, std_mc, snr, truth, y, label_err * y, rel


def test_error_model_recovers_the_snr_law_and_deconvolves_label_errors() -> None:
    mean, std_mc, snr, truth, y, y_err, rel = heteroscedastic()
    em = fit_error_model(mean, std_mc, snr, y, y_err, ridge=0.0)
    assert em.terms == ("const", "log_snr", "log_rel_mc")
    # variance ∝ 1/snr: slope -1 on log S/N; the MC spread carries no information here
    np.testing.assert_allclose(em.coef[:, 1], -1.0, atol=0.05)
    np.testing.assert_allclose(em.coef[:, 2], 0.0, atol=0.2)
    rel_fit = em.relative(mean, std_mc, snr)
    # against the TRUE value the fitted relative error is the injected one (not inflated by
    # the 8 % label errors, which would give sqrt(rel**2 + 0.08**2))
    np.testing.assert_allclose(np.median(rel_fit[:, 0] / rel), 1.0, atol=0.05)
    sigma = em.sigma(mean, std_mc, snr)
    q = np.quantile(snr, [0.25, 0.5, 0.75])
    bins = np.digitize(snr, q)
    for b in range(4):
        sel = bins == b
        assert coverage(truth[sel, 0] - mean[sel, 0], sigma[sel, 0]) == pytest.approx(
            0.683, abs=0.03
        )
    # The constant floor over-covers high S/N and under-covers low S/N.
    f = fit_error_floor(mean[:, 0], std_mc[:, 0], y[:, 0], y_err[:, 0])
    flat = total_std(mean[:, 0], std_mc[:, 0], f)
    low, high = bins == 0, bins == 3
    assert coverage(truth[low, 0] - mean[low, 0], flat[low]) < 0.6
    assert coverage(truth[high, 0] - mean[high, 0], flat[high]) > 0.8


def test_error_model_scale_gives_target_coverage_of_labels_with_errors() -> None:
    mean, std_mc, snr, truth, y, y_err, _ = heteroscedastic(5000, seed=3)
    em = fit_error_model(mean, std_mc, snr, y, y_err, scale_method="coverage")
    sigma = em.sigma(mean, std_mc, snr)
    for j in range(2):
        assert coverage(y[:, j] - mean[:, j], np.hypot(sigma[:, j], y_err[:, j])) == (
            pytest.approx(0.683, abs=0.005)
        )
    assert np.all(sigma >= std_mc)
    # The default keeps the likelihood's variance: scale 1, coverage of the truth near 68.3 %.
    em_l = fit_error_model(mean, std_mc, snr, y, y_err)
    np.testing.assert_array_equal(em_l.scale, 1.0)
    np.testing.assert_allclose(em_l.coef[:, 0], em.coef[:, 0])
    sig_l = em_l.sigma(mean, std_mc, snr)
    assert coverage(truth[:, 0] - mean[:, 0], sig_l[:, 0]) == pytest.approx(0.683, abs=0.02)
    with pytest.raises(ValueError, match="scale_method"):
        fit_error_model(mean, std_mc, snr, y, y_err, scale_method="other")


def test_error_model_round_trips_and_uses_distance(tmp_path) -> None:
    rng = np.random.default_rng(5)
    n = 8000
    dist = rng.uniform(0, 4, n)
    mean = rng.uniform(1, 5, (n, 2))
    rel = 0.1 * np.sqrt(1 + dist**2)
    y = mean * np.exp(rel[:, None] * rng.standard_normal((n, 2)))
    snr = np.full(n, 50.0)
    em = fit_error_model(mean, 0.01 * mean, snr, y, distance=dist, ridge=0.0)
    assert em.terms[-1] == "log1p_dist2"
    np.testing.assert_allclose(em.coef[:, 3], 1.0, atol=0.1)
    with pytest.raises(ValueError, match="distance"):
        em.sigma(mean, 0.01 * mean, snr)
    save_error_model(tmp_path / "em.json", em)
    back = load_error_model(tmp_path / "em.json")
    np.testing.assert_array_equal(
        back.sigma(mean, 0.01 * mean, snr, dist), em.sigma(mean, 0.01 * mean, snr, dist)
    )
    assert back.to_dict() == em.to_dict()


def test_coverage_table_counts() -> None:
    res = np.array([0.5, 1.5, 2.5, 0.1])
    table = coverage_table(res, np.ones(4), {"all": np.ones(4, bool), "first": [1, 0, 0, 0]})
    assert table["all"] == (4, 0.5, 0.75)
    assert table["first"] == (1, 1.0, 1.0)


def test_log_normal_interval_holds_68_percent_of_log_normal_errors() -> None:
    # errors of relative size 0.5: mean -+ sigma would hold 70.9 % and reach 0.5 * mean;
    # the interval holds 68.3 % (binomial s.e. 0.33 % over 20,000 stars) and stays positive
    rng = np.random.default_rng(3)
    mean = rng.uniform(1.0, 10.0, 20_000)
    truth = mean * np.exp(0.5 * rng.standard_normal(mean.size))
    lo, hi = log_normal_interval(mean, 0.5 * mean)
    inside = np.mean((truth >= lo) & (truth <= hi))
    assert abs(inside - 0.6827) < 0.01
    assert abs(coverage(truth - mean, 0.5 * mean) - 0.709) < 0.01  # the symmetric one
    np.testing.assert_allclose(lo[:2] * hi[:2], mean[:2] ** 2)  # geometric mean: the prediction
    np.testing.assert_allclose(hi[:2] / mean[:2], np.exp(0.5))
    nan_lo, nan_hi = log_normal_interval([np.nan, 2.0], [np.nan, 0.0])
    assert np.isnan(nan_lo[0]) and np.isnan(nan_hi[0]) and nan_lo[1] == nan_hi[1] == 2.0


def test_error_model_covariates_are_named_terms() -> None:
    rng = np.random.default_rng(8)
    n = 8000
    logg = rng.uniform(1.5, 3.5, n)
    mean = rng.uniform(1, 5, (n, 2))
    rel = 0.1 * np.exp(0.5 * 0.8 * (logg - 2.5))  # log-variance slope 0.8 per dex of log g
    y = mean * np.exp(rel[:, None] * rng.standard_normal((n, 2)))
    snr = np.full(n, 50.0)
    em = fit_error_model(mean, 0.01 * mean, snr, y, covariates={"logg": logg}, ridge=0.0)
    assert em.terms == ("const", "log_snr", "log_rel_mc", "logg")
    np.testing.assert_allclose(em.coef[:, 3], 0.8, atol=0.08)
    with pytest.raises(ValueError, match="logg"):
        em.sigma(mean, 0.01 * mean, snr)
    with pytest.raises(ValueError, match="reserved"):
        fit_error_model(mean, 0.01 * mean, snr, y, covariates={"log_snr": logg})
    back = ErrorModel.from_dict(em.to_dict())
    np.testing.assert_array_equal(
        back.sigma(mean, 0.01 * mean, snr, covariates={"logg": logg}),
        em.sigma(mean, 0.01 * mean, snr, covariates={"logg": logg}),
    )


def _additive_survey(n: int, rng: np.random.Generator, rc_factor: float = 1.0):
    """Predictions whose log error has variance 0.02 + 30 / SNR^2 (x rc_factor for the clump),
    against labels with 10 % errors of their own."""
    snr = np.exp(rng.uniform(np.log(8), np.log(200), n))
    rc = rng.random(n) < 0.3
    var = (0.02 + 30.0 / snr**2) * np.where(rc, rc_factor, 1.0)
    truth = rng.uniform(1, 10, (n, 2))
    mean = truth * np.exp(np.sqrt(var)[:, None] * rng.standard_normal((n, 2)))
    y = truth * np.exp(0.1 * rng.standard_normal((n, 2)))
    return mean, 0.01 * mean, snr, y, 0.1 * y, truth, rc.astype(float)


def test_additive_error_model_recovers_floor_and_noise_term_with_labels_deconvolved() -> None:
    rng = np.random.default_rng(21)
    mean, std_mc, snr, y, y_err, truth, _ = _additive_survey(20000, rng)
    em = fit_additive_error_model(mean, std_mc, snr, y, y_err)
    assert em.kind == "additive" and em.terms == ("floor", "inv_snr2", "rel_mc2")
    np.testing.assert_allclose(np.exp(em.coef[:, 0]), 0.02, rtol=0.15)  # floor
    np.testing.assert_allclose(np.exp(em.coef[:, 1]), 30.0, rtol=0.15)  # noise term
    # sigma is the error against the truth: 68 % within 1 sigma at low and at high S/N alike
    sigma = em.sigma(mean, std_mc, snr)
    for part in (snr < 20, snr > 80):
        z = np.abs(mean[part] - truth[part]) / sigma[part]
        assert np.mean(z <= 1) == pytest.approx(0.683, abs=0.03)
    # without deconvolution the labels' variance (0.1^2) would be put into the floor
    naive = fit_additive_error_model(mean, std_mc, snr, y)
    assert np.exp(naive.coef[0, 0]) == pytest.approx(0.02 + 0.01, rel=0.15)


def test_additive_error_model_scales_by_a_named_covariate_and_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(22)
    mean, std_mc, snr, y, y_err, _, rc = _additive_survey(20000, rng, rc_factor=0.5)
    em = fit_additive_error_model(mean, std_mc, snr, y, y_err, covariates={"p_rc": rc})
    assert em.terms[-1] == "p_rc"
    np.testing.assert_allclose(em.coef[:, -1], np.log(0.5), atol=0.1)
    # the terms, each scaled by the covariate, add up to the variance; the noise term is
    # 30 / SNR^2 (halved in the clump), the floor 0.02
    parts = em.variance_terms(mean, std_mc, snr, {"p_rc": rc})
    total = em.relative(mean, std_mc, snr, covariates={"p_rc": rc}) ** 2
    np.testing.assert_allclose(sum(parts.values()), total)
    np.testing.assert_allclose(parts["inv_snr2"][:, 0] * snr**2 / np.where(rc > 0, 0.5, 1.0),
                               30.0, rtol=0.2)  # fmt: skip
    branch = parts["floor"][rc == 0, 0]
    assert np.ptp(branch) < 1e-12 and abs(branch[0] - 0.02) < 0.004
    with pytest.raises(ValueError, match="additive"):
        fit_error_model(mean, std_mc, snr, y, y_err).variance_terms(mean, std_mc, snr)
    with pytest.raises(ValueError, match="p_rc"):
        em.sigma(mean, std_mc, snr)
    save_error_model(tmp_path / "em.json", em)
    back = load_error_model(tmp_path / "em.json")
    assert back.kind == "additive"
    np.testing.assert_array_equal(
        back.sigma(mean, std_mc, snr, covariates={"p_rc": rc}),
        em.sigma(mean, std_mc, snr, covariates={"p_rc": rc}),
    )


def test_error_models_written_before_the_additive_form_read_as_loglinear() -> None:
    rng = np.random.default_rng(23)
    mean, std_mc, snr, y, y_err, _, _ = _additive_survey(500, rng)
    old = fit_error_model(mean, std_mc, snr, y, y_err).to_dict()
    old["kind"] = "log_variance_regression"
    assert ErrorModel.from_dict(old).kind == "loglinear"


def test_state_model_separates_clump_from_branch_and_needs_both_states() -> None:
    rng = np.random.default_rng(24)
    n = 600
    phase = np.where(rng.random(n) < 0.3, 2, 1)
    X = rng.standard_normal((n, 5))
    X[:, 2] += 3.0 * (phase == 2)
    state = fit_state_model(X, phase)
    assert state is not None
    p = state.probability(X)
    assert np.mean((p > 0.5) == (phase == 2)) > 0.9
    assert StateModel.from_dict(state.to_dict()).probability(X[:4]) == pytest.approx(p[:4])
    assert fit_state_model(X, np.ones(n)) is None  # no clump star: no classifier
    assert fit_state_model(X, np.full(n, np.nan)) is None  # states unknown
