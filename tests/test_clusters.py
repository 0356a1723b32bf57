"""Open-cluster validation: member matching and the per-cluster summary against the literature."""

from __future__ import annotations

import logging
import math

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

ARCSEC = 1.0 / 3600.0


def literature(**clusters: tuple[float, float]) -> pd.DataFrame:
    """A clusters.csv-like member table: two listed members per cluster, given (age, e_age)."""
    rows = []
    for name, (age, e_age) in clusters.items():
        for k in range(2):
            rows.append(
                {"cluster": name, "member_id": f"{name}-{k}", "RAJ2000": 10.0, "DEJ2000": 20.0,
                 "age_lit": age, "e_age_lit": e_age, "feh_lit": 0.1, "age_ref": "test"}
            )  # fmt: skip
    return pd.DataFrame(rows)


def members(cluster: str, ages: np.ndarray, mass: float = 1.3) -> pd.DataFrame:
    """Member predictions of one cluster with the given ages and a constant mass."""
    n = len(ages)
    return pd.DataFrame(
        {
            "cluster": cluster,
            "member_id": [f"{cluster}-{k:03d}" for k in range(n)],
            "obsid": np.arange(n) + 1000,
            "age": ages,
            "age_err": np.full(n, 0.5),
            "mass": np.full(n, mass),
            "mass_err": np.full(n, 0.1),
        }
    )


def test_summary_recovers_constructed_offset() -> None:
    # Three members whose robust scatter is exactly 0.4 Gyr about a median of 4 Gyr.
    d = 0.4 / 1.4826
    preds = members("A", np.array([4.0 - d, 4.0, 4.0 + d]))
    row = summarise_clusters(preds, literature(A=(3.0, 0.3))).iloc[0]
    sem = MEDIAN_SE_FACTOR * 0.4 / math.sqrt(3)
    assert row["n_used"] == 3 and row["n_listed"] == 2
    assert row["age_median"] == pytest.approx(4.0)
    assert row["age_scatter"] == pytest.approx(0.4)
    assert row["age_sem"] == pytest.approx(sem)
    assert row["age_offset"] == pytest.approx(1.0)
    assert row["age_offset_rel"] == pytest.approx(100.0 / 3.0)
    assert row["age_offset_sigma"] == pytest.approx(1.0 / math.hypot(sem, 0.3))
    assert row["age_offset_sigma"] == pytest.approx(2.4, abs=0.01)


def test_summary_of_drawn_members() -> None:
    rng = np.random.default_rng(7)
    preds = members("A", rng.normal(4.0, 0.4, 400))
    row = summarise_clusters(preds, literature(A=(3.0, 0.3))).iloc[0]
    assert row["age_offset"] == pytest.approx(1.0, abs=0.08)
    assert row["age_scatter"] == pytest.approx(0.4, rel=0.15)
    expected = 1.0 / math.hypot(MEDIAN_SE_FACTOR * 0.4 / 20.0, 0.3)
    assert row["age_offset_sigma"] == pytest.approx(expected, rel=0.1)


def test_cluster_without_members_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    preds = members("A", np.array([2.0, 2.2, 2.4]))
    with caplog.at_level(logging.WARNING, logger="spt.validation.clusters"):
        out = summarise_clusters(preds, literature(A=(2.0, 0.2), B=(5.0, 0.5)))
    assert list(out["cluster"]) == ["A", "B"]
    empty = out.set_index("cluster").loc["B"]
    assert empty["n_used"] == 0 and empty["n_listed"] == 2
    assert np.isnan(empty["age_median"]) and np.isnan(empty["age_offset_sigma"])
    assert empty["age_lit"] == 5.0
    assert "B" in caplog.text and "n_used = 0" in caplog.text


def test_config_entries_and_mass_offset() -> None:
    cfg = [
        {"name": "A", "log_age": 9.5, "e_log_age": 0.05, "feh": 0.1, "ref": "x", "mass": 1.2,
         "e_mass": 0.05},
        {"name": "B", "age": 1.5, "e_age": 0.2},
    ]  # fmt: skip
    lit = cluster_literature(cfg).set_index("cluster")
    age = 10**0.5
    assert lit.loc["A", "age_lit"] == pytest.approx(age)
    assert lit.loc["A", "e_age_lit"] == pytest.approx(age * math.log(10) * 0.05)
    assert lit.loc["B", "age_lit"] == 1.5 and np.isnan(lit.loc["A", "n_listed"])
    preds = members("A", np.full(5, age), mass=1.3)
    row = summarise_clusters(preds, cfg).set_index("cluster").loc["A"]
    assert row["mass_offset"] == pytest.approx(0.1)
    assert row["mass_offset_sigma"] == pytest.approx(0.1 / 0.05)  # no scatter: s.e. of 0
    assert row["age_offset"] == pytest.approx(0.0)


def test_single_member_uses_its_own_error() -> None:
    row = summarise_clusters(members("A", np.array([2.5])), literature(A=(2.0, 0.3))).iloc[0]
    assert np.isnan(row["age_scatter"])
    assert row["age_sem"] == 0.5
    assert row["age_offset_sigma"] == pytest.approx(0.5 / math.hypot(0.5, 0.3))


