"""SPT vs isochrone ages: offsets per evolutionary state are recovered from constructed stars."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spt.validation.isochrones import (
    SUMMARY_STATES,
    IsochroneComparisonError,
    compare_isochrone_ages,
    no_age_comparison,
)

OFFSET_DEX = {1: 0.05, 2: -0.10}  # injected SPT - isochrone offsets (RGB, red clump)


def constructed(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Predictions, isochrone ages and matched states with a known offset per state."""
    rng = np.random.default_rng(seed)
    n_rgb, n_rc = 300, 200
    n = n_rgb + n_rc
    phase = np.r_[np.ones(n_rgb, int), np.full(n_rc, 2)]
    iso_age = 10 ** rng.uniform(0.0, 1.0, n)
    shift = np.where(phase == 1, OFFSET_DEX[1], OFFSET_DEX[2])
    age = iso_age * 10 ** (shift + 0.02 * rng.standard_normal(n))
    obsid = np.arange(n) + 5000
    pred = pd.DataFrame(
        {"obsid": obsid, "kic": obsid + 1, "age": age, "age_err": 0.1 * age,
         "mass": 1.2, "mass_err": 0.1, "age_true": iso_age, "mass_true": 1.2}
    )  # fmt: skip
    iso = pd.DataFrame(
        {"obsid": obsid, "ra": 0.0, "dec": 0.0, "age_iso": iso_age, "e_age_iso": 0.3 * iso_age}
    )
    matched = pd.DataFrame({"obsid": obsid, "kic": obsid + 1, "phase": phase, "feh": 0.0})
    return pred, iso, matched


def test_recovers_injected_offset_per_state() -> None:
    per_star, summary = compare_isochrone_ages(*constructed())
    s = summary.set_index("state")
    assert list(summary["state"]) == ["RGB", "red clump", "all"]
    assert s.loc["RGB", "n"] == 300 and s.loc["red clump", "n"] == 200 and s.loc["all", "n"] == 500
    e_dex = math.hypot(0.1, 0.3) / math.log(10)
    for phase, state in ((1, "RGB"), (2, "red clump")):
        off = OFFSET_DEX[phase]
        assert s.loc[state, "median_offset_dex"] == pytest.approx(off, abs=0.005)
        assert s.loc[state, "scatter_dex"] == pytest.approx(0.02, abs=0.005)
        assert s.loc[state, "median_offset_pct"] == pytest.approx(100 * (10**off - 1), abs=1.5)
        assert s.loc[state, "median_z"] == pytest.approx(off / e_dex, abs=0.05)
        assert s.loc[state, "frac_within_1sigma"] > 0.9
    assert per_star["e_offset_dex"].to_numpy() == pytest.approx(e_dex)
    assert set(per_star["state"]) == {"RGB", "red clump"}


def test_join_on_obsid_and_unknown_state() -> None:
    pred, iso, matched = constructed()
    iso = iso.iloc[:450]  # 50 red-clump stars have no isochrone age
    matched = matched.iloc[10:]  # 10 RGB stars have no evolutionary state
    iso.loc[iso.index[20], "age_iso"] = 0.0  # a non-positive isochrone age is left out
    per_star, summary = compare_isochrone_ages(pred, iso, matched)
    s = summary.set_index("state")
    assert s.loc["all", "n"] == 449
    assert s.loc["RGB", "n"] == 289 and s.loc["red clump", "n"] == 150
    assert (per_star["state"] == "unknown").sum() == 10
    assert per_star["obsid"].is_monotonic_increasing


def test_join_on_kic_when_the_catalogue_has_no_obsid() -> None:
    """A real isochrone catalogue (Berger+2020) knows KIC numbers, not LAMOST spectra."""
    pred, iso, matched = constructed()
    by_kic = iso.drop(columns=["obsid"]).assign(kic=pred["kic"]).iloc[::-1]
    per_kic, summary_kic = compare_isochrone_ages(pred, by_kic, matched)
    per_obsid, summary_obsid = compare_isochrone_ages(pred, iso, matched)
    pd.testing.assert_frame_equal(per_kic, per_obsid)
    pd.testing.assert_frame_equal(summary_kic, summary_obsid)
    with pytest.raises(IsochroneComparisonError, match=r"predictions lack.*\['kic'\]"):
        compare_isochrone_ages(pred.drop(columns=["kic"]), by_kic, matched)


def test_missing_errors_give_nan_z() -> None:
    pred, iso, matched = constructed()
    per_star, summary = compare_isochrone_ages(pred.assign(age_err=np.nan), iso, matched)
    assert per_star["offset_z"].isna().all()
    assert summary["n_z"].eq(0).all() and summary["median_z"].isna().all()
    assert summary.set_index("state").loc["all", "median_offset_dex"] == pytest.approx(
        np.median(per_star["offset_dex"])
    )


def test_errors() -> None:
    pred, iso, matched = constructed()
    with pytest.raises(IsochroneComparisonError, match="phase"):
        compare_isochrone_ages(pred, iso, matched.drop(columns="phase"))
    with pytest.raises(IsochroneComparisonError, match="e_age_iso"):
        compare_isochrone_ages(pred, iso.drop(columns="e_age_iso"), matched)
    with pytest.raises(IsochroneComparisonError, match="no star"):
        compare_isochrone_ages(pred, iso.assign(obsid=iso["obsid"] + 10**6), matched)


def test_no_age_comparison_has_the_columns_and_no_star() -> None:
    """A mass-only model: the same two tables as a real comparison, with no star (n = 0)."""
    per_star, summary = no_age_comparison()
    real_star, real_summary = compare_isochrone_ages(*constructed())
    assert per_star.empty and set(real_star.columns) <= set(per_star.columns)
    assert list(summary.columns) == list(real_summary.columns)
    assert summary["state"].tolist() == list(SUMMARY_STATES) and summary["n"].eq(0).all()
    assert summary.drop(columns=["state", "n"]).isna().all().all()
    pred, iso, matched = constructed()
    with pytest.raises(IsochroneComparisonError, match="age"):
        compare_isochrone_ages(pred.drop(columns=["age", "age_err"]), iso, matched)
