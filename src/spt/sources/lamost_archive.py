"""LAMOST DR9 low-resolution archive: spectrum URLs, catalogue rows near given stars, spectra.

URL scheme of the LAMOST data-release sites (``https://www.lamost.org/dr9/v2.0/`` for DR9 v2.0,
the same layout for DR8, DR10 and DR11 v2.0; DR4-DR7 used ``http://drN.lamost.org/``):

- spectrum FITS by obsid: ``{base_url}/{release}/spectrum/fits/{obsid}``
- IVOA Simple Cone Search over the LRS general catalogue:
  ``{base_url}/{release}/voservice/conesearch?ra=<deg>&dec=<deg>&sr=<deg>`` (a VOTable).
- the LRS A/F/G/K stellar parameter catalogue of a release, one gzipped CSV:
  ``{base_url}/{release}/catdl?name=dr9_v2.0_LRS_stellar.csv.gz`` (config
  ``catalog.lamost.catalog_url``; `fetch_lrs_catalog`).
- an archive token, when the site asks for one, goes in the query string: ``?token=...``.

Both templates are parameters, so a change on LAMOST's side (its newer ``/openapi/`` routes,
for instance) is a configuration change. The cone search takes one position per request, so
the catalogue query runs one request per star through ``spt.sources.download.download_many``
(bounded pool, retries, token handling) and caches every response: a rerun asks only for the cones
that failed. Column names come back in LAMOST's own lower case; DR4-DR9 cone searches prefix them
(``catalogue_obsid``), which is stripped.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import votable
from astropy.io.votable.exceptions import VOWarning

from spt.io.lamost import (
    CATALOG_COLUMNS,
    IDENTITY_KEYS,
    LamostFormatError,
    lamost_columns,
    read_catalog,
    read_spectrum,
    spectrum_path,
    write_catalog,
)
from spt.io.tables import csv_frame, sniff
from spt.sources.download import DownloadJob, DownloadReport, download_many, write_failures

PathLike = str | os.PathLike[str]
log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://www.lamost.org"
DEFAULT_RELEASE = "dr9/v2.0"
SPECTRUM_TEMPLATE = "{base_url}/{release}/spectrum/fits/{obsid}"
CONE_TEMPLATE = "{base_url}/{release}/voservice/conesearch"
LRS_CATALOG_TEMPLATE = "{base_url}/{release}/catdl?name=dr9_v2.0_LRS_stellar.csv.gz"
#: Columns the giant selection needs from the LRS stellar catalogue (after ``read_catalog``,
#: which also takes ``ra_obs``/``dec_obs`` for missing ``ra``/``dec``).
LRS_REQUIRED_COLUMNS = ("obsid", "ra", "dec", "teff", "logg", "snrg")
#: Decompressed bytes of the catalogue that the download check parses (the whole file is
#: still read through once, which checks a gzip file's length and CRC).
LRS_SAMPLE_BYTES = 4 << 20
#: Wall-clock limit of the catalogue download (s): one file of about a gigabyte, unlike the
#: spectra, so the per-file default of ``download_many`` (a few minutes) would not do.
LRS_MAX_DOWNLOAD_S = 6 * 3600.0
#: The columns lamost_catalog.csv promises (LAMOST's names); others are kept after these.
LAMOST_CATALOG_COLUMNS = (
    "obsid", "designation", "ra", "dec", "snru", "snrg", "snrr", "snri", "snrz",
    "teff", "teff_err", "logg", "logg_err", "feh", "feh_err", "rv", "rv_err",
    "class", "subclass", "lmjd", "planid", "spid", "fiberid",
)  # fmt: skip
#: Prefixes LAMOST puts before column names in some services and releases.
_PREFIXES = ("catalogue_", "combined_")


class ArchiveError(RuntimeError):
    """The archive could not deliver what the pipeline needs; the message says what and where."""


def _root(base_url: str, release: str) -> tuple[str, str]:
    return base_url.rstrip("/"), release.strip("/")


def spectrum_url(
    base_url: str, release: str, obsid: int | str, template: str = SPECTRUM_TEMPLATE
) -> str:
    """URL of the LRS spectrum FITS of ``obsid`` (no token: that is added at request time)."""
    base, rel = _root(base_url, release)
    return template.format(base_url=base, release=rel, obsid=int(obsid))


def cone_search_url(
    base_url: str,
    release: str,
    ra: float,
    dec: float,
    radius_arcsec: float,
    template: str = CONE_TEMPLATE,
) -> str:
    """URL of a Simple Cone Search around (ra, dec) in degrees; SCS takes ``sr`` in degrees."""
    base, rel = _root(base_url, release)
    params = {"ra": f"{ra:.8f}", "dec": f"{dec:.8f}", "sr": f"{radius_arcsec / 3600.0:.8f}"}
    url = template.format(base_url=base, release=rel)
    return str(requests.Request("GET", url, params=params).prepare().url)


# --------------------------------------------------------------------------- catalogue
def _parse_votable(path: Path) -> pd.DataFrame:
    """First table of a cone-search VOTable as a frame; raise ArchiveError on an error reply."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VOWarning)
            vot = votable.parse(str(path), verify="ignore")
    except Exception as exc:
        raise ArchiveError(f"{path}: not a VOTable ({type(exc).__name__}: {exc})") from None
    infos = list(vot.infos) + [i for r in vot.resources for i in r.infos]
    for info in infos:
        if info.name == "QUERY_STATUS" and str(info.value).upper() == "ERROR":
            raise ArchiveError(f"{path}: cone search error: {(info.content or '').strip()}")
    tables = list(vot.iter_tables())
    if not tables:
        raise ArchiveError(f"{path}: VOTable holds no TABLE")
    frame = tables[0].to_table(use_names_over_ids=True).to_pandas()
    return normalise_columns(frame, where=str(path))


