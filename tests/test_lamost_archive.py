"""spt.sources.lamost_archive against a loopback LAMOST double (no network)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits, votable
from astropy.io.votable.tree import Info, VOTableFile
from astropy.table import Table

from spt.io.lamost import LamostFormatError, read_catalog, read_spectrum, spectrum_path
from spt.sources.download import FAILURE_COLUMNS
from spt.sources.lamost_archive import (
    LAMOST_CATALOG_COLUMNS,
    ArchiveError,
    cone_search_url,
    download_spectra,
    query_catalog_near,
    spectrum_url,
    validate_spectrum,
)
from tests.support.loopback import (
    LoopbackServer,
    Request,
    Route,
    isolate_network,
    lamost_fits_bytes,
)
from tests.support.spectra import write_dr1_spectrum

RELEASE = "dr9/v2.0"
FAST = {"workers": 3, "retries": 2, "backoff": 0.01, "timeout": 2.0, "progress": False}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_network(monkeypatch)


def test_url_scheme() -> None:
    assert (
        spectrum_url("https://www.lamost.org/", RELEASE, 101013)
        == "https://www.lamost.org/dr9/v2.0/spectrum/fits/101013"
    )
    url = cone_search_url("https://www.lamost.org", "/dr9/v2.0/", 290.5, 44.25, 3.0)
    assert url == (
        "https://www.lamost.org/dr9/v2.0/voservice/conesearch"
        "?ra=290.50000000&dec=44.25000000&sr=0.00083333"
    )


def test_download_spectra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPT_TEST_LAMOST_TOKEN", "tok123")
    prefix = f"/{RELEASE}/spectrum/fits"
    routes = {
        f"{prefix}/101": Route(lamost_fits_bytes(101)),
        f"{prefix}/102": Route(lamost_fits_bytes(102), faults=["500", "ok"]),
        f"{prefix}/103": Route(lamost_fits_bytes(103, header_obsid=999)),  # wrong file served
        f"{prefix}/104": Route(lamost_fits_bytes(104), faults=["404"]),
    }
    cache, failures = tmp_path / "spectra", tmp_path / "failed.csv"
    opts = {**FAST, "token_env": "SPT_TEST_LAMOST_TOKEN", "failures_path": failures}
    with LoopbackServer(routes, max_requests=20, lifetime=30) as server:
        report = download_spectra(
            [101, 102, 103, 104, 101], cache, server.url, RELEASE, max_failed_fraction=0.5, **opts
        )
        assert {r.query["token"][0] for r in server.requests} == {"tok123"}
        n_before = server.count()
        with pytest.raises(ArchiveError, match="2 of 4 spectra failed"):
            download_spectra(
                [101, 102, 103, 104], cache, server.url, RELEASE, max_failed_fraction=0.25, **opts
            )
        # The rerun asked again only for the two failures, not for the cached spectra.
        assert server.count() - n_before == 2
        assert server.count(f"{prefix}/101") == 1
    assert [(r.key, r.status) for r in report.results] == [
        ("101", "downloaded"),
        ("102", "downloaded"),
        ("103", "failed"),
        ("104", "failed"),
    ]
    for obsid in (101, 102):
        assert read_spectrum(spectrum_path(cache, obsid)).obsid == obsid
    assert not spectrum_path(cache, 103).exists()
    failed = pd.read_csv(failures)
    assert list(failed.columns) == list(FAILURE_COLUMNS)
    assert list(failed["key"]) == [103, 104]
    assert "OBSID is 999, requested 103" in failed["reason"][0]
    assert "HTTP 404" in failed["reason"][1]
    assert "tok123" not in failures.read_text()


# --------------------------------------------------------------------------- cone search
STARS = pd.DataFrame(
    {
        "KIC": [1001, 1002, 1003, 1004],
        "RAJ2000": [290.00, 291.00, 292.00, 290.00],
        "DEJ2000": [44.00, 45.00, 46.00, 44.0 + 1.5 / 3600],
    }
)


def _offset(ra: float, dec: float, arcsec: float) -> tuple[float, float]:
    c = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(30 * u.deg, arcsec * u.arcsec)
    return float(c.ra.deg), float(c.dec.deg)


def _lamost_rows() -> Table:
    """LRS catalogue rows: two spectra of star 1001 (one shared with 1004), one near 1002 and
    one 10 arcsec from 1002, nothing near 1003. Names carry DR9's ``catalogue_`` prefix."""
    placed = [
        (5001, 290.0, 44.0, 0.5),
        (5002, 290.0, 44.0, 1.2),
        (5003, 291.0, 45.0, 2.0),
        (5004, 291.0, 45.0, 10.0),
    ]
    rows = []
    for obsid, ra0, dec0, sep in placed:
        ra, dec = _offset(ra0, dec0, sep)
        rows.append(
            {
                "obsid": obsid,
                "designation": f"J{obsid}",
                "ra": ra,
                "dec": dec,
                "snru": 5.0,
                "snrg": 40.0 + obsid % 7,
                "snrr": 60.0,
                "snri": 70.0,
                "snrz": 50.0,
                "class": "STAR",
                "subclass": "K1",
                "lmjd": 57000,
                "planid": "KP192315N444252V01",
                "spid": 7,
                "fiberid": obsid % 250,
                "teff": 4700.0,
                "teff_err": 30.0,
                "logg": 2.5,
                "logg_err": 0.05,
                "feh": 0.01,
                "feh_err": 0.03,
                "rv": -20.0,
                "rv_err": 4.0,
            }
        )
    table = Table(rows=rows)
    table.rename_columns(table.colnames, [f"catalogue_{c}" for c in table.colnames])
    return table


