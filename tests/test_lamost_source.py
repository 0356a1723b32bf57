"""The real data path (``source: lamost``) end to end, against loopback VizieR and LAMOST doubles.

Snakemake runs ``fetch_seismic``, ``fetch_clusters``, ``fetch_lamost_catalog``, ``crossmatch``
and ``fetch_spectra`` for real: astroquery talks HTTPS to a VizieR double on 127.0.0.1 (its
self-signed certificate trusted through ``REQUESTS_CA_BUNDLE``), the LAMOST code talks HTTP to
a cone-search and spectrum double that injects faults. Nothing leaves the machine.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import votable
from astropy.table import Table

from spt.io.lamost import read_spectrum
from spt.sources.download import FAILURE_COLUMNS
from spt.sources.vizier import CLUSTER_COLUMNS, SEISMIC_COLUMNS
from tests.conftest import run_snakemake
from tests.support.loopback import (
    BERGER_FIXTURE,
    CANTAT_FIXTURE,
    MIGLIO_FIXTURE,
    LoopbackServer,
    Request,
    Route,
    VizierResponder,
    isolate_network,
    lamost_fits_bytes,
    read_votable_tables,
    self_signed_cert,
    server_tls_context,
)

pytestmark = pytest.mark.workflow

RELEASE = "dr9/v2.0"
VIZ = "/viz-bin/votable"
CONE = f"/{RELEASE}/voservice/conesearch"
SPECTRUM = f"/{RELEASE}/spectrum/fits"
SEISMIC_TABLE = "J/A+A/645/A85/catalog"
CLUSTER_TABLE = "J/A+A/640/A1/nodup"
RADIUS = 3.0  # arcsec, the default crossmatch.radius_arcsec and lamost.catalog_radius_arcsec
TARGETS = (
    "data",
    "resources/lamost/spectra.csv",
    "resources/lamost/clusters.csv",
    "resources/lamost/isochrone_ages.csv",
)
MAX_REQUESTS = 60  # per server; far above what one run needs (one run needs about 20)

# LAMOST spectra placed around the served seismic stars: (star index, obsid, offset arcsec,
# snrg). Star 1 has two spectra (the higher S/N wins), star 3 only a near miss at 5",
# stars 10 and 11 have none; every other star has one spectrum inside 3".
PLACED = (
    (0, 810_000_001, 0.4, 60.0),
    (1, 810_000_002, 1.1, 35.0),
    (1, 810_000_003, 2.2, 80.0),
    (2, 810_000_004, 0.8, 50.0),
    (3, 810_000_005, 5.0, 90.0),
    (4, 810_000_006, 2.6, 45.0),
    (5, 810_000_007, 0.2, 70.0),
    (6, 810_000_008, 1.5, 40.0),
    (7, 810_000_009, 0.9, 55.0),
    (8, 810_000_010, 1.9, 65.0),
    (9, 810_000_011, 0.6, 75.0),
)
#: Fault scripts of the spectrum routes (all others answer at once).
SPECTRUM_FAULTS = {
    810_000_004: ["500", "ok"],  # server error, then the file
    810_000_007: ["404"],  # not in the archive: permanent, never retried
    810_000_010: ["truncate", "ok"],  # half the body, then resumed with a Range request
}
MISSING = 810_000_007
CONE_FAULTS = ["503", "ok"]  # the first cone search (whichever star) is retried
VIZIER_FAULTS = ["500", "ok"]  # the first VizieR query is retried


def _offset(ra: float, dec: float, arcsec: float, angle_deg: float) -> tuple[float, float]:
    """Position ``arcsec`` from (ra, dec) towards position angle ``angle_deg``."""
    moved = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
        angle_deg * u.deg, arcsec * u.arcsec
    )
    return float(moved.ra.deg), float(moved.dec.deg)


def lamost_rows(seismic: Table) -> Table:
    """LRS catalogue rows in DR9's cone-search layout (``catalogue_`` prefixed names)."""
    rows = []
    for k, (star, obsid, sep, snrg) in enumerate(PLACED):
        ra, dec = _offset(float(seismic["RAdeg"][star]), float(seismic["DEdeg"][star]), sep, 40 * k)
        rows.append(
            {
                "obsid": obsid,
                "designation": f"J{obsid}",
                "ra": ra,
                "dec": dec,
                "snru": snrg / 4,
                "snrg": snrg,
                "snrr": snrg * 1.5,
                "snri": snrg * 1.8,
                "snrz": snrg * 1.2,
                "class": "STAR",
                "subclass": "K1",
                "lmjd": 57000 + k,
                "planid": "KP192315N444252V01",
                "spid": 7,
                "fiberid": 10 + k,
                "teff": 4700.0 + 10 * k,
                "teff_err": 30.0,
                "logg": 2.5,
                "logg_err": 0.05,
                "feh": 0.01 * k,
                "feh_err": 0.03,
                "rv": -20.0 + k,
                "rv_err": 4.0,
            }
        )
    table = Table(rows=rows)
    table.rename_columns(table.colnames, [f"catalogue_{c}" for c in table.colnames])
    return table