def normalise_columns(frame: pd.DataFrame, where: str = "catalogue") -> pd.DataFrame:
    """LAMOST's lower-case names: strip service prefixes, fall back to ra_obs/dec_obs."""
    rename = {}
    for col in frame.columns:
        name = str(col).strip().lower()
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
        rename[col] = name
    frame = frame.rename(columns=rename)
    frame = frame.loc[:, ~frame.columns.duplicated()]
    for coord in ("ra", "dec"):
        if coord not in frame.columns and f"{coord}_obs" in frame.columns:
            frame[coord] = frame[f"{coord}_obs"]
    for col in frame.columns:
        if frame[col].dtype == object:  # VOTable char columns may arrive as bytes
            frame[col] = frame[col].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    missing = [c for c in ("obsid", "ra", "dec") if c not in frame.columns]
    if missing:
        raise ArchiveError(f"{where}: cone-search table lacks column(s) {missing}")
    return frame


def _validate_cone(path: Path, key: str) -> None:
    _parse_votable(path)


def _within(frame: pd.DataFrame, ra: float, dec: float, radius_arcsec: float) -> pd.DataFrame:
    if frame.empty:
        return frame
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    rows = SkyCoord(frame["ra"].to_numpy(float) * u.deg, frame["dec"].to_numpy(float) * u.deg)
    return frame[centre.separation(rows).arcsec <= radius_arcsec * (1 + 1e-9)]


