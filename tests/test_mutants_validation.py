"""spt.validation.compare, .clusters and .isochrones: numbers and edge cases that mutation
testing (benchmarks/mutation.py) found unchecked. Expected values are worked out by hand."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from spt.validation.clusters import (
    MEDIAN_SE_FACTOR,
    ClusterError,
    cluster_literature,
    match_members,
    summarise_clusters,
)
from spt.validation.compare import (
    CompareConfig,
    PairedDifference,
    SeedSpread,
    compare_models,
    paired_bootstrap,
    replicate_seed,
    seed_delta_p,
)
from spt.validation.isochrones import compare_isochrone_ages
from spt.validation.metrics import rmse

ARCSEC = 1.0 / 3600.0


# ------------------------------------------------------------------ metrics
def test_shape_error_names_prediction_then_truth() -> None:
    with pytest.raises(ValueError, match=r"got \(2,\) and \(3,\)"):
        rmse([1.0, 2.0], [1.0, 2.0, 3.0])


# ------------------------------------------------------------------ compare
def test_compare_config_limits() -> None:
    CompareConfig(seeds=1, ablation_seeds=1, bootstrap=1, ci=0.5)  # the smallest allowed
    for bad in ({"seeds": 0}, {"ablation_seeds": 0}, {"bootstrap": 0}, {"ci": 0.0},
                {"ci": 1.0}, {"ci": 1.5}):  # fmt: skip
        with pytest.raises(ValueError, match="compare"):
            CompareConfig(**bad)


def test_records_are_frozen() -> None:
    spread = SeedSpread((1.0,), 1.0, math.nan, 3)
    diff = PairedDifference(1.0, 1.0, 0.5, 1.5, 0.95, 3, 10)
    for record, field in ((CompareConfig(), "seeds"), (spread, "mean"), (diff, "low")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, 0)


def test_excludes_zero_on_either_side() -> None:
    def pair(low: float, high: float) -> PairedDifference:
        return PairedDifference(0.0, 0.0, low, high, 0.95, 3, 10)

    assert pair(0.5, 2.0).excludes_zero and pair(-2.0, -0.5).excludes_zero
    assert not pair(-0.5, 0.5).excludes_zero and not pair(0.0, 1.0).excludes_zero


def test_replicate_seed_values() -> None:
    # the first 4 bytes of sha256("spt-replicate:7:1"), little-endian, top bit cleared
    assert replicate_seed(7, 0) == 7
    assert replicate_seed(7, 1) == 1306803940
    assert replicate_seed(42, 3) == 386918932


def test_prediction_and_truth_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"preds must be \(seeds, 4\)"):
        seed_delta_p(np.ones((2, 5)), np.ones(4))
    with pytest.raises(ValueError, match=r"preds must be \(seeds, 3\)"):
        seed_delta_p(np.empty((0, 3)), np.ones(3))  # no seed at all
    with pytest.raises(ValueError, match="non-empty 1-D"):
        seed_delta_p(np.ones((1, 1)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        seed_delta_p(np.ones((1, 0)), np.ones(0))
    assert seed_delta_p([1.1], [1.0]).values == pytest.approx((10.0,))  # one star is enough


def test_one_seed_has_no_spread_and_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spread = seed_delta_p([[1.1, 2.2]], [1.0, 2.0])
    assert spread.values == pytest.approx((10.0,)) and math.isnan(spread.std)


def test_bootstrap_of_relative_errors_with_a_label_of_one() -> None:
    with pytest.raises(ValueError, match="true contains zeros"):
        paired_bootstrap([1.0, 2.0], [1.0, 2.0], [0.0, 2.0], n_boot=10)
    out = paired_bootstrap([1.5, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 2.0, 4.0], n_boot=1)
    assert out.difference == pytest.approx(50.0 / 3) and out.n_boot == 1
    for bad in ({"n_boot": 0}, {"ci": 0.0}, {"ci": 1.0}, {"ci": 1.5}):
        with pytest.raises(ValueError):
            paired_bootstrap([1.5, 2.0], [1.0, 2.0], [1.0, 2.0], **{"n_boot": 10, **bad})


def test_bootstrap_draws_star_indices_from_the_seeded_generator() -> None:
    """The resamples are documented as a function of seed and star count alone: a draw of
    (n_boot, n) star indices from numpy's default_rng(seed); check the numbers against it."""
    true = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    model = true * np.array([1.1, 0.7, 1.0, 1.3, 0.95])
    ref = true * np.array([1.05, 1.0, 0.9, 1.0, 1.0])
    diff = 100 * np.abs(model - true) / true - 100 * np.abs(ref - true) / true
    idx = np.random.default_rng(0).integers(0, 5, size=(300, 5))
    boot = diff[idx].mean(axis=1)
    out = paired_bootstrap(model, ref, true, n_boot=300, ci=0.8)  # default seed: 0
    assert out.difference == pytest.approx(diff.mean())
    assert out.median == pytest.approx(np.median(boot))
    assert (out.low, out.high) == pytest.approx(tuple(np.quantile(boot, [0.1, 0.9])))
    table = compare_models({"m": model, "r": ref}, true, "r", n_boot=300, ci=0.8)
    assert table["m"][1] == out and table["r"][1] is None


