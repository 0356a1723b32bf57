"""spt.catalog: the survivors of mutation testing (benchmarks/mutation.py), each killed.

The streamed gather's bounds (rows spilled per flush, STARS blocks, buckets per byte, the
scratch rows removed once combined), its folders and timings, overlapping and unsorted
shards, a catalogue without a single star; the FITS cards' lengths; the targets from every
source and the shard arithmetic; the primary spectrum and the star combination's ties; the
accuracy and flag-capture numbers; the reasons and columns of the predictions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from spt.catalog import fits as catalog_fits
from spt.catalog import predict as catalog_predict
from spt.catalog import targets as catalog_targets
from spt.catalog.accuracy import accuracy_against_truth, flag_capture
from spt.catalog.fits import (
    Field,
    GatherSummary,
    file_md5,
    frame_fields,
    merge_fields,
    primary_header,
    table_header,
    to_table,
    write_catalog,
)
from spt.catalog.predict import Predictor, header_targets, predict_spectra, predict_targets
from spt.catalog.shard import mark_primary
from spt.catalog.stars import combine_spectra, star_buckets
from spt.catalog.targets import (
    _with_columns,
    read_shard,
    shard_names,
    shard_size_for,
    targets_from_catalog,
    targets_from_folder,
    targets_summary,
)
from spt.io.lamost import write_spectrum
from spt.io.manifest import write_manifest
from tests.support.spectra import giant


# ---------------------------------------------------------------- the streamed gather
def shard_rows(obsids, flagged: bool = False) -> pd.DataFrame:
    """Catalogue rows as a shard holds them, each spectrum its own star."""
    obsids = list(obsids)
    n = len(obsids)
    return pd.DataFrame({
        "obsid": obsids, "designation": [f"J{o:05d}" for o in obsids],
        "snrg": 50.0, "age": 3.0, "age_err": 1.0, "mass": 1.2, "mass_err": 0.2,
        "age_err_floor": 0.5, "mass_err_floor": 0.1, "flag": int(flagged) * 2,
        "flag_warn": [flagged] * n, "flag_bad": False, "reasons": "",
    })  # fmt: skip


def write_shards(folder: Path, parts) -> list[Path]:
    paths = []
    for i, obsids in enumerate(parts):
        path = folder / f"s{i}.csv"
        rows = obsids if isinstance(obsids, pd.DataFrame) else shard_rows(obsids)
        rows.to_csv(path, index=False)
        paths.append(path)
    return paths


def read_hdu(path: Path, name: str) -> pd.DataFrame:
    table = Table.read(path, hdu=name)
    table.convert_bytestring_to_unicode()
    return table.to_pandas()


def test_rows_are_spilled_every_spill_rows(tmp_path, monkeypatch) -> None:
    """Bugs: the buffered-row count not reset, counted down, compared with > or never acted
    on: the rows of every shard would be held in memory until the end."""
    monkeypatch.setattr(catalog_fits, "SPILL_ROWS", 4)
    sizes: list[int] = []
    spill = catalog_fits._spill

    def counting(path: Path, frame) -> None:
        if path.name.startswith("rows"):
            sizes.append(len(frame))
        spill(path, frame)

    monkeypatch.setattr(catalog_fits, "_spill", counting)
    parts, start = [], 1
    for n in (3, 1, 3, 3, 2):
        parts.append(range(start, start + n))
        start += n
    summary = write_catalog(write_shards(tmp_path, parts), tmp_path / "c.fits", {}, 0)
    assert sizes == [4, 6, 2]
    assert summary.rows == 12 and summary.stars == 12


def test_stars_come_in_blocks_and_the_scratch_rows_go(tmp_path, monkeypatch) -> None:
    """Bugs: the STARS merge's row count off by one, counted down or reset wrongly, the last
    block flushed early; each bucket's spilled rows left on disk once combined."""
    monkeypatch.setattr(catalog_fits, "STAR_MERGE_ROWS", 2)
    blocks: list[int] = []
    left: list[list[str]] = []
    merged = catalog_fits._merged_stars

    def watching(scratch: Path, n_buckets: int):
        left.append(sorted(p.name for p in scratch.iterdir() if p.name.startswith("rows")))
        for block in merged(scratch, n_buckets):
            blocks.append(len(block))
            yield block

    monkeypatch.setattr(catalog_fits, "_merged_stars", watching)
    paths = write_shards(tmp_path, [range(1, 4), range(4, 6)])
    write_catalog(paths, tmp_path / "c.fits", {}, 0)
    assert blocks == [2, 2, 1] and left == [[]]
    assert read_hdu(tmp_path / "c.fits", "STARS")["obsid"].tolist() == [1, 2, 3, 4, 5]