def cone_responder(catalog: Table) -> Callable[[Request], bytes]:
    """Simple Cone Search double: rows within 3 x sr (a generous server), as a VOTable."""
    coords = SkyCoord(catalog["catalogue_ra"] * u.deg, catalog["catalogue_dec"] * u.deg)

    def respond(req: Request) -> bytes:
        ra, dec, sr = (float(req.query[k][0]) for k in ("ra", "dec", "sr"))
        near = coords.separation(SkyCoord(ra * u.deg, dec * u.deg)).deg <= 3 * sr
        buffer = io.BytesIO()
        votable.from_table(catalog[near]).to_xml(buffer)
        return buffer.getvalue()

    return respond


@dataclass
class Archives:
    """The two running doubles and what they serve."""

    vizier: LoopbackServer
    lamost: LoopbackServer
    seismic: Table
    members: Table
    fits: dict[int, bytes]

    def counts(self) -> dict[str, int]:
        """Requests received so far, per server."""
        return {"vizier": self.vizier.count(), "lamost": self.lamost.count()}


@pytest.fixture
def archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Archives]:
    """HTTPS VizieR and HTTP LAMOST doubles on 127.0.0.1, trusted by the snakemake subprocess."""
    isolate_network(monkeypatch)
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.delenv("LAMOST_TOKEN", raising=False)
    fixtures = (MIGLIO_FIXTURE, CANTAT_FIXTURE, BERGER_FIXTURE)
    tables = {name: t for path in fixtures for name, t in read_votable_tables(path).items()}
    viz_routes = {VIZ: Route(VizierResponder(tables), VIZIER_FAULTS, content_type="text/xml")}
    catalog = lamost_rows(tables[SEISMIC_TABLE])
    fits = {obsid: lamost_fits_bytes(obsid) for _, obsid, _, _ in PLACED}
    lamost_routes = {CONE: Route(cone_responder(catalog), CONE_FAULTS, content_type="text/xml")}
    for obsid, body in fits.items():
        lamost_routes[f"{SPECTRUM}/{obsid}"] = Route(body, SPECTRUM_FAULTS.get(obsid, ["ok"]))
    tls = server_tls_context(cert, key)
    with (
        LoopbackServer(viz_routes, tls=tls, max_requests=MAX_REQUESTS, lifetime=240) as viz,
        LoopbackServer(lamost_routes, max_requests=MAX_REQUESTS, lifetime=240) as lam,
    ):
        yield Archives(viz, lam, tables[SEISMIC_TABLE], tables[CLUSTER_TABLE], fits)


