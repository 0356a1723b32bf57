"""Per-star trust: error model and flag domain fitted after training, stored in the model file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from spt.model.flags import Flag
from spt.model.store import ModelFileError, load_model, save_model
from spt.model.train import TrainConfig, train_model
from spt.model.trust import (
    ParamDensity,
    Trust,
    fit_calibrated_errors,
    fit_param_density,
    fit_trust,
    load_trust,
    predict_split,
    predict_trusted,
    star_info,
)
from spt.model.uncertainty import ADDITIVE_TERMS
from spt.prep.features import transform_spectra

N_PIX, N_COMP = 60, 6


def _survey(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Spectra whose shape follows two positive labels, with S/N-dependent noise."""
    age, mass = rng.uniform(1, 10, n), rng.uniform(0.8, 2.5, n)
    snr = rng.uniform(10, 200, n)
    x = np.linspace(0, 1, N_PIX)
    flux = 1 + 0.05 * np.outer(np.log(age), np.sin(6 * x)) + 0.05 * np.outer(mass, np.cos(4 * x))
    flux += rng.standard_normal(flux.shape) / snr[:, None]
    ivar = np.repeat((snr**2)[:, None], N_PIX, axis=1)
    return {"flux": flux.astype(np.float32), "ivar": ivar.astype(np.float32),
            "y": np.column_stack([age, mass]), "snr": snr}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    rng = np.random.default_rng(0)
    tr, va = _survey(400, rng), _survey(200, rng)
    pca = PCA(N_COMP, random_state=0).fit(tr["flux"])
    bundle = {"pca": pca, "fill": np.ones(N_PIX)}

    def split(s: dict[str, np.ndarray], first: int) -> dict[str, np.ndarray]:
        n = len(s["y"])
        return {"X": pca.transform(s["flux"]).astype(np.float32), "y": s["y"],
                "y_err": 0.05 * s["y"], "obsid": np.arange(first, first + n)}  # fmt: skip

    train, val = split(tr, 0), split(va, 1000)
    table = pd.DataFrame(
        {
            "obsid": np.r_[train["obsid"], val["obsid"]],
            "snrg": np.r_[tr["snr"], va["snr"]],
            "teff_lamost": rng.normal(4700.0, 100.0, len(tr["snr"]) + len(va["snr"])),
            "logg_lamost": rng.normal(2.5, 0.3, len(tr["snr"]) + len(va["snr"])),
            "feh_lamost": rng.normal(0.0, 0.2, len(tr["snr"]) + len(va["snr"])),
            # seismic state: heavier stars are "red clump" (for the state classifier)
            "phase": np.where(np.r_[tr["y"][:, 1], va["y"][:, 1]] > 1.6, 2, 1),
        }
    )
    cfg = TrainConfig.tiny(epochs=3, model={**TrainConfig.tiny().model, "log_labels": True})
    tmp = tmp_path_factory.mktemp("trust")
    model, _ = train_model(train["X"], train["y"], val["X"], val["y"], cfg, tmp / "c.pt",
                           progress=False)  # fmt: skip
    trust = fit_trust(model, train, val, table, va, bundle, passes=8, seed=0, percentile=99.0)
    save_model(tmp / "m.pt", model, cfg, extra={"trust": trust.to_dict()})
    return tmp / "m.pt", trust, bundle, va


def test_trust_is_stored_in_the_model_file(trained) -> None:
    path, trust, _, _ = trained
    back = load_trust(path)
    assert isinstance(back, Trust)
    np.testing.assert_array_equal(back.errors.coef, trust.errors.coef)
    assert back.domain.snr_min == trust.domain.snr_min
    assert back.domain.mahalanobis_max == trust.domain.mahalanobis_max
    assert back.errors.to_dict()["kind"] == "additive" and "p_red_clump" in back.errors.terms
    assert back.state is not None
    np.testing.assert_array_equal(back.state.weights, trust.state.weights)
    assert "log_knn_distance" in back.errors.terms
    np.testing.assert_array_equal(back.density.points, trust.density.points)
    assert back.density.fallback == trust.density.fallback
    # the training stars' seismic states: the distance is counted within each state
    assert back.density.clump is not None
    np.testing.assert_array_equal(back.density.clump, trust.density.clump)