def test_summary_errors() -> None:
    preds = members("A", np.array([2.0, 2.1]))
    with pytest.raises(ClusterError, match="mass_err"):
        summarise_clusters(preds.drop(columns="mass_err"), literature(A=(2.0, 0.2)))
    with pytest.raises(ClusterError, match="no literature age"):
        summarise_clusters(preds, literature(B=(2.0, 0.2)))
    with pytest.raises(ClusterError, match="more than once"):
        summarise_clusters(pd.concat([preds, preds]), literature(A=(2.0, 0.2)))
    with pytest.raises(ClusterError, match="age_lit"):
        summarise_clusters(preds, literature(A=(2.0, 0.2)).drop(columns="age_lit"))
    with pytest.raises(ClusterError, match="log_age"):
        summarise_clusters(preds, [{"name": "A"}])


def _member_table(positions: dict[str, tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": "C",
            "member_id": list(positions),
            "RAJ2000": [p[0] for p in positions.values()],
            "DEJ2000": [p[1] for p in positions.values()],
        }
    )


def test_match_members_radius_and_best_snr() -> None:
    ra0, dec0 = 290.2, 37.7
    cos = math.cos(math.radians(dec0))
    mem = _member_table(
        {
            "a": (ra0, dec0),
            "b": (ra0 + 60 * ARCSEC / cos, dec0),
            "c": (ra0, dec0 + 120 * ARCSEC),
            "d": (ra0, dec0 - 120 * ARCSEC),
            "e": (359.9999, 0.0),  # across RA = 0
            "f": (np.nan, dec0),
        }
    )
    cat = pd.DataFrame(
        {
            "obsid": [1, 2, 3, 4, 5, 6, 7, 8],
            "ra": [ra0, ra0 + 2 * ARCSEC / cos, ra0 + 60 * ARCSEC / cos, ra0, ra0, 0.0001,
                   np.nan, ra0],
            "dec": [dec0 + 1 * ARCSEC, dec0, dec0 + 5 * ARCSEC, dec0 + 121 * ARCSEC,
                    dec0 - 118.8 * ARCSEC, 0.0, dec0, dec0 - 121.5 * ARCSEC],
            "snrg": [20.0, 50.0, 80.0, 15.0, 12.0, 30.0, 99.0, 40.0],
        }
    )  # fmt: skip
    out = match_members(mem, cat, radius_arcsec=3.0).set_index("member_id")
    assert list(out.index) == ["a", "c", "d", "e"]  # members' order; b is 5" off, f has no RA
    assert out.loc["a", "obsid"] == 2 and out.loc["a", "snrg"] == 50.0
    assert out.loc["a", "n_spectra"] == 2
    assert out.loc["a", "separation_arcsec"] == pytest.approx(2.0, abs=1e-3)
    assert out.loc["c", "obsid"] == 4
    assert out.loc["d", "obsid"] == 8 and out.loc["d", "n_spectra"] == 2
    assert out.loc["e", "obsid"] == 6
    assert out.loc["e", "separation_arcsec"] == pytest.approx(0.72, abs=0.01)
    assert list(out.columns) == ["cluster", "obsid", "separation_arcsec", "snrg", "n_spectra"]


def test_spectrum_near_two_members_goes_to_the_nearer() -> None:
    mem = _member_table({"p": (100.0, 0.0), "q": (100.0, 2 * ARCSEC)})
    cat = pd.DataFrame({"obsid": [9], "ra": [100.0], "dec": [1.5 * ARCSEC], "snrg": [30.0]})
    out = match_members(mem, cat, radius_arcsec=3.0)
    assert list(out["member_id"]) == ["q"]


def test_match_members_empty_and_errors() -> None:
    mem = _member_table({"a": (10.0, 10.0)})
    far = pd.DataFrame({"obsid": [1], "ra": [11.0], "dec": [10.0], "snrg": [30.0]})
    assert match_members(mem, far, 3.0).empty
    with pytest.raises(ValueError, match="positive"):
        match_members(mem, far, 0.0)
    with pytest.raises(ClusterError, match="snrg"):
        match_members(mem, far.drop(columns="snrg"), 3.0)
    with pytest.raises(ClusterError, match="RAJ2000"):
        match_members(mem.drop(columns="RAJ2000"), far, 3.0)


def test_inconsistent_literature_table_raises() -> None:
    lit = literature(A=(2.0, 0.2))
    lit.loc[1, "age_lit"] = 2.5
    with pytest.raises(ClusterError, match="more than one literature age"):
        cluster_literature(lit)


def test_mass_only_members_are_summarised_by_mass() -> None:
    """A model trained on mass alone: mass statistics and offsets, no age columns."""
    cfg = [{"name": "A", "age": 3.0, "e_age": 0.3, "mass": 1.2, "e_mass": 0.05},
           {"name": "B", "age": 2.0, "e_age": 0.2}]  # fmt: skip
    preds = members("A", np.full(4, 3.0), mass=1.3).drop(columns=["age", "age_err"])
    preds.loc[3, "mass"] = np.nan  # its spectrum was unusable
    out = summarise_clusters(preds, cfg).set_index("cluster")
    assert not [c for c in out.columns if c.startswith("age")]
    assert out.loc["A", "n_used"] == 3 and out.loc["B", "n_used"] == 0
    assert out.loc["A", "mass_median"] == pytest.approx(1.3)
    assert out.loc["A", "mass_offset"] == pytest.approx(0.1)
    assert out.loc["A", "mass_offset_sigma"] == pytest.approx(0.1 / 0.05)
    assert np.isnan(out.loc["B", "mass_offset"])  # no mass in the literature, no member
    with pytest.raises(ClusterError, match="mass_err"):
        summarise_clusters(preds.drop(columns="mass_err"), cfg)