def _star_key(value: object) -> str:
    """A star id as text; ids read as floats (1001.0) lose the decimal part."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def query_catalog_near(
    positions: pd.DataFrame,
    radius_arcsec: float,
    base_url: str = DEFAULT_BASE_URL,
    release: str = DEFAULT_RELEASE,
    *,
    cache_dir: PathLike,
    output: PathLike | None = None,
    id_col: str = "KIC",
    ra_col: str = "RAJ2000",
    dec_col: str = "DEJ2000",
    workers: int = 4,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    token_env: str | None = None,
    failures_path: PathLike | None = None,
    progress: bool = True,
    template: str = CONE_TEMPLATE,
) -> pd.DataFrame:
    """LRS catalogue rows within ``radius_arcsec`` of each position, one row per obsid.

    One cone search per star, cached as ``<cache_dir>/<release>_r<radius>/<id>.xml``; rows
    outside the radius are dropped again here (services differ in ``sr`` units). Raises
    ArchiveError if any cone failed (the failure list goes to ``failures_path``): a partial
    catalogue would silently lose stars. Written with ``write_catalog`` to ``output`` when given.
    """
    missing = [c for c in (id_col, ra_col, dec_col) if c not in positions.columns]
    if missing:
        raise ValueError(f"positions lack column(s) {missing}; have {list(positions.columns)}")
    if radius_arcsec <= 0:
        raise ValueError(f"radius_arcsec must be positive, got {radius_arcsec}")
    stars = positions[[id_col, ra_col, dec_col]].dropna().drop_duplicates(id_col)
    # Responses depend on the release and the radius: keep each combination apart.
    cache = Path(cache_dir) / re.sub(r"[^0-9A-Za-z.]+", "_", f"{release}_r{radius_arcsec:g}")
    jobs = [
        DownloadJob(
            _star_key(sid),
            cone_search_url(base_url, release, float(ra), float(dec), radius_arcsec, template),
            cache / f"{_star_key(sid)}.xml",
        )
        for sid, ra, dec in stars.itertuples(index=False)
    ]
    report = _fetch_jobs(
        jobs, cache, _validate_cone, failures_path,
        workers=workers, retries=retries, backoff=backoff, timeout=timeout,
        token_env=token_env, progress=progress,
    )  # fmt: skip
    if report.failed:
        first = report.failed[0]
        raise ArchiveError(
            f"{len(report.failed)} of {len(jobs)} cone searches failed (first: {first.key} "
            f"{first.url}: {first.reason}); rerun to retry only those"
        )
    frames = []
    for (_, ra, dec), job in zip(stars.itertuples(index=False), jobs, strict=True):
        frames.append(_within(_parse_votable(job.dest), float(ra), float(dec), radius_arcsec))
    frame = _assemble(frames)
    log.info(
        "%d catalogue rows (%d obsids) near %d stars",
        len(frame),
        frame["obsid"].nunique(),
        len(stars),
    )
    if output is not None:
        write_catalog(frame, output)
    return frame


def _fetch_jobs(
    jobs: list[DownloadJob],
    folder: PathLike,
    validate: Callable[[Path, str], None],
    failures_path: PathLike | None,
    **options: Any,
) -> DownloadReport:
    """Download ``jobs`` into ``folder`` and write the failure list (when a path is given).

    The job destinations already include ``folder``: no dest_dir is passed, or a relative
    folder would be joined twice.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    report = download_many(jobs, None, validate=validate, **options)
    if failures_path is not None:
        write_failures(report, failures_path)
    return report


