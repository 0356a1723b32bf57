"""The mock survey: determinism, physics of the labels, injected rates, file formats."""

from __future__ import annotations

import copy
import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spt.io.lamost import read_catalog, read_spectrum, spectrum_path
from spt.io.seismic import read_seismic
from spt.sources import seismo
from spt.sources.simulate import (
    ANOMALY_TYPES,
    FIELD_SURVEY_DEFAULTS,
    SpectrumModel,
    age_from_relation,
    build_field_survey,
    build_survey,
    simulate_field_survey,
    simulate_survey,
)
from tests.conftest import REPO

SEED = 11


@pytest.fixture(scope="module")
def cfg() -> dict:
    full = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return {**full["simulate"], "clusters": full["clusters"]}


@pytest.fixture(scope="module")
def small_cfg(cfg) -> dict:
    small = copy.deepcopy(cfg)
    small.update(n_stars=50, n_seismic_only=10, n_lamost_only=40, n_neighbours=10, chunk_size=20)
    small["clusters"] = small["clusters"][:1]
    small["clusters"][0]["n_members"] = 5
    small["anomalies"] = dict.fromkeys(ANOMALY_TYPES, 0.1)
    return small


@pytest.fixture(scope="module")
def survey(cfg):
    """The default-size survey as tables (no spectra written)."""
    return build_survey(cfg, SEED)


def test_same_seed_gives_identical_files_for_any_worker_count(tmp_path, small_cfg):
    simulate_survey(small_cfg, SEED, tmp_path / "a", workers=1)
    simulate_survey(small_cfg, SEED, tmp_path / "b", workers=2)
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert a == b and len(a) > 60
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", a, shallow=False)
    assert mismatch == [] and errors == []
    simulate_survey(small_cfg, SEED + 1, tmp_path / "c", workers=1)
    assert (tmp_path / "a/seismic.csv").read_bytes() != (tmp_path / "c/seismic.csv").read_bytes()


def test_files_are_in_the_real_formats(tmp_path, small_cfg):
    counts = simulate_survey(small_cfg, SEED, tmp_path, workers=1)
    seis = read_seismic(tmp_path / "seismic.csv")
    cat = read_catalog(tmp_path / "lamost_catalog.csv")
    truth = pd.read_csv(tmp_path / "truth.csv")
    assert len(seis) == counts["seismic_stars"] == 60
    assert counts["spectra"] == len(truth) == len(list((tmp_path / "spectra").iterdir()))
    assert set(truth["obsid"]) <= set(cat["obsid"])
    assert len(cat) == counts["catalog_rows"] > counts["spectra"]
    # Header S/N, catalogue S/N and the file agree; files are LAMOST DR9 layout.
    row = cat.set_index("obsid").loc[truth["obsid"].iloc[0]]
    spec = read_spectrum(spectrum_path(tmp_path / "spectra", truth["obsid"].iloc[0]))
    assert spec.header["SNRG"] == pytest.approx(row["snrg"])
    assert spec.header["DATA_V"] == "LAMOST DR9"
    assert 3880 <= spec.n_pixels <= 3910
    assert spec.wavelength[0] == pytest.approx(3700, abs=2) and spec.wavelength[-1] < 9100.1
    clusters = pd.read_csv(tmp_path / "clusters.csv")
    assert list(clusters.columns) == [
        "cluster", "member_id", "RAJ2000", "DEJ2000", "age_lit", "e_age_lit", "feh_lit", "age_ref"
    ]  # fmt: skip
    assert clusters["age_lit"].iloc[0] == pytest.approx(10 ** (9.80 - 9), rel=1e-3)
    iso = pd.read_csv(tmp_path / "isochrone_ages.csv")
    assert set(iso["obsid"]) <= set(truth.loc[truth["role"] == "seismic", "obsid"])


def test_injected_anomalies_change_the_flux_where_recorded(tmp_path, small_cfg):
    simulate_survey(small_cfg, SEED, tmp_path, workers=1)
    truth = pd.read_csv(tmp_path / "truth.csv").fillna({"anomaly": ""})
    for kind in ("missing", "negative"):
        rows = truth[truth["anomaly"] == kind]
        assert len(rows) > 0
        for r in rows.itertuples():
            spec = read_spectrum(spectrum_path(tmp_path / "spectra", r.obsid))
            inside = (spec.wavelength > r.anomaly_lo + 5) & (spec.wavelength < r.anomaly_hi - 5)
            if kind == "missing":
                assert np.all(spec.flux[inside] == 0) and np.all(spec.ivar[inside] == 0)
            else:
                assert np.median(spec.flux[inside]) < 0
    clean = truth[truth["anomaly"] == ""]
    spec = read_spectrum(spectrum_path(tmp_path / "spectra", clean["obsid"].iloc[0]))
    assert (spec.flux[spec.good] > 0).mean() > 0.99


