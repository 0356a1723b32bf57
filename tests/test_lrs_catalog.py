"""The LAMOST LRS stellar catalogue path (catalog.targets: lamost) against a loopback archive.

fetch_lrs_catalog downloads the gzipped CSV, targets_from_catalog / select_giants cut it to
giants with the configured default cuts. The catalogue is built here in the column layout of
LAMOST's DR9 v2.0 LRS A/F/G/K stellar parameter catalogue (values made up); no network.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spt.catalog.targets import TargetError, select_giants, targets_from_catalog
from spt.io.lamost import read_catalog
from spt.sources.lamost_archive import (
    ArchiveError,
    fetch_lrs_catalog,
    lrs_catalog_url,
    validate_lrs_catalog,
)
from tests.support.loopback import LoopbackServer, Route, isolate_network

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
TEMPLATE = CONFIG["catalog"]["lamost"]["catalog_url"]
CUTS = CONFIG["catalog"]["lamost"]["cuts"]
RELEASE = "dr9/v2.0"
PATH = f"/{RELEASE}/catdl"  # what the configured template asks for, the query apart
TOKEN_ENV = "SPT_TEST_LRS_TOKEN"
TOKEN = "s3cr3t-lrs-token"
#: Short waits: a retry that should not happen shows as a second request, not as a slow test.
DOWNLOAD = {"retries": 3, "backoff_s": 0.05, "max_backoff_s": 0.2, "timeout_s": 5.0}

#: The giants the default cuts (Teff 3500-5600 K, log g 0-3.8, S/N g >= 10) must keep.
GIANTS = (747505001, 747505002, 747505003, 747505004, 747505005)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_network(monkeypatch)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def _lamost(server: LoopbackServer) -> dict[str, str]:
    return {"base_url": server.url + "/", "release": RELEASE, "token_env": TOKEN_ENV}


def lrs_catalogue() -> pd.DataFrame:
    """Rows in the DR9 v2.0 LRS stellar catalogue's layout: input ``ra``/``dec`` beside the
    fibre's ``ra_obs``/``dec_obs``, S/N in five bands, magnitudes with 99 for none, and
    -9999 for every parameter LASP did not measure."""
    # obsid, teff, logg, feh, snrg, what it is
    stars = [
        (747505001, 4750.0, 2.45, -0.12, 55.3, "giant"),
        (747505002, 5210.0, 3.10, 0.05, 10.0, "giant at the S/N limit (>= 10)"),
        (747505003, 4010.0, 1.62, -9999.0, 120.8, "giant without [Fe/H]"),
        (747505004, 4480.0, 2.71, 0.21, 31.4, "giant, teff_err -9999, mag 99"),
        (747505005, 5590.0, 3.79, -0.40, 18.9, "giant at the Teff and log g edges"),
        (747505101, 5120.0, 4.52, 0.10, 80.2, "dwarf (log g)"),
        (747505102, 4950.0, 3.92, -0.05, 44.0, "subgiant (log g)"),
        (747505103, 6540.0, 3.50, -0.30, 61.7, "hot (Teff)"),
        (747505104, 3390.0, 1.20, 0.00, 25.0, "too cool (Teff)"),
        (747505105, 4600.0, 2.50, -0.20, 9.6, "low S/N"),
        (747505106, 4700.0, -9999.0, -9999.0, 40.0, "no log g"),
        (747505107, -9999.0, 2.30, -9999.0, 40.0, "no Teff"),
        (747505108, 4800.0, 2.60, 0.00, -9999.0, "no g-band S/N"),
    ]
    obsid, teff, logg, feh, snrg, _ = (list(c) for c in zip(*stars, strict=True))
    n = len(stars)
    rng = np.random.default_rng(9)
    ra = np.round(rng.uniform(280.0, 300.0, n), 7)
    dec = np.round(rng.uniform(36.0, 52.0, n), 7)
    designation = [
        f"J{int(r / 15):02d}{int(r % 15 * 4):02d}{(r * 240) % 60:05.2f}+{int(d):02d}"
        f"{int(d % 1 * 60):02d}{(d * 3600) % 60:04.1f}"
        for r, d in zip(ra, dec, strict=True)
    ]
    mag = np.round(rng.uniform(11.0, 16.0, (7, n)), 2)
    mag[2, 3] = 99.0  # no magnitude
    frame = pd.DataFrame(
        {
            "obsid": obsid,
            "uid": [f"G{o}" for o in obsid],
            "gp_id": np.arange(n) + 880001,
            "designation": designation,
            "obsdate": "2019-05-23",
            "lmjd": 58627,
            "mjd": 58626,
            "planid": "KP192315N444136V01",
            "spid": (np.arange(n) % 16) + 1,
            "fiberid": np.arange(n) + 101,
            "ra_obs": ra + 1e-5,  # the fibre's position, next to the input one
            "dec_obs": dec - 1e-5,
            "snru": np.round(np.array(snrg) * 0.2, 2),
            "snrg": snrg,
            "snrr": np.round(np.abs(snrg) * 1.6, 2),
            "snri": np.round(np.abs(snrg) * 2.1, 2),
            "snrz": np.round(np.abs(snrg) * 1.5, 2),
            "objtype": "Star",
            "class": "STAR",
            "subclass": "K1",
            "z": -0.0001,
            "z_err": 0.00001,
            "magtype": "gri",
            **{f"mag{i + 1}": mag[i] for i in range(7)},
            "tsource": "KIC",
            "fibertype": "Obj",
            "tfrom": "KP",
            "tcomment": "",
            "offsets": 0,
            "offset_v": 0.0,
            "ra": ra,
            "dec": dec,
            "fibermask": 0,
            "with_norm_flux": 1,
            "gaia_source_id": 2100000000000000000 + np.arange(n),
            "gaia_g_mean_mag": np.round(mag[1] - 0.3, 4),
            "teff": teff,
            "teff_err": [-9999.0 if o == 747505004 else 45.2 for o in obsid],
            "logg": logg,
            "logg_err": 0.07,
            "feh": feh,
            "feh_err": 0.05,
            "rv": -23.5,
            "rv_err": 4.1,
        }
    )
    return frame


def gzipped_csv(frame: pd.DataFrame) -> bytes:
    return gzip.compress(frame.to_csv(index=False).encode())


def test_catalogue_is_fetched_gzipped_and_cut_to_the_constructed_giants(tmp_path: Path) -> None:
    """(a) Catches: a reader that cannot take the gzipped CSV, a cut that keeps -9999 rows or
    loses the inclusive edges (S/N exactly 10, log g 3.79), -9999 [Fe/H] passed on as a value,
    the fibre position (ra_obs) taken for the input one, a file stored under a name or in a
    form that the next rule cannot read."""
    catalogue = lrs_catalogue()
    routes = {PATH: Route(gzipped_csv(catalogue), content_type="application/x-gzip")}
    dest = tmp_path / "resources" / "lamost" / "lrs_stellar.csv.gz"
    with LoopbackServer(routes, max_requests=5, lifetime=30) as server:
        got = fetch_lrs_catalog(TEMPLATE, _lamost(server), DOWNLOAD, dest)
        (request,) = server.requests
        # A valid file already in place is not asked for again (Snakemake reruns, resumes).
        assert fetch_lrs_catalog(TEMPLATE, _lamost(server), DOWNLOAD, dest) == dest
        assert server.count() == 1
    assert request.query == {"name": ["dr9_v2.0_LRS_stellar.csv.gz"], "token": [TOKEN]}
    assert got == dest and dest.read_bytes()[:2] == b"\x1f\x8b"  # stored as served: gzip
    assert not dest.with_name(dest.name + ".part").exists()

    table = read_catalog(dest)
    assert len(table) == len(catalogue)
    assert np.isnan(table.set_index("obsid").loc[747505106, "logg"])  # -9999 -> NaN

    targets = targets_from_catalog(dest, CUTS)
    assert targets["obsid"].tolist() == list(GIANTS)
    assert select_giants(table, CUTS)["obsid"].tolist() == list(GIANTS)
    by_obsid = targets.set_index("obsid")
    expected = catalogue.set_index("obsid").loc[list(GIANTS)]
    np.testing.assert_allclose(by_obsid["ra"], expected["ra"])  # input position, not ra_obs
    np.testing.assert_allclose(by_obsid["teff"], expected["teff"])
    assert by_obsid["designation"].tolist() == expected["designation"].tolist()
    assert np.isnan(by_obsid.loc[747505003, "feh"])  # LAMOST's -9999, not a metallicity
    assert (by_obsid["path"] == "").all()  # spectra still to be downloaded by the shards


def test_select_giants_never_cuts_on_no_value_markers() -> None:
    """A frame not read by read_catalog still holds -9999; with a wide log g range a naive cut
    would keep the star without log g. Catches: cutting on the raw marker."""
    raw = lrs_catalogue()
    wide = {**CUTS, "logg": [-1e5, 3.8]}
    kept = select_giants(raw, wide)["obsid"].tolist()
    assert 747505106 not in kept and kept == list(GIANTS)
    with pytest.raises(TargetError, match=r"\['snrg'\]"):
        select_giants(raw.drop(columns="snrg"), CUTS)


def test_a_server_fault_is_retried(tmp_path: Path) -> None:
    """(b) HTTP 503, then the file. Catches: a 5xx treated as final, or a retry that appends
    the second body to the first attempt's bytes."""
    body = gzipped_csv(lrs_catalogue())
    routes = {PATH: Route(body, faults=["503", "ok"])}
    dest = tmp_path / "lrs_stellar.csv.gz"
    with LoopbackServer(routes, max_requests=5, lifetime=30) as server:
        fetch_lrs_catalog(TEMPLATE, _lamost(server), DOWNLOAD, dest)
        assert server.count(PATH) == 2
    assert dest.read_bytes() == body
    assert targets_from_catalog(dest, CUTS)["obsid"].tolist() == list(GIANTS)