def test_red_clump_probability_is_learnt_from_the_training_states(trained) -> None:
    _, trust, bundle, va = trained
    p_rc = trust.state.probability(bundle["pca"].transform(va["flux"]))
    is_rc = va["y"][:, 1] > 1.6
    assert np.mean((p_rc > 0.5) == is_rc) > 0.9  # the spectra carry the mass, so the state
    names = {"p_red_clump", "log_knn_distance", "feh_lamost"}
    assert set(trust.covariates(bundle["pca"].transform(va["flux"][:3]))) == names
    # the distance is the one among training stars of the star's own state
    features = bundle["pca"].transform(va["flux"][:3])
    params = np.array([[4700.0, 2.5, -0.3], [4600.0, 2.4, 0.1], [4800.0, 2.7, 0.0]])
    got = trust.covariates(features, params)["log_knn_distance"]
    p = trust.state.probability(features)
    np.testing.assert_allclose(got, trust.density.log_distance(params, p_clump=p))
    assert not np.allclose(got, trust.density.log_distance(params))


def test_star_info_aligns_by_obsid_and_leaves_unknown_stars_nan() -> None:
    table = pd.DataFrame({"obsid": [5, 3], "snrg": [50.0, 30.0], "teff_lamost": [4000.0, 5000.0]})
    snr, params = star_info(np.array([3, 9, 5]), table)
    np.testing.assert_array_equal(snr, [30.0, np.nan, 50.0])
    assert params[0, 0] == 5000.0 and np.isnan(params[0, 1]) and np.isnan(params[1]).all()


def test_predictions_carry_errors_and_flags_and_keep_every_row(trained) -> None:
    path, trust, bundle, va = trained
    model = load_model(path, device="cpu")
    n = 6
    flux, ivar = va["flux"][:n].copy(), va["ivar"][:n].copy()
    snr = va["snr"][:n].copy()
    snr[2] = 2.0  # below the training set's S/N
    report = pd.DataFrame({"ok": [True, False, True, True, True, True],
                           "oscillation": False, "missing": False, "outlier": False,
                           "negative": [False] * 5 + [True]})  # fmt: skip
    params = np.tile([4700.0, 2.5, 0.0], (n, 1))
    params[3, 0] = 7000.0  # hotter than any training star
    out = predict_trusted(model, trust, flux, ivar, bundle, snr, params, report, 8, 0)
    assert len(out) == n
    assert list(out.columns[:6]) == ["age", "age_err", "age_err_mc", "mass", "mass_err",
                                     "mass_err_mc"]  # fmt: skip
    for i in (1, 5):  # unreadable, anomalous: no prediction, but a row and a reason
        assert np.isnan(out.loc[i, ["age", "mass"]].astype(float)).all() and out.loc[i, "flag_bad"]
    assert out.loc[1, "flag"] & Flag.UNREADABLE and out.loc[5, "flag"] & Flag.ANOMALY_NEGATIVE
    assert out.loc[2, "flag"] & Flag.LOW_SNR and out.loc[2, "flag_warn"]
    assert out.loc[3, "flag"] & Flag.PARAMS_OUTSIDE_TRAINING
    good = [0, 2, 3, 4]
    assert (out.loc[good, "age_err"] >= out.loc[good, "age_err_mc"]).all()
    # the 68.3 % interval: log-symmetric about the prediction, its log half-width sigma / y
    for label in ("age", "mass"):
        y, lo, hi = (out.loc[good, f"{label}{s}"].to_numpy(float) for s in ("", "_p16", "_p84"))
        np.testing.assert_allclose(np.log(hi / y), out.loc[good, f"{label}_err"] / y)
        np.testing.assert_allclose(np.log(y / lo), np.log(hi / y))
        assert out.loc[[1, 5], [f"{label}_p16", f"{label}_p84"]].isna().all(axis=None)
    # the per-star error grows as the S/N falls (same spectrum, S/N 200 vs 20)
    hi = predict_trusted(model, trust, flux[:1], ivar[:1], bundle, np.array([200.0]),
                         params[:1], None, 8, 0)  # fmt: skip
    lo = predict_trusted(model, trust, flux[:1], ivar[:1], bundle, np.array([20.0]),
                         params[:1], None, 8, 0)  # fmt: skip
    assert lo.loc[0, "age_err"] > hi.loc[0, "age_err"]
    assert lo.loc[0, "age"] == hi.loc[0, "age"]
    # the floor, which another spectrum of the star would share, does not depend on the S/N
    assert lo.loc[0, "age_err_floor"] == pytest.approx(hi.loc[0, "age_err_floor"])
    assert 0 < hi.loc[0, "age_err_floor"] < hi.loc[0, "age_err"]
    assert out.loc[[1, 5], "mass_err_floor"].isna().all()
    # every usable spectrum gets its red-clump probability, from its own PCA vector
    assert out.loc[[1, 5], "p_red_clump"].isna().all()
    p = trust.state.probability(transform_spectra(bundle, flux[good], ivar[good]))
    np.testing.assert_allclose(out.loc[good, "p_red_clump"], p)
    assert ((p > 0.5) == (va["y"][good, 1] > 1.6)).mean() >= 0.75  # heavier: "clump"