def test_population_follows_the_fitted_prior(survey, cfg):
    truth = survey.spectra[survey.spectra["role"] == "seismic"]
    rc = truth["phase"] == 2
    assert rc.mean() == pytest.approx(cfg["prior"]["rc_fraction"], abs=0.03)
    # Median masses of the Miglio et al. (2021) giants: 1.19 (RGB), 1.59 (clump).
    assert truth.loc[~rc, "mass"].median() == pytest.approx(1.19, rel=0.05)
    assert truth.loc[rc, "mass"].median() == pytest.approx(1.59, rel=0.05)
    assert truth["age"].between(0.2, 14.0).all()


def test_mass_age_relation(survey, cfg):
    t = survey.spectra[survey.spectra["role"] == "seismic"]
    design = np.c_[np.ones(len(t)), np.log10(t["mass"]), t["feh"], t["alpha"], t["phase"] == 2]
    coef, *_ = np.linalg.lstsq(design, np.log10(t["age"]), rcond=None)
    assert coef[1] == pytest.approx(cfg["prior"]["age_relation"]["log_mass"], abs=0.1)
    assert np.corrcoef(t["mass"], t["age"])[0, 1] < -0.7


def test_numax_follows_log_g(survey, cfg):
    seis = survey.seismic.set_index("KIC")
    t = survey.spectra[survey.spectra["role"] == "seismic"].set_index("kic")
    numax = seis.loc[t.index, "numax"].to_numpy()
    expected = (
        seismo.NUMAX_SUN
        * 10 ** (t["logg"] - seismo.LOGG_SUN)
        * (t["teff"] / seismo.TEFF_SUN) ** -0.5
    )
    ratio = numax / expected.to_numpy()
    assert np.median(ratio) == pytest.approx(1.0, abs=0.003)
    assert np.std(ratio) == pytest.approx(cfg["label_noise"]["numax_rel"], rel=0.15)


def test_label_noise_is_the_scaling_relation_error(survey, cfg):
    seis = survey.seismic.set_index("KIC")
    t = survey.spectra[survey.spectra["role"] == "seismic"].set_index("kic")
    good = ~t["label_outlier"]
    rel_mass = seis.loc[t.index[good], "Mass"].to_numpy() / t.loc[good, "mass"].to_numpy() - 1
    noise = cfg["label_noise"]
    expected = seismo.scaling_mass_rel_error(noise["numax_rel"], noise["dnu_rel"], 70 / 4750)
    assert np.std(rel_mass) == pytest.approx(expected, rel=0.1)
    # Age errors come from the mass errors, so they are anti-correlated with them.
    rel_age = seis.loc[t.index[good], "Age"].to_numpy() / t.loc[good, "age"].to_numpy() - 1
    assert np.corrcoef(rel_mass, rel_age)[0, 1] < -0.8
    # The catalogue's quoted errors match the scatter actually applied.
    quoted = (seis.loc[t.index[good], "e_Mass"] / seis.loc[t.index[good], "Mass"]).median()
    assert quoted == pytest.approx(expected, rel=0.05)


def test_injected_rates(survey, cfg):
    n = len(survey.spectra)
    for kind in ANOMALY_TYPES:
        rate = cfg["anomalies"][kind]
        observed = (survey.spectra["anomaly"] == kind).sum()
        assert abs(observed - rate * n) < 4 * np.sqrt(rate * (1 - rate) * n), kind
    n_seis = len(survey.seismic)
    assert survey.spectra["label_outlier"].sum() <= round(cfg["label_outlier_fraction"] * n_seis)


def test_cross_match_has_real_work(survey, cfg):
    roles = survey.spectra["role"].value_counts()
    assert roles["seismic"] == cfg["n_stars"]
    assert roles["repeat"] == round(cfg["repeat_fraction"] * cfg["n_stars"])
    assert len(survey.seismic) == cfg["n_stars"] + cfg["n_seismic_only"]
    assert len(survey.catalog) > len(survey.spectra) + 0.9 * cfg["n_lamost_only"]


def test_spectral_features_carry_the_labels(cfg):
    model = SpectrumModel(1800.0, 0, 1)
    base = {"teff": 4750.0, "logg": 2.5, "feh": 0.0, "alpha": 0.0, "cfe": -0.1, "nfe": 0.2}
    stars = pd.DataFrame([base, {**base, "cfe": -0.3, "nfe": 0.5}, {**base, "alpha": 0.2}])
    tau = model.strengths(stars)
    names = [f.name for f in model.features]
    g_band, cn, mg = names.index("G band CH"), names.index("CN 4216"), names.index("Mg b2")
    assert tau[1, g_band] < tau[0, g_band]  # less carbon after a deeper dredge-up
    assert tau[1, cn] > tau[0, cn] * 1.1  # CN rises with nitrogen
    assert tau[2, mg] > tau[0, mg]  # alpha-rich: stronger Mg b
    flux = model.normalised_flux(stars)
    assert flux.shape == (3, len(model.log_wave))
    assert np.all((flux > 0) & (flux <= 1))


def test_paths_are_per_obsid(tmp_path):
    assert spectrum_path(tmp_path, 123) == Path(tmp_path) / "123.fits.gz"