def _assemble(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate cone results into the lamost_catalog.csv layout, one row per obsid."""
    frames = [f for f in frames if not f.empty]
    if frames:
        frame = pd.concat(frames, ignore_index=True)
    else:
        frame = pd.DataFrame(columns=list(LAMOST_CATALOG_COLUMNS))
    absent_required = [c for c in CATALOG_COLUMNS if c not in frame.columns]
    if absent_required:
        raise ArchiveError(f"cone-search results lack required column(s) {absent_required}")
    absent = [c for c in LAMOST_CATALOG_COLUMNS if c not in frame.columns]
    if absent:
        log.warning("cone-search results lack %s; written as empty columns", absent)
        for col in absent:
            frame[col] = np.nan
    frame["obsid"] = pd.to_numeric(frame["obsid"], errors="raise").astype(np.int64)
    frame = frame.drop_duplicates("obsid").sort_values("obsid", ignore_index=True)
    extra = [c for c in frame.columns if c not in LAMOST_CATALOG_COLUMNS]
    return frame[list(LAMOST_CATALOG_COLUMNS) + extra]


# --------------------------------------------------------------------------- spectra
def validate_spectrum(path: Path, key: str) -> None:
    """Accept only a readable LRS spectrum of the requested obsid.

    A header with OBSID must name the requested obsid. DR1 headers have no OBSID: such a file
    is accepted when it carries LMJD, PLANID, SPID and FIBERID, the keys by which
    ``spt.io.lamost.resolve_obsid`` finds its obsid in the catalogue (nothing more can be
    checked without the catalogue). A truncated file is rejected as "truncated".
    """
    spec = read_spectrum(path)
    if spec.obsid is None:
        absent = [k for k, _ in IDENTITY_KEYS if k not in spec.header]
        if absent:
            raise LamostFormatError(
                f"{path}: header has no OBSID (DR1) and lacks {absent}, so it cannot be "
                f"identified as obsid {key}"
            )
        return
    if spec.obsid != int(key):
        raise LamostFormatError(f"{path}: header OBSID is {spec.obsid}, requested {key}")


def download_spectra(
    obsids: Iterable[int],
    cache_dir: PathLike,
    base_url: str = DEFAULT_BASE_URL,
    release: str = DEFAULT_RELEASE,
    *,
    workers: int = 4,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    token_env: str | None = None,
    failures_path: PathLike | None = None,
    max_failed_fraction: float = 0.0,
    progress: bool = True,
    template: str = SPECTRUM_TEMPLATE,
) -> DownloadReport:
    """Fetch ``<cache_dir>/<obsid>.fits.gz`` for every obsid, each checked with read_spectrum.

    Writes the failure list to ``failures_path`` (header only when none failed) and raises
    ArchiveError when more than ``max_failed_fraction`` of the obsids failed.
    """
    unique = sorted({int(o) for o in obsids})
    jobs = [
        DownloadJob(
            str(o), spectrum_url(base_url, release, o, template), spectrum_path(cache_dir, o)
        )
        for o in unique
    ]
    report = _fetch_jobs(
        jobs, cache_dir, validate_spectrum, failures_path,
        workers=workers, retries=retries, backoff=backoff, timeout=timeout,
        token_env=token_env, progress=progress,
    )  # fmt: skip
    n_failed = len(report.failed)
    if unique and n_failed / len(unique) > max_failed_fraction:
        raise ArchiveError(
            f"{n_failed} of {len(unique)} spectra failed, more than the allowed "
            f"{max_failed_fraction:.1%}"
            + (f"; see {failures_path}" if failures_path is not None else "")
        )
    return report


# --------------------------------------------------------------------------- LRS catalogue
def lrs_catalog_url(base_url: str, release: str, template: str = LRS_CATALOG_TEMPLATE) -> str:
    """URL of the LRS stellar parameter catalogue (no token: that is added at request time)."""
    base, rel = _root(base_url, release)
    try:
        return template.format(base_url=base, release=rel)
    except (KeyError, IndexError, ValueError) as exc:
        raise ArchiveError(
            f"catalogue URL template {template!r}: only {{base_url}} and {{release}} can be "
            f"filled in ({type(exc).__name__}: {exc})"
        ) from None


def _html_title(head: bytes) -> str | None:
    """The title (or "no title") of an HTML page; None when ``head`` is not HTML."""
    text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not (text.startswith(b"<!doctype html") or (text.startswith(b"<") and b"<html" in text)):
        return None
    match = re.search(rb"<title[^>]*>(.*?)</title>", head[:4096], re.IGNORECASE | re.DOTALL)
    title = match.group(1).decode("utf-8", "replace").strip() if match else ""
    return " ".join(title.split())[:120] or "no title"


def _read_sample(sample: bytes, path: Path) -> pd.DataFrame:
    """The first complete lines of a CSV catalogue under LAMOST's names, as ``read_catalog``
    reads a whole file (errors name ``path``)."""
    where = f"{path} (its first {len(sample)} bytes)"
    return lamost_columns(csv_frame(sample, where, LamostFormatError), f"{where}: catalogue (csv)")


def validate_lrs_catalog(
    path: PathLike, key: str = "lrs_catalog", sample_bytes: int = LRS_SAMPLE_BYTES
) -> None:
    """Accept only a file that ``read_catalog`` reads as an LRS stellar parameter catalogue.

    A gzip file is read through to its end (a truncated or corrupt one is rejected); an HTML
    page (an error or log-in page served with status 200) is rejected as such. Of a CSV larger
    than ``sample_bytes`` (decompressed) only the first complete lines are parsed, so the check
    costs little memory for a catalogue of millions of rows; FITS and VOTable files are read
    whole. The table must have LRS_REQUIRED_COLUMNS and at least one row.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
            head = fh.read(sample_bytes)
            rest = fh.read(1 << 20) if gzipped else fh.read(1)
            complete = not rest
            while gzipped and rest:  # gzip checks the length and CRC at the end
                rest = fh.read(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{path}: truncated or corrupt gzip file ({exc})") from None
    if not head.strip():
        raise ArchiveError(f"{path}: empty file")
    title = _html_title(head)
    if title is not None:
        raise ArchiveError(f"{path}: an HTML page ({title!r}), not a catalogue table")
    if complete or sniff(head) != "csv":
        frame = read_catalog(path)
    elif b"\n" not in head:
        raise ArchiveError(f"{path}: no line break in its first {len(head)} bytes: not a CSV")
    else:
        frame = _read_sample(head[: head.rfind(b"\n") + 1], path)
    missing = [c for c in LRS_REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ArchiveError(
            f"{path}: not an LRS stellar parameter catalogue: no column(s) {missing} "
            f"(has {list(frame.columns)[:12]}{' ...' if len(frame.columns) > 12 else ''})"
        )
    if frame.empty:
        raise ArchiveError(f"{path}: the catalogue has no rows")


def fetch_lrs_catalog(
    url_template: str,
    lamost_cfg: Mapping[str, Any],
    download_cfg: Mapping[str, Any],
    dest: PathLike,
    *,
    max_job_s: float = LRS_MAX_DOWNLOAD_S,
    progress: bool = False,
) -> Path:
    """Download LAMOST's LRS A/F/G/K stellar parameter catalogue to ``dest``; return its path.

    ``url_template`` (config ``catalog.lamost.catalog_url``) is filled with ``lamost_cfg``'s
    ``base_url`` and ``release``; a token is read from the variable named by its ``token_env``
    (never logged). ``download_cfg`` (config ``download``) gives ``retries``, ``backoff_s``,
    ``timeout_s`` and optionally ``max_backoff_s``; the whole download may take ``max_job_s``.
    The file is kept as served (LAMOST: a gzipped CSV, hence ``.csv.gz``; the readers tell the
    format from the content, not the name) once `validate_lrs_catalog` accepted it, and moved
    into place atomically; a valid file already at ``dest`` is kept without a request.

    Raises ArchiveError naming the URL and the reason when it cannot be fetched; nothing is left
    at ``dest`` then (an interrupted body stays as ``<dest>.part``, resumed by a rerun).
    """
    url = lrs_catalog_url(str(lamost_cfg["base_url"]), str(lamost_cfg["release"]), url_template)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    report = download_many(
        [DownloadJob("lrs_catalog", url, dest)],
        workers=1,
        retries=int(download_cfg["retries"]),
        backoff=float(download_cfg["backoff_s"]),
        max_backoff=float(download_cfg.get("max_backoff_s", 60.0)),
        timeout=float(download_cfg["timeout_s"]),
        token_env=lamost_cfg.get("token_env") or None,
        validate=validate_lrs_catalog,
        progress=progress,
        max_job_s=max_job_s,
    )
    result = report.results[0]
    if result.status == "failed":
        raise ArchiveError(
            f"{url}: the LRS stellar catalogue could not be fetched "
            f"({result.attempts} attempt(s)): {result.reason}"
        )
    with open(dest, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    if dest.suffix == ".gz" and not gzipped:
        log.warning("%s holds an uncompressed table (read by its content all the same)", dest)
    log.info("LRS catalogue %s: %s (%d bytes)", result.status, dest, dest.stat().st_size)
    return dest