def test_a_model_file_without_trust_says_so(tmp_path: Path, trained) -> None:
    path, *_ = trained
    model = load_model(path, device="cpu")
    save_model(tmp_path / "plain.pt", model)
    with pytest.raises(ModelFileError, match=r"plain\.pt holds no error model.*forcerun trust_spt"):
        load_trust(tmp_path / "plain.pt")


def test_distance_from_training_grows_outside_it_and_skips_a_star_itself() -> None:
    rng = np.random.default_rng(4)
    params = np.column_stack([rng.normal(4700, 100, 400), rng.normal(2.5, 0.3, 400),
                              rng.normal(0.0, 0.2, 400)])  # fmt: skip
    density = fit_param_density(params, k=10)
    inside, far = density.log_distance(np.array([[4700.0, 2.5, 0.0], [4700.0, 2.5, -0.8]]))
    assert far > inside + 1.0  # 4 sigma out in [Fe/H]: no training star near
    # a training star does not count itself: as if the density were fitted without it
    own = density.log_distance(params[:1], in_reference=np.array([True]))
    without = fit_param_density(params[1:], k=10)
    without = ParamDensity(
        density.mean,
        density.scale,
        without.points * without.scale / density.scale
        + (without.mean - density.mean) / density.scale,
        10,
    )
    np.testing.assert_allclose(own, without.log_distance(params[:1]))
    # unknown parameters: the fallback, no change of sigma
    back = ParamDensity.from_dict({**density.to_dict(), "fallback": -1.5})
    assert back.log_distance(np.array([[np.nan, 2.5, 0.0]]))[0] == -1.5
    # LAMOST's no-value markers are unknown too, not a star far away
    assert back.log_distance(np.array([[-9999.0, 2.5, 0.0], [4700.0, 2.5, 99.0]])).tolist() == [
        -1.5,
        -1.5,
    ]
    assert fit_param_density(params[:30]) is None


def test_distance_by_state_counts_only_training_stars_of_the_same_state() -> None:
    rng = np.random.default_rng(5)
    # clump training stars are metal-rich, branch stars span the whole [Fe/H] range
    n_rc, n_rgb = 150, 450
    feh = np.r_[rng.normal(0.1, 0.08, n_rc), rng.normal(0.0, 0.25, n_rgb)]
    params = np.column_stack([rng.normal(4700, 100, n_rc + n_rgb),
                              rng.normal(2.5, 0.2, n_rc + n_rgb), feh])  # fmt: skip
    clump = np.r_[np.ones(n_rc), np.zeros(n_rgb)]
    density = fit_param_density(params, k=10, clump=clump)
    metal_poor = np.array([[4700.0, 2.5, -0.4]])
    as_clump = density.log_distance(metal_poor, p_clump=np.array([1.0]))[0]
    as_branch = density.log_distance(metal_poor, p_clump=np.array([0.0]))[0]
    plain = fit_param_density(params, k=10).log_distance(metal_poor)[0]
    # a metal-poor clump star has no clump neighbour; branch stars would have hidden that
    assert as_clump > as_branch + 1.0
    assert abs(as_branch - plain) < 0.3
    half = density.log_distance(metal_poor, p_clump=np.array([0.5]))[0]
    assert half == pytest.approx(0.5 * (as_clump + as_branch))
    # without a clump probability (no state model): the plain distance
    assert density.log_distance(metal_poor)[0] == pytest.approx(plain)
    # a training clump star skips itself among the clump stars only
    own = density.log_distance(params[:1], np.array([True]), np.array([1.0]))[0]
    other = dataclasses.replace(
        density, points=(params[1:] - density.mean) / density.scale, clump=clump[1:]
    )
    assert own == pytest.approx(other.log_distance(params[:1], p_clump=np.array([1.0]))[0])
    back = ParamDensity.from_dict(density.to_dict())
    np.testing.assert_array_equal(back.clump, clump)
    # a star of unknown state (a catalogue's unclassified ones) is in neither state, even
    # where it lies right on the query
    partial = fit_param_density(np.vstack([params, metal_poor]), k=10, clump=np.r_[clump, 9])
    assert np.isnan(partial.clump[-1])
    without = dataclasses.replace(partial, points=partial.points[:-1], clump=clump)
    for p in (0.0, 1.0):
        assert partial.log_distance(metal_poor, p_clump=np.array([p]))[0] == pytest.approx(
            without.log_distance(metal_poor, p_clump=np.array([p]))[0]
        )
    # the states are kept only when each has more than k stars
    few = np.r_[np.ones(10), np.zeros(n_rc + n_rgb - 10)]
    assert fit_param_density(params, k=10, clump=few).clump is None


