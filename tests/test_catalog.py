"""The survey catalogue: targets, shards, the primary spectrum of a star, the FITS file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from spt.catalog.accuracy import accuracy_against_truth
from spt.catalog.fits import CatalogError, gather, read_catalog_fits, write_catalog_fits
from spt.catalog.shard import mark_primary
from spt.catalog.stars import combine_spectra
from spt.catalog.targets import (
    TARGET_COLUMNS,
    TargetError,
    read_shard,
    select_giants,
    shard_names,
    targets_from_obsids,
    write_shards,
)
from spt.io.lamost import write_catalog
from spt.model.flags import BAD_BITS, Flag


def _catalog(n: int = 7) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "obsid": np.arange(100, 100 + n),
            "designation": [f"J{i:04d}" for i in range(n)],
            "ra": np.linspace(280, 290, n), "dec": np.linspace(40, 45, n),
            "snrg": [50.0, 5.0, 80.0, np.nan, 30.0, 60.0, 20.0][:n],
            "snrr": 1.0, "snri": 1.0,
            "teff": [4700.0, 4800.0, 6000.0, 4600.0, -9999.0, 4500.0, 4900.0][:n],
            "logg": [2.5, 2.4, 4.3, 2.6, 2.5, 3.0, 2.2][:n],
            "feh": 0.0,
        }
    )  # fmt: skip


def test_giants_are_cut_by_teff_logg_and_snr() -> None:
    cuts = {"teff": [3500.0, 5600.0], "logg": [0.0, 3.8], "min_snrg": 10.0}
    kept = select_giants(_catalog(), cuts)
    # 101: S/N 5; 102: a dwarf; 103: no S/N; 104: no Teff (-9999)
    assert kept["obsid"].tolist() == [100, 105, 106]


def test_shards_are_deterministic_and_a_smaller_cut_removes_stale_files(tmp_path: Path) -> None:
    targets = targets_from_obsids_frame(tmp_path)
    assert shard_names(0, 3) == ["s00000"] and shard_names(7, 3) == ["s00000", "s00001", "s00002"]
    names = write_shards(targets, 3, tmp_path / "t")
    assert names == ["s00000", "s00001", "s00002"]
    back = pd.concat([read_shard(tmp_path / "t" / f"{n}.csv") for n in names], ignore_index=True)
    pd.testing.assert_frame_equal(back, targets)
    assert write_shards(targets, 4, tmp_path / "t") == ["s00000", "s00001"]
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["s00000.csv", "s00001.csv"]
    with pytest.raises(TargetError, match="shard_size must be >= 1"):
        shard_names(5, 0)


def targets_from_obsids_frame(tmp_path: Path) -> pd.DataFrame:
    write_catalog(_catalog(), tmp_path / "cat.csv")
    pd.DataFrame({"obsid": _catalog()["obsid"][::-1]}).to_csv(tmp_path / "all.csv", index=False)
    return targets_from_obsids(tmp_path / "all.csv", tmp_path / "cat.csv")


def test_targets_from_a_list_of_obsids(tmp_path: Path) -> None:
    targets = targets_from_obsids_frame(tmp_path)
    assert list(targets.columns) == list(TARGET_COLUMNS)
    assert targets["obsid"].tolist() == list(range(100, 107))  # sorted, joined to the catalogue
    assert targets.loc[0, "teff"] == 4700.0 and np.isnan(targets.loc[4, "teff"])  # -9999 -> NaN
    assert (targets["path"] == "").all()  # to be downloaded
    (tmp_path / "bad.csv").write_text("id\n1\n")
    with pytest.raises(TargetError, match=r"bad\.csv: no 'obsid' column"):
        targets_from_obsids(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("obsid\n1\nx\n")
    with pytest.raises(TargetError, match="1 obsid"):
        targets_from_obsids(tmp_path / "bad2.csv")


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "obsid": [3, 1, 2, 4, 5],
            "designation": ["A", "A", "A", "", ""],
            "snrg": [90.0, 40.0, 60.0, 10.0, 20.0],
            "age": [5.0, 4.0, np.nan, 2.0, 3.0],
            "age_err": [1.0, 1.0, np.nan, 0.5, 0.5],
            "age_err_mc": [0.1, 0.1, np.nan, 0.05, 0.05],
            "mass": 1.2, "mass_err": 0.1,
            "flag": [int(Flag.ANOMALY_MISSING), 0, int(Flag.UNREADABLE), 0, int(Flag.LOW_SNR)],
            "flag_warn": [True, False, True, False, True],
            "flag_bad": [True, False, True, False, False],
            "reasons": ["missing values", "", "unreadable", "", ""],
        }
    )  # fmt: skip


def test_the_primary_spectrum_is_the_best_usable_one_of_its_star() -> None:
    primary = mark_primary(_rows())
    # star A: obsid 3 has the highest S/N but is bad; 2 is unreadable: 1 is primary
    assert primary.tolist() == [False, True, False, True, True]


def test_catalogue_fits_has_units_descriptions_flags_and_provenance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i, part in enumerate((_rows().iloc[:3], _rows().iloc[3:])):
        part.to_csv(tmp_path / f"s{i}.csv", index=False)
    frame = gather([tmp_path / "s0.csv", tmp_path / "s1.csv"]).assign(ra=280.0, dec=44.0)
    assert frame["obsid"].tolist() == [1, 2, 3, 4, 5] and frame["primary"].sum() == 3
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    out = tmp_path / "cat.fits"
    provenance = {"PIPEVER": "0.1.0", "MODELMD5": "abc", "SOURCE": "test"}
    stars = combine_spectra(frame.assign(age_err_floor=0.5 * frame["age_err"]))
    write_catalog_fits(frame, out, provenance, int(BAD_BITS), stars)
    first = out.read_bytes()
    write_catalog_fits(frame, out, provenance, int(BAD_BITS), stars)
    assert out.read_bytes() == first  # reproducible with SOURCE_DATE_EPOCH
    star_table = Table.read(out, hdu="STARS")  # one row per star with an unflagged prediction
    assert star_table["star"].tolist() == ["A", "obsid:4"] and str(star_table["age"].unit) == "Gyr"
    assert star_table["n_spectra"].tolist() == [1, 1]  # star A: 3 flagged, 2 unreadable
    table = read_catalog_fits(out)
    assert len(table) == 5 and str(table["age"].unit) == "Gyr" and str(table["ra"].unit) == "deg"
    assert "MC-dropout" in table["age_err_mc"].description
    with fits.open(out) as hdul:
        head = hdul["CATALOG"].header
        cols = [head[f"TTYPE{i}"] for i in range(1, head["TFIELDS"] + 1)]
        assert "true age" in head[f"TCOMM{cols.index('age_err') + 1}"]  # TOPCAT's descriptions
        assert "floor" in hdul["STARS"].header["TCOMM6"]  # age_err of the stars
        assert (
            head["FLAG02"] == int(Flag.ANOMALY_MISSING)
            and "ANOMALY_MISSING" in head.comments["FLAG02"]
        )
        assert head["FLAGBAD"] == int(BAD_BITS)
        assert (
            hdul[0].header["MODELMD5"] == "abc" and hdul[0].header["DATE"] == "1970-01-01T00:00:00"
        )
    (tmp_path / "s2.csv").write_text(_rows().iloc[:1].to_csv(index=False))
    with pytest.raises(CatalogError, match="an obsid is in two shards"):
        gather([tmp_path / "s0.csv", tmp_path / "s2.csv"])


def test_accuracy_against_truth_counts_each_group() -> None:
    rows = _rows().assign(flag_warn=[False, False, True, False, True])
    truth = pd.DataFrame({"obsid": [1, 2, 3, 4, 5], "domain": ["in", "in", "in", "dwarf", "in"],
                          "age": [4.0, 3.0, 4.0, 4.0, 3.0], "mass": 1.2})  # fmt: skip
    table = accuracy_against_truth(rows, truth).set_index("group")
    assert table.loc["predicted", "n"] == 4  # obsid 2 has no prediction
    assert table.loc["unflagged", "n"] == 3  # obsids 3, 1 and 4
    assert table.loc["unflagged in-domain giants", "age_delta_p"] == 12.5  # 5 vs 4, 4 vs 4
    assert table.loc["unflagged out-of-domain", "age_delta_p"] == 50.0  # 2 vs 4
    assert table.loc["unflagged out-of-domain", "age_within_1sigma"] == 0.0  # |2| > 0.5
    assert table.loc["out-of-domain flagged (recall)", "fraction"] == 0.0
    assert table.loc["in-domain flagged", "fraction"] == 0.5  # 3 and 5 of 1, 2, 3, 5
    assert "age_within_p16_p84" not in table  # no interval columns: not scored
    assert "in-domain flagged, no injected anomaly" not in table.index  # truth has no anomaly
    intact = accuracy_against_truth(rows, truth.assign(anomaly=[np.nan, "", "missing", "", ""]))
    row = intact.set_index("group").loc["in-domain flagged, no injected anomaly"]
    assert row["n"] == 3 and row["fraction"] == 2 / 3  # obsids 1, 2, 5; 2 and 5 flagged
    ranged = rows.assign(age_p16=[4.5, 3.0, np.nan, 1.0, 2.0], age_p84=[5.5, 5.0, np.nan, 3.0, 4.0])
    table = accuracy_against_truth(ranged, truth).set_index("group")
    assert table.loc["predicted", "age_within_p16_p84"] == 0.5  # obsids 1 and 5 inside, 3 and 4 not
    assert not table.index.str.contains("population").any()  # one population: no split
    assert not table.index.str.contains("P\\(RC\\)").any()  # no clump probability: no bins
    # the unflagged in-domain giants (obsids 3 and 1) by their row's clump probability
    binned = rows.assign(p_red_clump=[0.999, 0.2, np.nan, 0.0, 0.5])
    table = accuracy_against_truth(binned, truth).set_index("group")
    prefix = "unflagged in-domain giants, P(RC) "
    clump, leaning = table.loc[prefix + "B4 [0.99, 1]"], table.loc[prefix + "B2 [0.01, 0.5)"]
    assert (clump["n"], clump["age_delta_p"]) == (1, 25.0)  # obsid 3: 5 vs 4
    assert (leaning["n"], leaning["age_delta_p"]) == (1, 0.0)  # obsid 1: 4 vs 4
    assert table.loc[prefix + "B1 [0, 0.01)", "n"] == 0  # obsid 4 is a dwarf, 5 is flagged
    # a shifted population is scored beside the base one
    truth["population"] = ["base", "base", "shifted", "base", "shifted"]
    table = accuracy_against_truth(rows, truth).set_index("group")
    assert table.loc["unflagged in-domain giants, base population", "n"] == 1  # obsid 1
    assert table.loc["unflagged in-domain giants, base population", "age_delta_p"] == 0.0
    assert table.loc["unflagged in-domain giants, shifted population", "n"] == 1  # obsid 3
    assert table.loc["unflagged in-domain giants, shifted population", "age_delta_p"] == 25.0
    assert table.loc["in-domain flagged, shifted population", "fraction"] == 0.5  # 5 of 3, 5
    assert table.loc["in-domain flagged, base population", "fraction"] == 0.5  # 2 of 1, 2


@pytest.mark.parametrize("labels", [("age", "mass"), ("mass",)])
def test_catalogue_figure_draws_the_labels_it_has(
    tmp_path: Path, labels, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spt.paper.plots import catalog as plots

    drawn = {}

    def keep(fig, path):  # the figure instead of the files
        drawn["fig"] = fig
        return Path(path), Path(path)

    monkeypatch.setattr(plots, "save_figure", keep)
    rows = _rows().assign(feh=0.1, teff=4700.0, logg=2.5, primary=True)
    if "age" not in labels:
        rows = rows.drop(columns=["age", "age_err", "age_err_mc"])
    bits = {str(b.name): int(b) for b in Flag}
    plots.plot_catalog(rows, bits, tmp_path / "c.pdf", note="mock")
    axes = drawn["fig"].axes
    label = labels[0]
    assert axes[0].get_ylabel().startswith(f"SPT {label}")
    assert axes[2].get_ylabel() == f"quoted {label} error (%)"
    widths = [bar.get_width() for bar in axes[3].patches]  # % of rows per flag bit
    assert widths[list(bits).index("ANOMALY_MISSING")] == 20.0  # 1 of the 5 rows
    assert widths[list(bits).index("UNREADABLE")] == 20.0
    assert widths[list(bits).index("FAR_FROM_TRAINING")] == 0.0