def test_an_html_page_served_with_200_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    """(c) Catches: an error page accepted as a one-column CSV (pandas reads it without
    complaint), a file left at the destination for the next rule to choke on, the token in the
    message."""
    page = (
        b"<!DOCTYPE html>\n<html><head><title>LAMOST DR9 - Login required</title></head>"
        b"<body><p>Please log in to download catalogues.</p></body></html>\n"
    )
    routes = {PATH: Route(page, content_type="text/html")}
    dest = tmp_path / "lrs_stellar.csv.gz"
    with LoopbackServer(routes, max_requests=5, lifetime=30) as server:
        url = lrs_catalog_url(server.url, RELEASE, TEMPLATE)
        with pytest.raises(ArchiveError) as caught:
            fetch_lrs_catalog(TEMPLATE, _lamost(server), DOWNLOAD, dest)
        assert server.count(PATH) == 1  # a wrong file is not fetched again and again
    message = str(caught.value)
    assert url in message and "HTML page" in message and "Login required" in message
    assert TOKEN not in message
    assert list(tmp_path.iterdir()) == []  # neither the file nor a .part


def test_a_404_fails_at_once_naming_the_url(tmp_path: Path) -> None:
    """(d) Catches: a 4xx retried with back-off (here 4 attempts; with the real back-off
    minutes), a message without the URL, the token in the message."""
    slow = {**DOWNLOAD, "backoff_s": 2.0, "max_backoff_s": 2.0}
    dest = tmp_path / "lrs_stellar.csv.gz"
    with LoopbackServer({}, max_requests=5, lifetime=30) as server:  # no route: 404
        url = lrs_catalog_url(server.url, RELEASE, TEMPLATE)
        start = time.monotonic()
        with pytest.raises(ArchiveError) as caught:
            fetch_lrs_catalog(TEMPLATE, _lamost(server), slow, dest)
        elapsed = time.monotonic() - start
        assert server.count(PATH) == 1
    assert elapsed < 1.5
    message = str(caught.value)
    assert url in message and "HTTP 404" in message and TOKEN not in message
    assert not dest.exists()