def test_a_catalogue_without_a_star(tmp_path) -> None:
    """Bug: the STARS merge asked for a block of no rows when every spectrum is flagged."""
    paths = write_shards(tmp_path, [shard_rows([1, 2], flagged=True)])
    summary = write_catalog(paths, tmp_path / "c.fits", {}, 0)
    assert (summary.rows, summary.stars) == (2, 0)
    assert len(read_hdu(tmp_path / "c.fits", "STARS")) == 0


def test_empty_shards_give_an_empty_catalogue(tmp_path) -> None:
    """Bug: no spectrum at all (every shard empty) breaks the not-primary list."""
    paths = write_shards(tmp_path, [shard_rows([]), shard_rows([])])
    summary = write_catalog(paths, tmp_path / "c.fits", {}, 0)
    assert (summary.rows, summary.primary, summary.stars) == (0, 0, 0)
    assert len(read_hdu(tmp_path / "c.fits", "CATALOG")) == 0


def test_rows_come_out_in_obsid_order(tmp_path) -> None:
    """Bugs: a cluster of overlapping shards ended at the smallest upper obsid (its last shard
    written apart, out of order); a shard not sorted by obsid written as it is."""
    paths = write_shards(tmp_path, [[1, 10], [5, 6], [8, 12], [30, 20, 25]])
    write_catalog(paths, tmp_path / "c.fits", {}, 0)
    rows = read_hdu(tmp_path / "c.fits", "CATALOG")
    assert rows["obsid"].tolist() == [1, 5, 6, 8, 10, 12, 20, 25, 30]
    assert rows["primary"].all()