def _calibration_set(
    rng: np.random.Generator, feh: np.ndarray, rel: Callable[[np.ndarray], np.ndarray]
) -> tuple[dict, dict, pd.DataFrame, np.ndarray]:
    """A calibration sample of stars with this [Fe/H] whose predictions err by the relative
    error ``rel(feh)``: (sample, training split, table, LAMOST parameters)."""
    n = len(feh)
    params = np.column_stack([rng.normal(4700, 100, n), rng.normal(2.5, 0.3, n), feh])
    y = np.column_stack([rng.uniform(1, 10, n), rng.uniform(0.8, 2.5, n)])
    mean = y * np.exp(rel(feh)[:, None] * rng.standard_normal((n, 2)))
    obsid = np.arange(n)
    table = pd.DataFrame({"obsid": obsid, "snrg": 100.0, "teff_lamost": params[:, 0],
                          "logg_lamost": params[:, 1], "feh_lamost": feh})  # fmt: skip
    sample = {"X": np.zeros((n, 2)), "y": y, "y_err": 0.02 * y, "obsid": obsid, "mean": mean,
              "std_mc": 0.01 * mean}  # fmt: skip
    return sample, {"y": y, "obsid": obsid}, table, params


def test_error_model_widens_sigma_where_training_stars_are_sparse() -> None:
    rng = np.random.default_rng(5)
    feh = np.r_[rng.normal(0.0, 0.15, 1200), rng.uniform(-0.9, -0.4, 300)]
    # sparse metal-poor tail: 3x the error
    sample, train, table, params = _calibration_set(
        rng, feh, lambda f: np.where(f < -0.4, 0.3, 0.1)
    )
    density = fit_param_density(params)
    density, errors = fit_calibrated_errors(
        sample, train, table, None, density, ("age", "mass"), ["log_knn_distance"]
    )
    assert errors.terms[3:] == ("log_knn_distance",)
    trust = Trust(errors, None, None, density)  # type: ignore[arg-type]
    cov = trust.covariates(np.zeros((2, 2)), np.array([[4700, 2.5, 0.0], [4700, 2.5, -0.7]]))
    sig = errors.relative(np.ones((2, 2)), np.full((2, 2), 0.01), np.full(2, 100.0), cov)
    assert sig[1, 0] > 1.4 * sig[0, 0] and sig[1, 1] > 1.4 * sig[0, 1]
    assert sig[0, 0] < 0.12  # the dense core keeps its own error (0.1), not the tail's


def _metallicity_sample(n: int, seed: int) -> tuple[dict, dict, pd.DataFrame, np.ndarray]:
    """Stars spread evenly in [Fe/H] (no sparse tail) whose relative error is 0.1 at the
    training mean and grows as exp(-1.5 [Fe/H]) below it: weaker lines, less information."""
    rng = np.random.default_rng(seed)
    feh = rng.uniform(-0.6, 0.4, n)
    return _calibration_set(rng, feh, lambda f: 0.1 * np.exp(-1.5 * (f - f.mean())))