# --------------------------------------------------------------------------- field survey
FIELD = {"n_spectra": 4000, "shifted_fraction": 0.3}


@pytest.fixture(scope="module")
def field_rows(cfg):
    rows, catalog = build_field_survey(cfg, SEED, FIELD)
    return rows, catalog


def test_field_survey_files_are_deterministic_and_complete(tmp_path, cfg):
    small = {**cfg, "chunk_size": 30}
    field = {"n_spectra": 80, "shifted_fraction": 0.5}
    counts = simulate_field_survey(small, SEED, tmp_path / "a", workers=1, field=field)
    simulate_field_survey(small, SEED, tmp_path / "b", workers=2, field=field)
    names = sorted(p.name for p in (tmp_path / "a/spectra").iterdir())
    assert len(names) == counts["spectra"] == 80
    files = ["truth.csv", "lamost_catalog.csv", *[f"spectra/{n}" for n in names]]
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)
    assert mismatch == [] and errors == []
    truth = pd.read_csv(tmp_path / "a/truth.csv", keep_default_na=False)
    cat = read_catalog(tmp_path / "a/lamost_catalog.csv")
    assert list(truth["obsid"]) == sorted(cat["obsid"])
    assert {"teff", "logg", "feh", "snrg"} <= set(cat.columns)
    assert counts["in_domain"] == (truth["domain"] == "in").sum()
    row = cat.set_index("obsid").loc[truth["obsid"].iloc[0]]
    spec = read_spectrum(spectrum_path(tmp_path / "a/spectra", truth["obsid"].iloc[0]))
    assert spec.header["SNRG"] == pytest.approx(row["snrg"])
    assert truth.set_index("obsid").loc[row.name, "snrg"] == pytest.approx(row["snrg"])


def test_field_survey_leaves_the_training_survey_alone(cfg):
    """The field survey has its own RNG streams: building it does not move build_survey."""
    small = {**cfg, "n_stars": 40, "n_seismic_only": 5, "n_lamost_only": 20, "n_neighbours": 5}
    before = build_survey(small, SEED)
    build_field_survey(small, SEED, {"n_spectra": 50})
    after = build_survey(small, SEED)
    pd.testing.assert_frame_equal(before.spectra, after.spectra)
    pd.testing.assert_frame_equal(before.catalog, after.catalog)


def test_field_rates_are_recorded(field_rows):
    rows, _ = field_rows
    n = len(rows)
    for kind, rate in FIELD_SURVEY_DEFAULTS["ood_rates"].items():
        observed = (rows["domain"] == kind).sum()
        assert abs(observed - rate * n) < 4 * np.sqrt(rate * (1 - rate) * n), kind
    n_in = (rows["domain"] == "in").sum()
    shifted = (rows["population"] == "shifted").sum()
    assert abs(shifted - 0.3 * n_in) < 4 * np.sqrt(0.3 * 0.7 * n_in)
    assert (rows.loc[rows["domain"] != "in", "population"] == "base").all()
    assert (rows.loc[rows["domain"] != "in", "anomaly"] == "").all()


def test_out_of_domain_stars_have_the_claimed_properties(field_rows, survey, cfg):
    rows, catalog = field_rows
    train = survey.spectra[survey.spectra["role"] == "seismic"]
    by = {k: g for k, g in rows.groupby("domain")}
    assert by["dwarf"]["logg"].min() >= 4.0 and (by["dwarf"]["phase"] == 0).all()
    assert by["subgiant"]["logg"].between(3.7, 4.0).all()
    assert by["subgiant"]["logg"].min() > train["logg"].max()
    assert by["hot"]["teff"].min() > train["teff"].max()
    assert by["cool"]["teff"].max() < train["teff"].min()
    assert by["metal_poor"]["feh"].max() < train["feh"].min()
    assert by["young"]["age"].max() < train["age"].min()
    assert by["old"]["age"].min() > train["age"].max()
    assert by["low_snr"]["snrg"].max() < 8.0 <= train["snrg"].min()
    # Their ages follow the same relation as the training giants.
    for kind in ("young", "old", "metal_poor"):
        g = by[kind]
        relation = cfg["prior"]["age_relation"]
        rel = age_from_relation(g["mass"], g["feh"], g["alpha"], g["phase"], relation)
        np.testing.assert_allclose(g["age"], rel, rtol=1e-9)
    # Giants in the domain look like the training giants; the shifted ones are metal-poorer.
    base = rows[(rows["domain"] == "in") & (rows["population"] == "base")]
    shifted = rows[rows["population"] == "shifted"]
    assert base["feh"].median() == pytest.approx(train["feh"].median(), abs=0.03)
    assert shifted["feh"].median() - base["feh"].median() == pytest.approx(-0.35, abs=0.05)
    assert shifted["snrg"].median() == pytest.approx(30.0, rel=0.1)
    assert base["snrg"].median() == pytest.approx(55.0, rel=0.1)
    cat = catalog.set_index("obsid").loc[by["dwarf"]["obsid"]]
    assert cat["logg"].median() > 4.0  # the LAMOST catalogue sees them as dwarfs