def test_buckets_folders_and_seconds(tmp_path, monkeypatch) -> None:
    """Bugs: buckets from floor instead of ceil of bytes / bucket_bytes, the output's parent
    folders not made, phase times as sums of clock readings."""
    paths = write_shards(tmp_path, [range(1, 40)])
    size = os.path.getsize(paths[0])
    ticks = iter(range(1, 100))
    monkeypatch.setattr(catalog_fits, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    out = tmp_path / "a" / "b" / "c.fits"
    summary = write_catalog(paths, out, {}, 0, bucket_bytes=size * 2 // 3)
    assert summary.buckets == 2 and out.exists()
    assert summary.seconds == {"scan": 1, "stars": 1, "write CATALOG": 1, "write STARS": 1}


def test_a_bucket_holds_48_mib_of_shards(tmp_path, monkeypatch) -> None:
    """Bug: the default bucket size changed (shards of just over 48 MiB make two buckets)."""
    paths = write_shards(tmp_path, [range(1, 5)])
    real = os.path.getsize

    def size(path) -> int:
        return (48 << 20) + 1 if Path(path) == paths[0] else real(path)

    fake_os = SimpleNamespace(
        path=SimpleNamespace(getsize=size, exists=os.path.exists), environ=os.environ
    )
    monkeypatch.setattr(catalog_fits, "os", fake_os)  # fits.py's os alone: pandas uses getsize
    assert write_catalog(paths, tmp_path / "c.fits", {}, 0).buckets == 2


def test_fields_widths_and_merges() -> None:
    """Bugs: a width given to numbers or to an empty text column, int and float not merged
    into float, the kinds of a mismatch named the wrong way round, a mutable Field."""
    empty = pd.DataFrame({"t": pd.Series([], dtype=object), "x": pd.Series([], dtype=float)})
    assert frame_fields(empty) == [Field("t", "U", 0), Field("x", "f", 0)]
    assert Field("x", "i").width == 0
    assert merge_fields([Field("x", "i")], [Field("x", "f")], "s") == [Field("x", "f", 0)]
    assert merge_fields([Field("t", "U", 2)], [Field("t", "U", 5)], "s") == [Field("t", "U", 5)]
    with pytest.raises(catalog_fits.CatalogError, match=r"^s2: column 'x' is U here, i else"):
        merge_fields([Field("x", "i")], [Field("x", "U", 3)], "s2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Field("x", "i").width = 3  # type: ignore[misc]
    summary = GatherSummary()
    assert (summary.shards, summary.buckets, summary.bit_counts.shape) == (0, 0, (64,))


def test_shards_with_other_columns_are_named_the_right_way_round(tmp_path) -> None:
    """Bug: the first shard's columns reported as the odd shard's."""
    a = shard_rows([1, 2])
    b = shard_rows([3]).drop(columns="reasons")
    paths = write_shards(tmp_path, [a, b])
    with pytest.raises(catalog_fits.CatalogError) as info:
        write_catalog(paths, tmp_path / "c.fits", {}, 0)
    assert str(info.value).startswith(f"{paths[1]}: columns {list(b.columns)} differ from the "
                                      f"other shards' {list(a.columns)}")  # fmt: skip


def test_long_texts_fit_their_cards() -> None:
    """Bugs: descriptions, comments, keywords or values cut one character too long: a
    CONTINUE or HIERARCH card, or a comment astropy truncates with a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        header, _ = table_header([Field("x", "f")], {"x": (None, "d" * 80)}, "T", 3,
                                 [("KEY", 1, "c" * 60)])  # fmt: skip
        prim = primary_header({"longkeyword": "v" * 80})
    assert header["TCOMM1"] == "d" * 68 and header.comments["KEY"] == "c" * 47
    assert prim["LONGKEYW"] == "v" * 68
    for h in (header, prim):
        text = h.tostring()
        assert "CONTINUE" not in text and "HIERARCH" not in text


def test_md5_and_extra_columns() -> None:
    """Bugs: the checksum of a file read in blocks of 0 bytes or never updated; columns the
    catalogue does not describe dropped from the table."""
    path = Path(__file__)
    assert file_md5(path) == hashlib.md5(path.read_bytes()).hexdigest()
    table = to_table(pd.DataFrame({"foo": [1], "obsid": [5]}))
    assert table.colnames == ["obsid", "foo"]


# ---------------------------------------------------------------- targets
CUTS = {"teff": [4000.0, 5500.0], "logg": [1.0, 3.5], "min_snrg": 10.0}


def catalogue() -> pd.DataFrame:
    return pd.DataFrame({
        "obsid": [11, 12, 13, 14], "designation": ["J1", "J2", "J3", "J4"],
        "ra": [1.0, 2.0, 3.0, 4.0], "dec": [5.0, 6.0, 7.0, 8.0],
        "snrg": [50.0, 50.0, 5.0, 40.0], "teff": [4800.0, 6500.0, 4800.0, 4700.0],
        "logg": [2.5, 4.4, 2.5, 2.6], "feh": [0.0, 0.1, -0.2, -0.1],
    })  # fmt: skip


def test_targets_from_each_kind_of_catalogue(tmp_path) -> None:
    """Bugs: the CSV reader taken for a FITS file or without cuts, a FITS catalogue left
    uncut, the manifest's arguments swapped, a missing file reported as an unreadable CSV."""
    cat = catalogue()
    cat.to_csv(tmp_path / "c.csv", index=False)
    Table.from_pandas(cat).write(tmp_path / "c.fits")
    giants = [11, 14]
    assert targets_from_catalog(tmp_path / "c.csv", CUTS)["obsid"].tolist() == giants
    assert targets_from_catalog(tmp_path / "c.fits", CUTS)["obsid"].tolist() == giants
    every = targets_from_catalog(tmp_path / "c.csv", None)
    assert every["obsid"].tolist() == [11, 12, 13, 14] and every["teff"][1] == 6500.0
    write_manifest([14, 12], ["s/14.fits.gz", "s/12.fits.gz"], tmp_path / "m.csv")
    found = targets_from_catalog(tmp_path / "c.fits", CUTS, tmp_path / "m.csv")
    assert found["path"].tolist() == ["", "s/14.fits.gz"]
    with pytest.raises(FileNotFoundError):
        targets_from_catalog(tmp_path / "absent.csv", CUTS)


def test_a_repeated_obsid_counts_by_its_first_row(tmp_path) -> None:
    """Bug: the chunk offsets shifted by one: the wrong row's repetition looked up (and the
    last row past the end)."""
    cat = pd.concat([catalogue(), catalogue().iloc[[1]].assign(obsid=11)], ignore_index=True)
    cat = pd.concat([cat, catalogue().iloc[[0]].assign(obsid=15)], ignore_index=True)
    cat.to_csv(tmp_path / "c.csv", index=False)
    for chunk_rows in (2, 100):
        got = targets_from_catalog(tmp_path / "c.csv", CUTS, chunk_rows=chunk_rows)
        assert got["obsid"].tolist() == [11, 14, 15]


def test_targets_from_a_folder(tmp_path) -> None:
    """Bugs: the catalogue not read or not joined (or its arguments swapped), columns it lacks
    asked of it, obsid or path taken from it."""
    folder = tmp_path / "spectra"
    folder.mkdir()
    for obsid in (12, 11):
        spec = giant(obsid)
        spec.obsid = obsid
        write_spectrum(folder / f"x{obsid}.fits", spec)
    catalogue()[["obsid", "designation", "snrg", "ra", "dec"]].to_csv(
        tmp_path / "c.csv", index=False
    )
    alone, problems = targets_from_folder(folder)
    assert alone["obsid"].tolist() == [11, 12] and alone["designation"].tolist() == ["", ""]
    assert len(problems) == 0
    joined, _ = targets_from_folder(folder, tmp_path / "c.csv")
    assert joined["designation"].tolist() == ["J1", "J2"]
    assert joined["snrg"].tolist() == [50.0, 50.0] and joined["ra"].tolist() == [1.0, 2.0]
    assert joined["path"].tolist() == [str(folder / "x11.fits"), str(folder / "x12.fits")]
    assert joined["teff"].isna().all()


def test_target_columns_and_shards(tmp_path) -> None:
    """Bugs: missing numeric columns filled with "" (text ones with NaN); one shard or one
    spectrum per shard refused; a designation reading like NA lost; the summary's counts."""
    filled = _with_columns(pd.DataFrame({"obsid": [2, 1]}))
    assert filled["obsid"].tolist() == [1, 2] and filled["teff"].isna().all()
    assert filled["designation"].tolist() == ["", ""] and filled["path"].tolist() == ["", ""]
    assert shard_size_for(10, 3, 1) == 10 and shard_size_for(5, 1, 10) == 1
    assert shard_names(3, 1) == ["s00000", "s00001", "s00002"]
    assert catalog_targets.write_shards(filled, 1, tmp_path / "a" / "b") == ["s00000", "s00001"]
    (tmp_path / "s.csv").write_text(
        "obsid,path,designation,ra,dec,snrg,teff,logg,feh\n1,,NA,1,2,3,4,5,6\n"
    )
    assert read_shard(tmp_path / "s.csv")["designation"].tolist() == ["NA"]
    targets = _with_columns(pd.DataFrame({"obsid": [1, 2, 3], "path": ["a", "", "c"]}))
    summary = targets_summary(targets, ["s00000", "s00001"], 2)
    assert summary.to_dict("list") == {
        "quantity": ["targets", "with_file", "shards", "shard_size"],
        "count": [3, 2, 2, 2],
    }
    assert targets_summary(targets, ["s00000"])["quantity"].tolist() == [
        "targets", "with_file", "shards"
    ]  # fmt: skip


# ---------------------------------------------------------------- stars
def test_primary_and_star_ties() -> None:
    """Bugs: a spectrum without S/N taken for the best; a tie in S/N not broken by the lowest
    obsid; two buckets treated as one."""
    rows = pd.DataFrame({"obsid": [1, 2], "designation": ["A", "A"], "snrg": [np.nan, 5.0],
                         "flag_bad": False})  # fmt: skip
    assert mark_primary(rows).tolist() == [False, True]
    tie = shard_rows([9, 5]).assign(designation="A")
    assert combine_spectra(tie)["obsid"].tolist() == [5]
    many = shard_rows(range(1, 41))
    assert set(star_buckets(many, 2).tolist()) == {0, 1}


# ---------------------------------------------------------------- accuracy on the mock
def test_accuracy_numbers() -> None:
    """Bugs: labels scored that the truth lacks, residuals as sums, coverage's arguments
    swapped, 2 sigma as 3 sigma or 2 / sigma, medians for shares, the p16/p84 bounds
    exclusive, a single population split, the populations' shares swapped."""
    truth = pd.DataFrame({
        "obsid": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "domain": ["in"] * 6 + ["dwarf"] * 3,
        "population": ["base"] * 3 + ["shifted"] * 3 + ["base"] * 3,
        "anomaly": ["", "", "", "", "cosmic", "", "", "", ""],
        "age": [2.0, 4.0, 6.0, 8.0, 3.0, 5.0, 5.0, 5.0, 5.0],
    })  # fmt: skip
    residual = np.array([0.25, 0.0, 1.25, 0.0, 0.75, 0.0, 0.0, 0.4, 0.0])
    catalog = pd.DataFrame({
        "obsid": truth["obsid"], "age": truth["age"] + residual, "age_err": 0.5,
        "age_p16": [2.0, 3.0, 7.0, 7.0, 2.0, 4.0, 4.0, 4.0, 4.0],
        "age_p84": [3.0, 4.0, 9.0, 9.0, 4.0, 6.0, 6.0, 6.0, 6.0],
        "mass": 1.0, "mass_err": 0.1,
        "flag_warn": [False, False, False, True, False, False, True, False, False],
    })  # fmt: skip
    out = accuracy_against_truth(catalog, truth).set_index("group")
    assert "mass_delta_p" not in out.columns
    unflagged = out.loc["unflagged"]  # rows 1, 2, 3, 5, 6, 8, 9
    assert unflagged["n"] == 7
    assert unflagged["age_within_1sigma"] == pytest.approx(5 / 7)
    assert unflagged["age_within_2sigma"] == pytest.approx(6 / 7)  # 1.25 is beyond 2 sigma
    giants = out.loc["unflagged in-domain giants"]  # rows 1, 2, 3, 5, 6
    assert giants["age_within_1sigma"] == pytest.approx(3 / 5)
    assert giants["age_within_2sigma"] == pytest.approx(4 / 5)
    assert giants["age_within_p16_p84"] == pytest.approx(4 / 5)  # 2 = lo and 4 = hi count
    assert out.loc["predicted", "age_within_1sigma"] == pytest.approx(7 / 9)
    assert out.loc["out-of-domain flagged (recall)", "fraction"] == pytest.approx(1 / 3)
    assert out.loc["in-domain flagged", "fraction"] == pytest.approx(1 / 6)
    assert out.loc["in-domain flagged, no injected anomaly", "fraction"] == pytest.approx(1 / 5)
    assert out.loc["in-domain flagged, shifted population", "fraction"] == pytest.approx(1 / 3)
    assert out.loc["in-domain flagged, base population", "fraction"] == pytest.approx(0.0)
    three = truth.assign(domain="in", population="base").iloc[:3]
    one = accuracy_against_truth(catalog.iloc[:3].assign(flag_warn=[True, False, False]), three)
    assert not one["group"].str.contains("population").any()
    assert one.set_index("group").loc["in-domain flagged", "fraction"] == pytest.approx(1 / 3)


def test_flag_capture_numbers() -> None:
    """Bugs: medians for precision and shares, in-domain rates taken over out-of-domain stars
    (or given only when there are some), the domains in order of appearance."""
    catalog = pd.DataFrame({
        "obsid": [1, 2, 3, 4, 5, 6, 7],
        "flag": [1, 1, 1, 0, 0, 0, 0],
        "flag_warn": [True, True, True, False, False, False, False],
        "flag_bad": [True, False, True, False, False, True, False],
    })  # fmt: skip
    truth = pd.DataFrame({"obsid": [1, 2, 3, 4, 5, 6, 7],
                          "domain": ["in", "hot", "in", "in", "hot", "dwarf", "in"]})  # fmt: skip
    out = flag_capture(catalog, truth)
    bits = out[out["kind"] == "bit"].set_index("name")
    warn = bits.loc["flag_warn"]
    assert warn["n"] == 3 and warn["precision"] == pytest.approx(1 / 3)
    assert warn["recall"] == pytest.approx(1 / 3) and warn["in_domain_rate"] == pytest.approx(1 / 2)
    bad = bits.loc["flag_bad"]
    assert bad["precision"] == pytest.approx(1 / 3) and bad["in_domain_rate"] == pytest.approx(
        1 / 2
    )
    domains = out[out["kind"] == "domain"]
    assert domains["name"].tolist() == ["dwarf", "hot", "in"]
    assert domains["bad_fraction"].tolist() == pytest.approx([1.0, 0.0, 1 / 2])
    assert domains["warn_fraction"].tolist() == pytest.approx([0.0, 0.5, 1 / 2])
    inside = flag_capture(catalog, truth.assign(domain="in")).set_index("name")
    assert inside.loc["flag_warn", "in_domain_rate"] == pytest.approx(3 / 7)
    assert np.isnan(inside.loc["flag_warn", "recall"])


# ---------------------------------------------------------------- predictions
def fake_predictor() -> Predictor:
    cfg = {"wave_min": 4000.0, "wave_max": 4010.0, "log_step": 1e-4}
    return Predictor(None, None, {}, (None, None), cfg, {}, 2, 0)  # type: ignore[arg-type]


@pytest.fixture
def fake_chain(monkeypatch):
    """The preprocessing and the network replaced by stand-ins: the chunks they see."""
    seen: list[dict] = []

    def preprocess(paths, obsids, grid, cfg, workers, anomaly_cfg, template):
        seen.append({"n": len(paths), "workers": workers})
        report = pd.DataFrame({
            "problem": ["unreadable" if str(o).endswith("3") else np.nan for o in obsids],
            "reasons": ["outlier pixels" if int(o) % 2 else "" for o in obsids],
        })  # fmt: skip
        return report, {"flux": np.zeros((len(paths), 1)), "ivar": np.zeros((len(paths), 1))}

    def predict(model, trust, flux, ivar, pca, snr, params, report, passes, seed, ids):
        return pd.DataFrame({"age": np.arange(len(flux), dtype=float)})

    monkeypatch.setattr(catalog_predict, "preprocess_arrays", preprocess)
    monkeypatch.setattr(catalog_predict, "predict_trusted", predict)
    return seen


def test_predicted_rows_reasons_and_chunks(fake_chain) -> None:
    """Bugs: the anomaly reasons dropped, empty or "nan" parts joined in, problem and reasons
    in the other order, a chunked result with a repeated index, other default chunks or
    workers."""
    targets = _with_columns(pd.DataFrame({"obsid": np.arange(1, 301)}))
    rows = predict_targets(fake_predictor(), targets)
    assert [c["n"] for c in fake_chain] == [256, 44] and {c["workers"] for c in fake_chain} == {1}
    assert rows.index.equals(pd.RangeIndex(300))
    reasons = rows.set_index("obsid")["reasons"]
    assert reasons[2] == "" and reasons[1] == "outlier pixels"
    assert reasons[13] == "unreadable; outlier pixels" and reasons[4] == ""


def test_predict_spectra_columns_and_header_targets(fake_chain, tmp_path) -> None:
    """Bugs: path and LAMOST class columns put elsewhere; the obsid not taken from a file
    name's leading digits; DR9's S/N of 99 taken for DR1's no-value marker; -9990 kept."""
    for name in ("77.fits", "x.fits"):
        (tmp_path / name).write_bytes(b"not a spectrum")
    rows = predict_spectra([tmp_path / "77.fits", tmp_path / "x.fits"], fake_predictor())
    assert list(rows.columns[:4]) == ["obsid", "path", "lamost_class", "designation"]
    assert rows["obsid"].tolist() == [77, -1] and [c["workers"] for c in fake_chain] == [1]
    fake_chain.clear()
    assert len(predict_spectra([tmp_path / "77.fits"] * 260, fake_predictor())) == 260
    assert [c["n"] for c in fake_chain] == [256, 4]
    for name, snrg in (("a.fits", 99.0), ("b.fits", -9990.0)):
        spec = giant(5)
        spec.header = {"OBSID": 5, "DATA_V": "LAMOST DR9", "SNRG": snrg}
        write_spectrum(tmp_path / name, spec)
    targets = header_targets([tmp_path / "a.fits", tmp_path / "b.fits"])
    assert targets["snrg"][0] == 99.0 and np.isnan(targets["snrg"][1])


def test_fits_file_reads_back(tmp_path) -> None:
    """The catalogue written for the tests above is a FITS file astropy opens."""
    paths = write_shards(tmp_path, [[1, 2]])
    write_catalog(paths, tmp_path / "c.fits", {"PIPEVER": "1"}, 0)
    with fits.open(tmp_path / "c.fits") as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "CATALOG", "STARS"]