def test_error_model_tracks_metallicity_and_leaves_unknown_metallicity_at_the_mean() -> None:
    sample, train, table, params = _metallicity_sample(2000, 6)
    density = fit_param_density(params)
    centre = density.mean[2]
    stars = np.array([[4700, 2.5, centre - 0.5], [4700, 2.5, centre + 0.3],
                      [4700, 2.5, centre], [4700, 2.5, np.nan], [4700, 2.5, -9999.0]])  # fmt: skip
    ratio = {}
    for names in (["feh_lamost"], ["log_knn_distance"]):
        dens, errors = fit_calibrated_errors(
            sample, train, table, None, density, ("age", "mass"), names
        )
        assert errors.terms[3:] == tuple(names)
        cov = Trust(errors, None, None, dens).covariates(np.zeros((5, 2)), stars)  # type: ignore[arg-type]
        sig = errors.relative(np.ones((5, 2)), np.full((5, 2), 0.01), np.full(5, 100.0), cov)
        ratio[names[0]] = sig[0] / sig[1]
        if names == ["feh_lamost"]:
            np.testing.assert_allclose(sig[2], 0.1, rtol=0.1)  # the mean star keeps 0.1
            np.testing.assert_array_equal(sig[3], sig[2])  # unknown [Fe/H]: as the mean star
            np.testing.assert_array_equal(sig[4], sig[2])  # LAMOST's -9999 is unknown too
    # true ratio exp(1.5 * 0.8) = 3.3; the distance alone (an even population) cannot see it
    np.testing.assert_allclose(ratio["feh_lamost"], np.exp(1.2), rtol=0.2)
    assert (ratio["log_knn_distance"] < 2.0).all()


def test_an_unknown_error_covariate_is_named() -> None:
    sample, train, table, params = _metallicity_sample(200, 7)
    with pytest.raises(ValueError, match=r"unknown predict.error_covariates \['teff'\]"):
        fit_calibrated_errors(sample, train, table, None, fit_param_density(params),
                              ("age", "mass"), ["feh_lamost", "teff"])  # fmt: skip


def test_split_predictions_carry_the_clump_probability_the_calibration_table_bins(trained) -> None:
    path, trust, bundle, va = trained
    model, n = load_model(path, device="cpu"), 5
    X = bundle["pca"].transform(va["flux"][:n]).astype(np.float32)
    obsid = np.arange(2000, 2000 + n)
    split = {"X": X, "y": va["y"][:n], "y_err": 0.05 * va["y"][:n], "obsid": obsid,
             "kic": obsid + 1}  # fmt: skip
    spectra = {"obsid": obsid[::-1], "flux": va["flux"][:n][::-1], "ivar": va["ivar"][:n][::-1]}
    table = pd.DataFrame({"obsid": obsid, "snrg": va["snr"][:n]})
    frame = predict_split(model, trust, split, spectra, table, bundle, {"mc_passes": 4}, 0)
    np.testing.assert_allclose(frame["p_red_clump"], trust.state.probability(X))
    assert list(frame["obsid"]) == list(obsid) and "flag" in frame
    k = len(ADDITIVE_TERMS)
    plain = dataclasses.replace(trust.errors, terms=ADDITIVE_TERMS, coef=trust.errors.coef[:, :k])
    bare = predict_split(model, dataclasses.replace(trust, state=None, errors=plain), split,
                         spectra, table, bundle, {"mc_passes": 4}, 0)  # fmt: skip
    assert "p_red_clump" not in bare


def test_a_trust_without_error_covariates_still_gives_each_row_its_clump_probability(
    trained,
) -> None:
    path, trust, bundle, va = trained
    n = len(ADDITIVE_TERMS)
    plain = dataclasses.replace(trust.errors, terms=ADDITIVE_TERMS, coef=trust.errors.coef[:, :n])
    bare = dataclasses.replace(trust, errors=plain)
    assert bare.covariates(bundle["pca"].transform(va["flux"][:3])) is None
    flux, ivar = va["flux"][:3], va["ivar"][:3]
    out = predict_trusted(load_model(path, device="cpu"), bare, flux, ivar, bundle, va["snr"][:3],
                          np.tile([4700.0, 2.5, 0.0], (3, 1)), None, 4, 0)  # fmt: skip
    p = trust.state.probability(transform_spectra(bundle, flux, ivar))
    np.testing.assert_allclose(out["p_red_clump"], p)
