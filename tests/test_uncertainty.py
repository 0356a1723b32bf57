"""The per-star error model: an additive variance (floor, 1/SNR^2, MC spread) scaled by named
covariates, fitted against the truth with the labels' own errors deconvolved."""

from __future__ import annotations

import numpy as np
import pytest

from spt.io.predictions import prediction_frame
from spt.model.uncertainty import (
    ErrorModel,
    StateModel,
    coverage,
    coverage_table,
    fit_additive_error_model,
    fit_state_model,
    load_error_model,
    log_normal_interval,
    save_error_model,
)
from spt.validation.evaluate import calibration


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
    assert em.terms == ("floor", "inv_snr2", "rel_mc2") and em.covariates == ()
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
    with pytest.raises(ValueError, match="p_rc"):
        em.sigma(mean, std_mc, snr)
    save_error_model(tmp_path / "em.json", em)
    back = load_error_model(tmp_path / "em.json")
    assert back.to_dict() == em.to_dict() and back.to_dict()["kind"] == "additive"
    np.testing.assert_array_equal(
        back.sigma(mean, std_mc, snr, covariates={"p_rc": rc}),
        em.sigma(mean, std_mc, snr, covariates={"p_rc": rc}),
    )


def test_error_models_of_a_retired_form_are_refused_with_the_way_out() -> None:
    """A model file whose error model is of a retired form (loglinear, or the older
    log-variance regression) is not silently read as the additive one."""
    rng = np.random.default_rng(23)
    mean, std_mc, snr, y, y_err, _, _ = _additive_survey(500, rng)
    data = fit_additive_error_model(mean, std_mc, snr, y, y_err).to_dict()
    for kind in ("loglinear", "log_variance_regression", None):
        with pytest.raises(ValueError, match="forcerun trust_spt"):
            ErrorModel.from_dict({**data, "kind": kind})


def test_calibration_table_compares_quoted_sigma_with_the_dropout_spread() -> None:
    """prediction_frame puts sigma and the MC spread side by side; the calibration table finds
    the quoted sigma with the label's own error covering ~68 % of labels, sigma alone (against
    the truth) fewer, and the spread far fewer."""
    rng = np.random.default_rng(25)
    mean, std_mc, snr, y, y_err, _, _ = _additive_survey(4000, rng)
    sigma = fit_additive_error_model(mean, std_mc, snr, y, y_err).sigma(mean, std_mc, snr)
    split = {"y": y, "y_err": y_err, "obsid": np.arange(4000), "kic": np.arange(4000)}
    frame = prediction_frame(split, mean, sigma, std_mc)
    assert list(frame.columns[2:8]) == [
        "age", "age_err", "age_err_mc", "mass", "mass_err", "mass_err_mc",
    ]  # fmt: skip
    cal = calibration(frame).set_index(["label", "sigma"])
    assert cal.loc[("age", "dropout"), "within_1sigma"] < 0.2
    for label in ("age", "mass"):
        assert cal.loc[(label, "combined"), "within_1sigma"] == pytest.approx(0.683, abs=0.03)
        assert cal.loc[(label, "prediction"), "within_1sigma"] < 0.66


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
