"""The survey catalogue: targets, shards, the primary spectrum of a star, the FITS file."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from spt.catalog import fits as catalog_fits
from spt.catalog.accuracy import accuracy_against_truth
from spt.catalog.fits import (
    COLUMNS,
    STAR_COLUMNS,
    CatalogError,
    flag_fractions,
    gather,
    read_catalog_fits,
    to_table,
    write_catalog_fits,
)
from spt.catalog.shard import mark_primary
from spt.catalog.stars import combine_spectra
from spt.catalog.targets import (
    TARGET_COLUMNS,
    TargetError,
    read_shard,
    select_giants,
    shard_names,
    shard_size_for,
    targets_from_obsids,
    write_shards,
)
from spt.io.lamost import write_catalog
from spt.model.flags import BAD_BITS, Flag, header_cards


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


def test_shards_grow_rather_than_outnumber_max_shards() -> None:
    assert shard_size_for(5_000, 1000, 500) == 1000  # the mock survey: 5 shards of 1000
    assert shard_size_for(11_100_139, 1000, 500) == 22_201  # LAMOST DR10: 500 shards
    assert len(shard_names(11_100_139, 22_201)) == 500
    assert shard_size_for(500_001, 1000, 500) == 1001  # never more than max_shards shards
    assert len(shard_names(500_001, 1001)) == 500
    with pytest.raises(TargetError, match="max_shards must be >= 1"):
        shard_size_for(10, 1000, 0)


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


def _survey(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """Catalogue rows as shards hold them: stars observed up to four times, some spectra
    without a designation, flagged and unpredicted rows, text of varying length."""
    rng = np.random.default_rng(seed)
    star = rng.integers(0, n // 3, n)
    designation = np.array([f"J{s:06d}.{s % 7:02d}+{s % 89:06d}.0" for s in star], dtype=object)
    designation[rng.random(n) < 0.1] = ""
    flag = np.where(rng.random(n) < 0.7, 0, rng.integers(1, 64, n))
    frame = pd.DataFrame({
        "obsid": rng.permutation(n) + 700_000_000, "designation": designation,
        "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-10, 60, n),
        "snrg": np.round(rng.uniform(5, 120, n), 1), "teff": rng.normal(4800, 200, n),
        "logg": 2.5, "feh": rng.normal(-0.2, 0.3, n),
        "age": rng.uniform(1, 10, n), "age_err": rng.uniform(0.6, 2.0, n), "age_err_mc": 0.1,
        "mass": rng.uniform(0.9, 2.0, n), "mass_err": rng.uniform(0.1, 0.3, n),
        "mass_err_mc": 0.02, "age_err_floor": 0.5, "mass_err_floor": 0.08,
        "p_red_clump": rng.random(n), "flag": flag, "flag_warn": flag != 0,
        "flag_bad": (flag & int(BAD_BITS)) != 0,
        "reasons": np.where(flag != 0, np.where(rng.random(n) < 0.5, "low S/N",
                                                "missing values; outlier pixels"), ""),
    })  # fmt: skip
    frame.loc[(flag & 1) != 0, ["age", "age_err", "mass", "mass_err"]] = np.nan
    for k in ("age", "mass"):
        frame[f"{k}_p16"] = frame[k] * np.exp(-frame[f"{k}_err"] / frame[k])
        frame[f"{k}_p84"] = frame[k] * np.exp(frame[f"{k}_err"] / frame[k])
    return frame


def _split(frame: pd.DataFrame, parts: int) -> list[pd.DataFrame]:
    """``frame`` cut into ``parts`` consecutive pieces of (nearly) equal length."""
    edges = np.linspace(0, len(frame), parts + 1).astype(int)
    return [frame.iloc[a:b] for a, b in itertools.pairwise(edges)]


def _astropy_reference(frame: pd.DataFrame, path: Path, provenance: dict, bad_mask: int) -> None:
    """The catalogue as astropy writes the whole table in one go (the file before streaming):
    Table.write of CATALOG, then its EXTNAME, TCOMMn and flag cards, then STARS."""
    stars = combine_spectra(frame)
    table = to_table(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no unit that FITS cannot hold
        table.write(path, format="fits")
    with fits.open(path, mode="update") as hdul:
        hdu = hdul[1]
        hdu.name = "CATALOG"
        for i, name in enumerate(table.colnames, start=1):
            hdu.header[f"TCOMM{i}"] = table[name].description[:68]
        star_table = to_table(stars, STAR_COLUMNS)
        star_path = path.with_name("stars.fits")
        star_table.write(star_path, format="fits")
        star_hdu = fits.open(star_path)[1]
        star_hdu.name = "STARS"
        for i, name in enumerate(star_table.colnames, start=1):
            star_hdu.header[f"TCOMM{i}"] = star_table[name].description[:68]
        hdul.append(star_hdu)
        for key, value, comment in header_cards():
            hdu.header[key] = (value, comment[:47])
        hdu.header["FLAGBAD"] = (int(bad_mask), "bits that set flag_bad")
        for key, value in {**provenance, "DATE": "1970-01-01T00:00:00"}.items():
            hdul[0].header[key] = value


@pytest.mark.parametrize("bucket_bytes", [10**9, 2_000], ids=["one_bucket", "many_buckets"])
def test_streamed_catalogue_is_astropys_file_of_the_whole_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket_bytes: int
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    monkeypatch.setattr(catalog_fits, "STAR_MERGE_ROWS", 150)  # the star merge in many chunks
    monkeypatch.setattr(catalog_fits, "STAR_CHUNK_MIN", 3)
    monkeypatch.setattr(catalog_fits, "SPILL_ROWS", 50)
    star_chunks: list[int] = []
    spill = catalog_fits._spill

    def spill_and_count(path: Path, frame: pd.DataFrame) -> None:
        if path.name.startswith("stars"):
            star_chunks.append(len(frame))
        spill(path, frame)

    monkeypatch.setattr(catalog_fits, "_spill", spill_and_count)
    survey = _survey()
    paths = []
    for i, part in enumerate(_split(survey.sort_values("obsid"), 6)):
        part.to_csv(tmp_path / f"s{i}.csv", index=False)
        paths.append(tmp_path / f"s{i}.csv")
    # two shards whose obsids interleave (not cut by write_shards): gathered all the same
    last = pd.concat([pd.read_csv(p) for p in paths[4:]]).sample(frac=1, random_state=1)
    last.iloc[::2].to_csv(paths[4], index=False)
    last.iloc[1::2].to_csv(paths[5], index=False)
    provenance = {"PIPEVER": "0.1.0", "MODELMD5": "abc"}
    done = catalog_fits.write_catalog(paths[::-1], tmp_path / "cat.fits", provenance, int(BAD_BITS),
                         bucket_bytes=bucket_bytes)  # fmt: skip
    frame = gather(paths)
    _astropy_reference(frame, tmp_path / "ref.fits", provenance, int(BAD_BITS))
    assert (tmp_path / "cat.fits").read_bytes() == (tmp_path / "ref.fits").read_bytes()
    assert done.buckets == 1 if bucket_bytes > 10**6 else done.buckets > 20
    # the merge holds one chunk per bucket: chunks shrink as buckets grow, the total bounded
    assert max(star_chunks) == max(3, 150 // done.buckets)
    stars = combine_spectra(frame)
    assert (done.rows, done.primary, done.bad) == (
        len(survey),
        int(frame["primary"].sum()),
        int(frame["flag_bad"].sum()),
    )
    assert (done.stars, done.stars_multi) == (len(stars), int((stars["n_spectra"] > 1).sum()))
    assert done.stars_multi > 20  # stars observed several times, across shards
    bits = {str(b.name): int(b) for b in Flag}
    pd.testing.assert_frame_equal(done.flag_fractions(bits), flag_fractions(frame, bits))
    assert not list(tmp_path.glob(".gather-*"))  # the scratch folder is gone


def _read(path: Path, hdu: str) -> pd.DataFrame:
    """One table of a catalogue file as a frame, text as str."""
    table = Table.read(path, hdu=hdu)
    table.convert_bytestring_to_unicode()
    return table.to_pandas()


def test_a_star_observed_in_different_shards_is_one_star(tmp_path: Path) -> None:
    survey = _survey(60).sort_values("obsid").reset_index(drop=True)
    survey["designation"] = [f"J{i:03d}" for i in range(len(survey))]
    survey[["flag", "flag_warn", "flag_bad", "reasons"]] = [0, False, False, ""]
    survey[["age", "age_err", "mass", "mass_err"]] = [3.0, 1.0, 1.2, 0.2]  # all predicted
    survey.loc[[3, 31, 58], "designation"] = "JSHARED"  # first, middle and last shard
    survey.loc[[3, 31, 58], ["snrg", "age", "age_err", "age_err_floor"]] = [
        [40.0, 4.0, 1.0, 0.5], [90.0, 5.0, 1.0, 0.5], [20.0, 6.0, 2.0, 0.5]
    ]  # fmt: skip
    survey.loc[31, "flag_bad"] = True  # its best S/N is unusable: 3 is its primary spectrum
    survey.loc[31, ["flag", "flag_warn"]] = [int(Flag.ANOMALY_MISSING), True]
    paths = []
    for i, part in enumerate(_split(survey, 3)):
        part.to_csv(tmp_path / f"s{i}.csv", index=False)
        paths.append(tmp_path / f"s{i}.csv")
    catalog_fits.write_catalog(paths, tmp_path / "cat.fits", {}, int(BAD_BITS), bucket_bytes=500)
    rows = _read(tmp_path / "cat.fits", "CATALOG").set_index("obsid")
    shared = survey.loc[[3, 31, 58], "obsid"]
    assert rows.loc[shared, "primary"].tolist() == [True, False, False]
    assert rows["primary"].sum() == len(survey) - 2  # every other star has one spectrum
    stars = _read(tmp_path / "cat.fits", "STARS").set_index("star")
    assert len(stars) == len(survey) - 2 and stars.index.is_monotonic_increasing
    star = stars.loc["JSHARED"]
    assert star["n_spectra"] == 2 and star["obsid"] == survey.loc[3, "obsid"]  # 31 is flagged
    # relative noise variances: 4 -> 1/16 - 1/64, 6 -> 1/9 - 1/144; the floor counted once
    w = 1 / np.array([1 / 16 - 1 / 64, 1 / 9 - 1 / 144])
    age = np.exp(w @ np.log([4.0, 6.0]) / w.sum())
    assert star["age"] == pytest.approx(age, rel=1e-12)
    floor2 = np.mean([(0.5 / 4) ** 2, (0.5 / 6) ** 2])
    assert star["age_err"] == pytest.approx(age * np.sqrt(floor2 + 1 / w.sum()), rel=1e-12)


def test_every_column_unit_is_a_fits_unit_that_survives_the_file(tmp_path: Path) -> None:
    write_catalog_fits(_survey(30).assign(primary=True), tmp_path / "cat.fits", {}, 0,
                       combine_spectra(_survey(30)))  # fmt: skip
    with fits.open(tmp_path / "cat.fits") as hdul:
        for extname, columns in (("CATALOG", COLUMNS), ("STARS", STAR_COLUMNS)):
            head = hdul[extname].header
            names = [head[f"TTYPE{i}"] for i in range(1, head["TFIELDS"] + 1)]
            assert set(names) == set(columns)  # every column is described
            for i, name in enumerate(names, start=1):
                intended = columns[name][0]
                if intended is None:
                    assert f"TUNIT{i}" not in head, (extname, name)
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a UnitsWarning fails the test
                    unit = u.Unit(head[f"TUNIT{i}"], format="fits")
                assert unit == intended, (extname, name, head[f"TUNIT{i}"])
        head = hdul["CATALOG"].header
        feh = [head[f"TTYPE{i}"] for i in range(1, head["TFIELDS"] + 1)].index("feh") + 1
        assert "dex" in head[f"TCOMM{feh}"]  # [Fe/H]: no FITS unit, dex said in words
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = Table.read(tmp_path / "cat.fits", hdu="CATALOG")
    assert table["mass"].unit == u.Msun and table["teff"].unit == u.K
    assert table["feh"].unit is None and "dex" in table["feh"].description


def test_gathering_refuses_shards_that_disagree(tmp_path: Path) -> None:
    survey = _survey(40).sort_values("obsid")
    survey.iloc[:20].to_csv(tmp_path / "a.csv", index=False)
    survey.iloc[19:].to_csv(tmp_path / "b.csv", index=False)  # obsid 19 in both
    with pytest.raises(CatalogError, match="an obsid is in two shards"):
        catalog_fits.write_catalog(
            [tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "c.fits", {}, 0
        )
    survey.iloc[20:].drop(columns="p_red_clump").to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(CatalogError, match=r"b\.csv: columns .* differ"):
        catalog_fits.write_catalog(
            [tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "c.fits", {}, 0
        )
    (tmp_path / "b.csv").write_bytes(b"\x00\xff")
    with pytest.raises(CatalogError, match=r"b\.csv: unreadable shard"):
        catalog_fits.write_catalog(
            [tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "c.fits", {}, 0
        )
    assert not (tmp_path / "c.fits").exists() and not list(tmp_path.glob(".*"))


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