def test_the_check_rejects_what_is_not_the_catalogue(tmp_path: Path) -> None:
    """Catches: a truncated gzip accepted because its first lines parse, a table without the
    columns the cuts need accepted, a catalogue larger than the sample read wrongly."""
    body = gzipped_csv(lrs_catalogue())
    header, first, _ = lrs_catalogue().to_csv(index=False).split("\n", 2)
    sample = len(header) + len(first) + 20
    # A catalogue of ~2 MB whose gzip stream ends early, found past the parsed sample too.
    big = pd.concat([lrs_catalogue().assign(obsid=lambda f, i=i: f["obsid"] + 1000 * i)
                     for i in range(400)])  # fmt: skip
    big_gz = gzipped_csv(big)
    assert len(gzip.decompress(big_gz)) > (1 << 20) + sample + 40_000  # past one 1 MB read
    cut = tmp_path / "cut.csv.gz"
    for length, sample_bytes in ((len(body) - 40, 1 << 22), (len(big_gz) - 40, sample)):
        cut.write_bytes((big_gz if sample_bytes == sample else body)[:length])
        with pytest.raises(ArchiveError, match="truncated or corrupt gzip"):
            validate_lrs_catalog(cut, sample_bytes=sample_bytes)
    other = tmp_path / "other.csv.gz"
    other.write_bytes(gzipped_csv(lrs_catalogue().drop(columns=["teff", "logg"])))
    with pytest.raises(ArchiveError, match=r"no column\(s\) \['teff', 'logg'\]"):
        validate_lrs_catalog(other)
    whole = tmp_path / "whole.csv.gz"
    whole.write_bytes(body)
    # Only the header, one row and part of the next are parsed: the part row must not count.
    validate_lrs_catalog(whole, sample_bytes=sample)
    with pytest.raises(ArchiveError, match="no line break"):  # the header longer than that
        validate_lrs_catalog(whole, sample_bytes=40)