def cone_responder(catalog: Table, *, error_at: tuple[float, float] | None = None):
    """SCS double: rows within 5 x sr (a sloppy server), or an SCS error VOTable."""
    coords = SkyCoord(catalog["catalogue_ra"] * u.deg, catalog["catalogue_dec"] * u.deg)

    def respond(req: Request) -> bytes:
        ra, dec, sr = (float(req.query[k][0]) for k in ("ra", "dec", "sr"))
        buffer = io.BytesIO()
        if error_at is not None and np.allclose((ra, dec), error_at):
            doc = VOTableFile()
            info = Info(name="QUERY_STATUS", value="ERROR")
            info.content = "database busy"
            doc.infos.append(info)
            doc.to_xml(buffer)
            return buffer.getvalue()
        near = coords.separation(SkyCoord(ra * u.deg, dec * u.deg)).deg <= 5 * sr
        votable.from_table(catalog[near]).to_xml(buffer)
        return buffer.getvalue()

    return respond


def test_query_catalog_near(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPT_TEST_LAMOST_TOKEN", "tok123")
    path = f"/{RELEASE}/voservice/conesearch"
    routes = {path: Route(cone_responder(_lamost_rows()), content_type="text/xml")}
    output = tmp_path / "lamost_catalog.csv"
    opts = {
        **FAST,
        "cache_dir": tmp_path / "cones",
        "output": output,
        "token_env": "SPT_TEST_LAMOST_TOKEN",
    }
    with LoopbackServer(routes, max_requests=20, lifetime=30) as server:
        frame = query_catalog_near(STARS, 3.0, server.url, RELEASE, **opts)
        assert server.count(path) == len(STARS)
        assert all(r.query["token"] == ["tok123"] for r in server.requests)
        again = query_catalog_near(STARS, 3.0, server.url, RELEASE, **opts)
        assert server.count(path) == len(STARS)  # every cone came from the cache
    assert list(frame["obsid"]) == [5001, 5002, 5003]  # 5004 is 10" away; 5001 de-duplicated
    assert list(frame.columns[: len(LAMOST_CATALOG_COLUMNS)]) == list(LAMOST_CATALOG_COLUMNS)
    pd.testing.assert_frame_equal(frame, again)
    written = read_catalog(output)
    assert list(written["obsid"]) == [5001, 5002, 5003]
    assert written["designation"].tolist() == ["J5001", "J5002", "J5003"]
    assert np.allclose(written["teff"], 4700.0)


def test_cone_search_error_is_reported(tmp_path: Path) -> None:
    path = f"/{RELEASE}/voservice/conesearch"
    respond = cone_responder(_lamost_rows(), error_at=(292.0, 46.0))
    failures = tmp_path / "failed.csv"
    with LoopbackServer({path: Route(respond)}, max_requests=20, lifetime=30) as server:
        with pytest.raises(ArchiveError, match="1 of 4 cone searches failed"):
            query_catalog_near(
                STARS,
                3.0,
                server.url,
                RELEASE,
                cache_dir=tmp_path / "cones",
                failures_path=failures,
                **FAST,
            )
    failed = pd.read_csv(failures)
    assert list(failed["key"]) == [1003]
    assert "cone search error: database busy" in failed["reason"][0]
    assert sorted(p.name for p in (tmp_path / "cones").glob("*/*.xml")) == [
        "1001.xml",
        "1002.xml",
        "1004.xml",
    ]


# --------------------------------------------------------------------------- validation
def test_validate_spectrum_accepts_dr1_header_without_obsid(tmp_path: Path) -> None:
    """DR1 has no OBSID: identified by LMJD/PLANID/SPID/FIBERID (resolved later), accepted."""
    path = tmp_path / "77001.fits.gz"
    raw = tmp_path / "dr1.fits"
    write_dr1_spectrum(str(raw))
    path.write_bytes(gzip.compress(raw.read_bytes()))
    validate_spectrum(path, "77001")  # no exception
    with fits.open(raw, mode="update") as hdul:
        del hdul[0].header["PLANID"]
        del hdul[0].header["SPID"]
    with pytest.raises(LamostFormatError, match=r"no OBSID \(DR1\) and lacks \['PLANID', 'SPID'\]"):
        validate_spectrum(raw, "77001")


def test_validate_spectrum_reports_truncation(tmp_path: Path) -> None:
    good = lamost_fits_bytes(101)
    path = tmp_path / "101.fits.gz"
    validate_spectrum(_write(path, good), "101")
    inner = gzip.decompress(good)
    for cut in (2880, len(inner) // 2, len(inner) - 1500):  # the last: 60 bytes of flux short
        _write(path, gzip.compress(inner[:cut]))
        with pytest.raises(LamostFormatError, match=r"101\.fits\.gz: truncated") as info:
            validate_spectrum(path, "101")
        assert "neither" not in str(info.value)
    with pytest.raises(LamostFormatError, match="OBSID is 101, requested 102"):
        validate_spectrum(_write(path, good), "102")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