def test_bootstrap_in_several_chunks() -> None:
    rng = np.random.default_rng(5)
    true = rng.uniform(1, 10, 2001)  # 2,000,000 // 2001 = 999 resamples per chunk: 3 chunks
    out = paired_bootstrap(true * 1.1, true * 1.05, true, n_boot=2000)
    assert out.difference == pytest.approx(5.0)
    assert out.low == pytest.approx(5.0) and out.high == pytest.approx(5.0)


# ------------------------------------------------------------------ clusters
def member_table(positions: dict[str, tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame({
        "cluster": "C", "member_id": list(positions),
        "RAJ2000": [p[0] for p in positions.values()],
        "DEJ2000": [p[1] for p in positions.values()],
    })  # fmt: skip


def test_one_member_one_spectrum_and_rounded_separation() -> None:
    mem = member_table({"a": (100.0, 10.0)})
    cat = pd.DataFrame({"obsid": [5], "ra": [100.0], "dec": [10.0 + 1.23456 * ARCSEC],
                        "snrg": [30.0]})  # fmt: skip
    out = match_members(mem, cat, radius_arcsec=0.5 + 1.0)  # a radius under 1 arcsec is fine
    assert out["obsid"].tolist() == [5] and out["n_spectra"].tolist() == [1]
    assert out["separation_arcsec"].tolist() == [1.2346]
    assert match_members(mem, cat, radius_arcsec=0.5).empty


def test_spectra_of_unknown_snr_rank_last_and_report_nan() -> None:
    mem = member_table({"a": (100.0, 10.0), "b": (120.0, 10.0)})
    cat = pd.DataFrame({
        "obsid": [1, 2, 3], "ra": [100.0, 100.0, 120.0],
        "dec": [10.0, 10.0 + 2 * ARCSEC, 10.0], "snrg": [np.nan, 10.0, np.nan],
    })  # fmt: skip
    out = match_members(mem, cat, radius_arcsec=3.0).set_index("member_id")
    assert out.loc["a", "obsid"] == 2  # S/N 10 beats the nearer spectrum of unknown S/N
    assert out.loc["b", "obsid"] == 3 and math.isnan(out.loc["b", "snrg"])
    assert out["n_spectra"].tolist() == [2, 1]


def test_no_member_with_coordinates() -> None:
    mem = member_table({"a": (np.nan, 10.0)})
    cat = pd.DataFrame({"obsid": [5], "ra": [100.0], "dec": [10.0], "snrg": [30.0]})
    out = match_members(mem, cat, radius_arcsec=1.0)
    assert out.empty and "n_spectra" in out.columns


def lit_rows(rows: list[tuple[str, float, float]], **extra: object) -> pd.DataFrame:
    return pd.DataFrame([{"cluster": c, "age_lit": a, "e_age_lit": e, **extra} for c, a, e in rows])


def test_literature_table_keeps_its_order_and_optional_columns() -> None:
    lit = lit_rows([("B", 2.0, 0.2), ("A", 3.0, 0.3), ("B", 2.0, 0.2)])
    out = cluster_literature(lit)
    assert out["cluster"].tolist() == ["B", "A"] and out["n_listed"].tolist() == [2, 1]
    assert out["feh_lit"].isna().all() and out["ref"].isna().all()
    out = cluster_literature(lit.assign(feh_lit=0.1, age_ref="paper"))
    assert out["feh_lit"].tolist() == [0.1, 0.1] and out["ref"].tolist() == ["paper", "paper"]
    with pytest.raises(ClusterError, match="more than one literature age"):
        cluster_literature(lit_rows([("A", 3.0, 0.3), ("A", 3.0, np.nan)]))


def test_literature_from_the_config() -> None:
    out = cluster_literature([{"name": "A", "age": 2.0, "e_age": 0.2, "ref": "Smith"},
                              {"name": "B", "age": 3.0, "e_age": 0.3}])  # fmt: skip
    assert out["ref"].tolist() == ["Smith", ""]
    with pytest.raises(ClusterError, match="listed twice"):
        cluster_literature([{"name": n, "age": 2.0, "e_age": 0.2} for n in ("A", "B", "A")])


def test_summary_medians_scatter_and_errors() -> None:
    preds = pd.DataFrame({
        "cluster": "A", "member_id": ["a", "b", "c"], "age": [2.0, 2.2, 5.0],
        "age_err": [0.1, 0.2, 0.6],
    })  # fmt: skip
    lit = lit_rows([("A", 2.0, 0.0)])
    row = summarise_clusters(preds, lit).iloc[0]
    assert row["age_median"] == 2.2  # not the mean, 3.07
    scatter = 1.4826 * 0.2  # median |age - 2.2| = 0.2
    assert row["age_scatter"] == pytest.approx(scatter)
    assert row["age_median_err"] == 0.2  # median of the errors, not their mean 0.3
    assert row["age_sem"] == pytest.approx(MEDIAN_SE_FACTOR * scatter / math.sqrt(3))
    two = summarise_clusters(preds.iloc[:2], lit).iloc[0]
    assert two["age_scatter"] == pytest.approx(1.4826 * 0.1)  # two members have a scatter
    assert two["age_sem"] == pytest.approx(MEDIAN_SE_FACTOR * 1.4826 * 0.1 / math.sqrt(2))


# ------------------------------------------------------------------ isochrones
def isochrone_inputs(rows: list[tuple[int, float, float, float, float, int]]) -> tuple:
    """(obsid, age, age_err, age_iso, e_age_iso, phase) rows -> the three input tables."""
    t = pd.DataFrame(rows, columns=["obsid", "age", "age_err", "age_iso", "e_age_iso", "phase"])
    return (
        t[["obsid", "age", "age_err"]],
        t[["obsid", "age_iso", "e_age_iso"]],
        t[["obsid", "phase"]],
    )


def test_isochrone_summary_numbers() -> None:
    ln10 = math.log(10.0)
    # z = 1 exactly (offset 1 dex, error ln10 / ln10); z = 0; z = log10(2) / (hypot(.2, .3) / ln10)
    stars = [(3, 1.0, ln10, 0.1, 0.0, 1), (1, 1.0, 0.1, 1.0, 0.1, 1), (2, 2.0, 0.4, 1.0, 0.3, 1)]
    per_star, summary = compare_isochrone_ages(*isochrone_inputs(stars))
    assert per_star["obsid"].tolist() == [1, 2, 3] and per_star.index.tolist() == [0, 1, 2]
    assert summary["state"].tolist() == ["RGB", "red clump", "all"]
    rc = summary.set_index("state").loc["red clump"]
    assert rc["n"] == 0 and math.isnan(rc["median_z"])  # no clump star: an empty row
    row = summary.set_index("state").loc["all"]
    z3 = math.log10(2.0) / (math.hypot(0.2, 0.3) / ln10)  # 1.92
    assert per_star["offset_z"].tolist() == pytest.approx([0.0, z3, 1.0])
    assert row["median_z"] == 1.0
    assert row["frac_within_1sigma"] == pytest.approx(2 / 3)  # |z| <= 1: z = 0 and z = 1
    # offsets 0, log10 2, 1 dex: median log10 2, MAD log10 2
    assert row["median_offset_dex"] == pytest.approx(math.log10(2.0))
    assert row["scatter_dex"] == pytest.approx(1.4826 * math.log10(2.0))
    # relative offsets (age - iso) / iso = 0, 1, 9: Delta_P 333 %, median 100 %, MAD 100 %
    assert row["delta_p_pct"] == pytest.approx(1000 / 3)
    assert row["scatter_pct"] == pytest.approx(148.26)


def test_isochrone_stars_need_positive_ages() -> None:
    stars = [(1, 0.0, 0.1, 1.0, 0.1, 1), (2, 0.5, 0.05, 0.5, 0.05, 1), (3, 1.0, 0.1, 0.0, 0.1, 2)]
    per_star, _ = compare_isochrone_ages(*isochrone_inputs(stars))
    assert per_star["obsid"].tolist() == [2]  # age 0 and isochrone age 0 left out; 0.5 kept