@pytest.mark.parametrize("variant", ["dr9_gzip", "dr8_combined_plain"])
def test_chunked_cut_gives_what_the_whole_table_gives(tmp_path: Path, variant: str) -> None:
    """targets_from_catalog reads a CSV in chunks (the real catalogue has ~10^7 rows); with
    3-row chunks it must keep the rows select_giants(read_catalog(...)) keeps. Catches: a
    repeated obsid judged by its last row or once per chunk, the -9999 markers or the
    combined_ prefix, BOM and ra_obs fallback not handled like read_catalog does."""
    frame = lrs_catalogue()
    later = frame.set_index("obsid").loc[[747505101, 747505001]].reset_index()
    later[["teff", "logg"]] = [[4700.0, 2.5], [5000.0, 4.5]]  # the dwarf "turns giant", ...
    frame = pd.concat([frame, later], ignore_index=True)  # ... rows 14-15, a later chunk
    path = tmp_path / "catalogue.csv.gz"
    if variant == "dr9_gzip":
        path.write_bytes(gzipped_csv(frame))
    else:  # the DR8 "combined" layout: prefix, a pandas-duplicated column, no ra/dec, a BOM
        frame = frame.drop(columns=["ra", "dec"]).assign(**{"snrg.1": frame["snrg"]})
        frame.columns = [f"combined_{c}" for c in frame.columns]
        path = tmp_path / "catalogue.csv"
        path.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False).encode())
    whole = select_giants(read_catalog(path), CUTS)
    chunked = targets_from_catalog(path, CUTS, chunk_rows=3)
    assert chunked["obsid"].tolist() == whole["obsid"].tolist() == list(GIANTS)
    for col in ("ra", "dec", "snrg", "teff", "logg", "feh"):
        np.testing.assert_allclose(chunked[col], whole[col].astype(float), err_msg=col)
    assert chunked["designation"].tolist() == whole["designation"].tolist()