def override(path: Path, archives: Archives) -> Path:
    """The config override of the real path pointed at the doubles, with fast retries."""
    config = {
        "source": "lamost",
        "lamost": {"base_url": archives.lamost.url, "max_failed_fraction": 0.2},
        "download": {"workers": 3, "retries": 2, "backoff_s": 0.01, "timeout_s": 10.0},
        "vizier": {
            "server": archives.vizier.host,
            "timeout_s": 20.0,
            "retries": 2,
            "backoff_s": 0.01,
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def expected_matches(seismic: Table) -> pd.DataFrame:
    """kic -> obsid, separation and spectrum count as the cross-match must find them."""
    inside = [p for p in PLACED if p[2] <= RADIUS]
    rows = []
    for star in sorted({p[0] for p in inside}):
        mine = [p for p in inside if p[0] == star]
        best = max(mine, key=lambda p: p[3])
        rows.append((int(seismic["KIC"][star]), best[1], best[2], len(mine)))
    frame = pd.DataFrame(rows, columns=["kic", "obsid", "separation_arcsec", "n_spectra"])
    return frame.sort_values("kic", ignore_index=True)


def test_lamost_source_end_to_end(tmp_path: Path, archives: Archives, tiny_run: Path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    config = override(tmp_path / "lamost.yaml", archives)
    args = ("--cores", "2", *TARGETS)
    run_snakemake(workdir, *args, configfiles=(config,), timeout=180)
    after_first = archives.counts()
    assert not archives.vizier.overflow and not archives.lamost.overflow

    # Requests: VizieR once for the seismic table, once per configured cluster (tiny config:
    # 2), once for the isochrone ages, plus the retried 500; one cone per seismic star plus
    # the retried 503; one GET per matched spectrum, plus one retry after the 500 and one
    # resume after the truncation.
    seismic = archives.seismic
    expected = expected_matches(seismic)
    assert archives.vizier.count(VIZ) == 1 + 2 + 1 + 1
    assert archives.lamost.count(CONE) == len(seismic) + 1
    spectrum_counts = {
        int(r.path.rsplit("/", 1)[1]): archives.lamost.count(r.path)
        for r in archives.lamost.requests
        if r.path.startswith(SPECTRUM)
    }
    assert spectrum_counts == {
        o: 2 if o in (810_000_004, 810_000_010) else 1 for o in expected["obsid"]
    }
    resumes = [r for r in archives.lamost.requests if r.path == f"{SPECTRUM}/810000010"]
    half = len(archives.fits[810_000_010]) // 2
    assert [r.headers.get("Range") for r in resumes] == [None, f"bytes={half}-"]

    # matched.csv: the simulated source's columns, in the same order, and the served stars.
    matched = pd.read_csv(workdir / "results/data/matched.csv")
    simulated = pd.read_csv(tiny_run / "results/data/matched.csv", nrows=0)
    assert list(matched.columns) == list(simulated.columns)
    assert len(matched) == len(expected) == 9
    pd.testing.assert_frame_equal(
        matched[["kic", "obsid", "n_spectra"]], expected[["kic", "obsid", "n_spectra"]]
    )
    np.testing.assert_allclose(
        matched["separation_arcsec"], expected["separation_arcsec"], atol=2e-3
    )
    served = seismic.to_pandas().set_index("KIC").loc[matched["kic"]]
    np.testing.assert_allclose(matched["mass"], served["Mass"])
    np.testing.assert_allclose(
        matched["e_mass"], (served["b_mass_lc"] - served["b_Mass"]) / 2, rtol=1e-9
    )
    np.testing.assert_allclose(matched["age"], served["Age"], equal_nan=True)
    assert matched["phase"].tolist() == served["evstate"].astype(int).tolist()
    assert matched["snrg"].tolist() == [
        next(p[3] for p in PLACED if p[1] == o) for o in matched["obsid"]
    ]
    summary = pd.read_csv(workdir / "results/data/crossmatch_summary.csv")
    counts = dict(zip(summary["quantity"], summary["count"], strict=True))
    assert counts["seismic_stars"] == len(seismic) == 12
    assert counts["lamost_spectra"] == len(PLACED) - 1  # the 5" near miss is cut by the cone
    assert counts["extra_spectra_dropped"] == 1 and counts["unmatched_seismic_stars"] == 3

    # The other products of the fetch rules.
    seismic_csv = pd.read_csv(workdir / "resources/lamost/seismic.csv")
    assert list(seismic_csv.columns) == list(SEISMIC_COLUMNS) and len(seismic_csv) == 12
    clusters = pd.read_csv(workdir / "resources/lamost/clusters.csv")
    assert list(clusters.columns) == list(CLUSTER_COLUMNS)
    members = archives.members.to_pandas()
    wanted = members[(members["proba"] >= 0.7)]
    assert clusters.groupby("cluster").size().to_dict() == {
        "NGC 6819": int((wanted["Cluster"] == "NGC_6819").sum()),
        "M67": int((wanted["Cluster"] == "NGC_2682").sum()),
    }
    isochrones = pd.read_csv(workdir / "resources/lamost/isochrone_ages.csv")
    assert list(isochrones.columns) == ["kic", "age_iso", "e_age_iso"]
    assert len(isochrones) == 8  # 12 served, every third flagged "*" and dropped
    no_cone_failures = pd.read_csv(workdir / "results/data/catalog_query_failures.csv")
    assert list(no_cone_failures.columns) == list(FAILURE_COLUMNS) and no_cone_failures.empty

    # Spectra: the failure list names exactly the 404; the rest read back as LAMOST DR9 files.
    failures = pd.read_csv(workdir / "results/data/download_failures.csv")
    assert failures["key"].tolist() == [MISSING]
    assert failures["attempts"].tolist() == [1]
    assert "HTTP 404" in failures["reason"][0]
    assert failures["url"][0] == f"{archives.lamost.url}{SPECTRUM}/{MISSING}"
    manifest = pd.read_csv(workdir / "resources/lamost/spectra.csv")
    status = dict(zip(manifest["obsid"], manifest["status"], strict=True))
    assert sorted(status) == sorted(expected["obsid"])
    assert status[MISSING] == "failed" and status[810_000_010] == "resumed"
    assert status[810_000_004] == "downloaded"
    assert sum(s == "downloaded" for s in status.values()) == 7
    # Caches sit where the rules put them (relative to the working directory, not doubled).
    assert manifest["path"].tolist() == [
        f"resources/lamost/spectra/{o}.fits.gz" for o in manifest["obsid"]
    ]
    cones = sorted(p.name for p in (workdir / "resources/lamost/cones/dr9_v2.0_r3").iterdir())
    assert cones == sorted(f"{k}.xml" for k in seismic["KIC"])
    for obsid, path in zip(manifest["obsid"], manifest["path"], strict=True):
        if obsid == MISSING:
            assert not (workdir / path).exists()
            continue
        spectrum = read_spectrum(workdir / path)
        assert spectrum.obsid == obsid and spectrum.n_pixels == 3900
        assert (workdir / path).read_bytes() == archives.fits[obsid]
    assert not list((workdir / "resources/lamost/spectra").glob("*.part"))

    # A second run has nothing to do and asks the archives for nothing.
    again = run_snakemake(workdir, *args, configfiles=(config,), timeout=120)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert archives.counts() == after_first

    # Forcing the download rule again asks only for what is not cached: the one 404.
    run_snakemake(workdir, *args, "--forcerun", "fetch_spectra", configfiles=(config,), timeout=120)
    new = archives.lamost.requests[after_first["lamost"] :]
    assert [r.path for r in new] == [f"{SPECTRUM}/{MISSING}"]
    assert archives.counts() == {**after_first, "lamost": after_first["lamost"] + 1}
    assert pd.read_csv(workdir / "results/data/download_failures.csv")["key"].tolist() == [MISSING]
