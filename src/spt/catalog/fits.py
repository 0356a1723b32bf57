"""The catalogue file: a FITS binary table of every spectrum (CATALOG) and one of every star
(STARS), units and a description on every column, the flag bits and the provenance in the
header, as astropy, TOPCAT and fitsio read them.

`write_catalog` gathers the shard files into it in bounded memory, whatever the survey's size:
the headers come from astropy (a zero-row table with the final column types), the rows are
written a shard at a time as big-endian records, and the per-star columns (``primary``, the
STARS table) are computed one hash bucket of stars at a time, spilled to a scratch folder beside
the output. The file is the one astropy's ``Table.write`` would write for the whole frame.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import io
import itertools
import math
import os
import pickle
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from spt.catalog.shard import mark_primary
from spt.catalog.stars import STAR_INPUTS, combine_spectra, star_buckets
from spt.io.files import atomic_path
from spt.model.flags import header_cards

PathLike = str | os.PathLike[str]

#: Every column of the catalogue: (unit or None, description). Order is the file's. Units are
#: FITS-standard (TUNITn); [Fe/H] has none in FITS (dex is not a FITS unit), its TCOMM says dex.
COLUMNS: dict[str, tuple[u.UnitBase | None, str]] = {
    "obsid": (None, "LAMOST spectrum identifier"),
    "designation": (None, "LAMOST designation of the star (J2000 position)"),
    "ra": (u.deg, "right ascension (J2000) from the LAMOST catalogue"),
    "dec": (u.deg, "declination (J2000) from the LAMOST catalogue"),
    "snrg": (None, "LAMOST signal-to-noise ratio in the g band"),
    "teff": (u.K, "LAMOST effective temperature"),
    "logg": (None, "LAMOST surface gravity log10(g / (cm s-2))"),
    "feh": (None, "LAMOST metallicity [Fe/H] in dex (log10 of Fe/H over the Sun's)"),
    "age": (u.Gyr, "SPT age: mean of the MC-dropout passes"),
    "age_err": (u.Gyr, "1-sigma age error against the true age (per-star error model)"),
    "age_err_mc": (u.Gyr, "MC-dropout spread of the age alone (the paper's uncertainty)"),
    "age_p16": (u.Gyr, "16th percentile of the true age: age * exp(-age_err / age)"),
    "age_p84": (u.Gyr, "84th percentile of the true age: age * exp(age_err / age)"),
    "mass": (u.Msun, "SPT mass: mean of the MC-dropout passes"),
    "mass_err": (u.Msun, "1-sigma mass error against the true mass (per-star error model)"),
    "mass_err_mc": (u.Msun, "MC-dropout spread of the mass alone (the paper's uncertainty)"),
    "age_err_floor": (u.Gyr, "part of age_err every spectrum of the star shares (floor)"),
    "mass_p16": (u.Msun, "16th percentile of the true mass: mass * exp(-mass_err / mass)"),
    "mass_p84": (u.Msun, "84th percentile of the true mass: mass * exp(mass_err / mass)"),
    "mass_err_floor": (u.Msun, "part of mass_err every spectrum of the star shares (floor)"),
    "p_red_clump": (None, "probability of the red clump (vs RGB) from the spectrum"),
    "flag": (None, "quality bitfield; the header's FLAGnn cards name each bit"),
    "flag_warn": (None, "any flag bit set: use with care"),
    "flag_bad": (None, "a bit that makes the prediction unusable is set (FLAGBAD mask)"),
    "primary": (None, "the best spectrum of its star (not bad, then highest S/N)"),
    "reasons": (None, "why the spectrum was rejected or flagged by preprocessing, if it was"),
}

#: Every column of the STARS table (`spt.catalog.stars.combine_spectra`), as ``COLUMNS``.
STAR_COLUMNS: dict[str, tuple[u.UnitBase | None, str]] = {
    "star": (None, "the star: its LAMOST designation, or obsid:<obsid> without one"),
    "designation": COLUMNS["designation"],
    "obsid": (None, "its highest-S/N spectrum used"),
    "n_spectra": (None, "unflagged spectra combined"),
    "age": (u.Gyr, "age from all its unflagged spectra (noise-weighted log mean)"),
    "age_err": (u.Gyr, "1-sigma age error: the shared floor plus the combined noise"),
    "age_p16": COLUMNS["age_p16"],
    "age_p84": COLUMNS["age_p84"],
    "mass": (u.Msun, "mass from all its unflagged spectra (noise-weighted log mean)"),
    "mass_err": (u.Msun, "1-sigma mass error: the shared floor plus the combined noise"),
    "mass_p16": COLUMNS["mass_p16"],
    "mass_p84": COLUMNS["mass_p84"],
}

#: Text columns of a shard: an empty value is "" (not NaN), as in the catalogue.
TEXT_COLUMNS = ("designation", "reasons")
#: Shard CSV bytes per star bucket: one bucket's rows are in memory at a time (~100 MB).
BUCKET_BYTES = 48 << 20
#: STARS rows per block of the merge of the buckets, and the rows of all buckets' current chunks
#: together: each bucket's rows are spilled in chunks of this divided by the number of buckets
#: (at least STAR_CHUNK_MIN), so the merge's memory does not grow with the number of buckets.
STAR_MERGE_ROWS = 100_000
STAR_CHUNK_MIN = 500
#: Rows buffered across buckets before they are spilled to the scratch files.
SPILL_ROWS = 200_000
#: FITS files are sequences of 2880-byte blocks; a binary table's data is padded with zeros.
FITS_BLOCK = 2880


class CatalogError(ValueError):
    """The shards cannot be gathered; the message names the shard and the fault."""


@dataclass(frozen=True)
class Field:
    """One table column as the file stores it: ``kind`` i (int64), f (float64), b (bool) or
    U (ASCII text of ``width`` characters)."""

    name: str
    kind: str
    width: int = 0

    @property
    def dtype(self) -> np.dtype:
        """The numpy type of the column in memory (text as fixed-width unicode)."""
        return np.dtype(f"U{max(1, self.width)}" if self.kind == "U" else _KIND_DTYPES[self.kind])


_KIND_DTYPES = {"i": "int64", "f": "float64", "b": "bool"}


@dataclass
class GatherSummary:
    """What `write_catalog` wrote: counts for the log, flag-bit counts, seconds per phase."""

    rows: int = 0
    primary: int = 0
    bad: int = 0
    stars: int = 0
    stars_multi: int = 0
    shards: int = 0
    buckets: int = 0
    bit_counts: np.ndarray = field(default_factory=lambda: np.zeros(64, np.int64))
    seconds: dict[str, float] = field(default_factory=dict)

    def flag_fractions(self, bits: Mapping[str, int]) -> pd.DataFrame:
        """Fraction of rows with each flag bit set (as `flag_fractions` of the whole frame)."""
        counts = [int(self.bit_counts[int(v).bit_length() - 1]) for v in bits.values()]
        return pd.DataFrame(
            {
                "bit": list(bits),
                "fraction": [c / self.rows if self.rows else np.nan for c in counts],
            }
        )


def _text(values: pd.Series) -> pd.Series:
    """A text column with "" for missing values (NaN, None)."""
    return values.astype(object).where(values.notna(), "").astype(str)


def _read_shard(path: PathLike) -> pd.DataFrame:
    """One shard file as the catalogue reads it (designation as text; "" where empty)."""
    try:
        frame = pd.read_csv(path, keep_default_na=True, dtype={"designation": str})
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{path}: unreadable shard ({exc}); rerun it") from exc
    for name in TEXT_COLUMNS:
        if name in frame.columns:
            frame[name] = _text(frame[name])
    return frame


def _kind(values: pd.Series) -> str:
    """The file kind (`Field.kind`) of a column as pandas holds it."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return "b"
    if pd.api.types.is_integer_dtype(values.dtype):
        return "i"
    if pd.api.types.is_float_dtype(values.dtype):
        return "f"
    return "U"


def _width(values: pd.Series) -> int:
    """Characters of the longest value of a text column."""
    return int(values.astype(str).str.len().max()) if len(values) else 0


def frame_fields(frame: pd.DataFrame) -> list[Field]:
    """One Field per column of ``frame`` (text as wide as its longest value)."""
    return [
        Field(c, k, _width(frame[c]) if k == "U" else 0)
        for c, k in ((c, _kind(frame[c])) for c in frame.columns)
    ]


def merge_fields(a: Sequence[Field], b: Sequence[Field], where: str) -> list[Field]:
    """The fields holding both blocks' columns: int and float make float, text the widest;
    raises CatalogError (naming ``where``) when the columns or their kinds do not match."""
    if [f.name for f in a] != [f.name for f in b]:
        raise CatalogError(
            f"{where}: columns {[f.name for f in b]} differ from the other shards' "
            f"{[f.name for f in a]}; rerun it"
        )
    out = []
    for x, y in zip(a, b, strict=True):
        kinds = {x.kind, y.kind}
        if len(kinds) == 1:
            out.append(Field(x.name, x.kind, max(x.width, y.width)))
        elif kinds == {"i", "f"}:
            out.append(Field(x.name, "f"))
        else:
            raise CatalogError(f"{where}: column {x.name!r} is {y.kind} here, {x.kind} elsewhere")
    return out


def ordered_fields(
    fields: Sequence[Field], columns: Mapping[str, tuple[u.UnitBase | None, str]]
) -> list[Field]:
    """``fields`` in the file's order: those named in ``columns`` first, in its order, then
    the others as they come."""
    by_name = {f.name: f for f in fields}
    return [by_name[c] for c in columns if c in by_name] + [
        f for f in fields if f.name not in columns
    ]


def records(frame: pd.DataFrame, fields: Sequence[Field], dtype: np.dtype) -> np.ndarray:
    """The rows of ``frame`` as FITS binary-table records (``dtype``: big-endian, text as
    bytes, logicals as 'T'/'F'), the bytes astropy would write for them."""
    out = np.zeros(len(frame), dtype=dtype)
    for f in fields:
        values = frame[f.name]
        if f.kind == "b":
            out[f.name] = np.where(values.to_numpy(dtype=bool), ord("T"), ord("F"))
        elif f.kind == "U":
            out[f.name] = np.asarray(_text(values).to_numpy(dtype=f.dtype)).astype(
                f"S{max(1, f.width)}"
            )
        else:
            out[f.name] = values.to_numpy(dtype=f.dtype)
    return out


def table_header(
    fields: Sequence[Field],
    columns: Mapping[str, tuple[u.UnitBase | None, str]],
    name: str,
    n_rows: int,
    cards: Iterable[tuple[str, Any, str]] = (),
) -> tuple[fits.Header, np.dtype]:
    """The binary-table header astropy writes for a table of ``fields`` with the units and
    descriptions of ``columns`` (TUNITn; TCOMMn for TOPCAT; astropy's own column block),
    named ``name``, with ``n_rows`` rows and the extra ``cards``; and its record type."""
    table = Table()
    for f in fields:
        unit, description = columns.get(f.name, (None, ""))
        table[f.name] = np.zeros(0, dtype=f.dtype)
        table[f.name].unit = unit
        table[f.name].description = description
    buffer = io.BytesIO()
    table.write(buffer, format="fits")  # astropy's header, its column block (YAML) included
    buffer.seek(0)
    with fits.open(buffer) as hdul:
        header = hdul[1].header.copy()
        dtype = np.dtype(hdul[1].columns.dtype.descr).newbyteorder(">")  # FITS is big-endian
    header["EXTNAME"] = (name, "extension name")
    for i, f in enumerate(fields, start=1):
        description = columns.get(f.name, (None, ""))[1]
        if description:
            header[f"TCOMM{i}"] = description[:68]
    for key, value, comment in cards:
        header[key] = (value, comment[:47])
    header["NAXIS2"] = n_rows
    if header["NAXIS1"] != dtype.itemsize:
        raise CatalogError(f"{name}: rows of {dtype.itemsize} bytes but NAXIS1 differs")
    return header, dtype


def primary_header(provenance: Mapping[str, str]) -> fits.Header:
    """The primary HDU's header: ``provenance`` (at most 8-character keywords) and DATE
    (SOURCE_DATE_EPOCH when set, for reproducible files)."""
    stamp = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible builds fix the date
    when = dt.datetime.fromtimestamp(int(stamp), dt.UTC) if stamp else dt.datetime.now(dt.UTC)
    header = fits.PrimaryHDU().header
    for key, value in {**provenance, "DATE": when.strftime("%Y-%m-%dT%H:%M:%S")}.items():
        header[key.upper()[:8]] = str(value)[:68]
    return header


class TableWriter:
    """Streams one binary-table HDU into an open file: the header, then blocks of rows, then
    the zero padding to a whole FITS block; checks that it wrote the rows the header says."""

    def __init__(
        self, fh: IO[bytes], header: fits.Header, dtype: np.dtype, fields: Sequence[Field]
    ):
        self.fh, self.dtype, self.fields = fh, dtype, list(fields)
        self.name = str(header.get("EXTNAME", "table"))
        self.expected, self.written, self.nbytes = int(header["NAXIS2"]), 0, 0
        fh.write(header.tostring().encode("ascii"))

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows."""
        data = records(frame, self.fields, self.dtype).tobytes()
        self.fh.write(data)
        self.written += len(frame)
        self.nbytes += len(data)

    def close(self) -> None:
        """Pad the data to a whole FITS block; raise CatalogError if a row is missing."""
        if self.written != self.expected:
            raise CatalogError(
                f"{self.name}: wrote {self.written} rows, header says {self.expected}"
            )
        self.fh.write(b"\0" * (-self.nbytes % FITS_BLOCK))


def write_tables(
    path: PathLike,
    provenance: Mapping[str, str],
    tables: Sequence[tuple[fits.Header, np.dtype, Sequence[Field], Iterable[pd.DataFrame]]],
    seconds: dict[str, float] | None = None,
) -> None:
    """Write a FITS file atomically: the primary header, then per table its header and its
    blocks of rows (each ``(header, dtype, fields, blocks)``); ``seconds`` gets each table's
    time (blocks made and written) under its EXTNAME."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(primary_header(provenance).tostring().encode("ascii"))
        for header, dtype, fields, blocks in tables:
            start = time.perf_counter()
            writer = TableWriter(fh, header, dtype, fields)
            for block in blocks:
                writer.write(block)
            writer.close()
            if seconds is not None:
                seconds[writer.name] = time.perf_counter() - start


def catalog_cards(bad_mask: int) -> list[tuple[str, Any, str]]:
    """The CATALOG table's FLAGnn cards (one per bit) and FLAGBAD (the bits of flag_bad)."""
    return [*header_cards(), ("FLAGBAD", int(bad_mask), "bits that set flag_bad")]


def gather(shard_paths: Sequence[PathLike]) -> pd.DataFrame:
    """All shard files (CSV) as one frame, in obsid order, with the ``primary`` column (in
    memory: for small catalogues and tests; `write_catalog` streams)."""
    frames = [_read_shard(path) for path in shard_paths]
    if not frames:
        raise CatalogError("no shard to gather")
    frame = pd.concat(frames, ignore_index=True).sort_values("obsid", kind="stable")
    frame = frame.reset_index(drop=True)
    if frame["obsid"].duplicated().any():
        raise CatalogError("an obsid is in two shards: the targets changed; rerun catalog_targets")
    frame["primary"] = mark_primary(frame)
    return frame


def write_catalog_fits(
    frame: pd.DataFrame,
    path: PathLike,
    provenance: Mapping[str, str],
    bad_mask: int,
    stars: pd.DataFrame | None = None,
) -> None:
    """Write a catalogue held in memory atomically: primary header with ``provenance`` (keyword
    -> value, at most 8-character keywords), the CATALOG table with TUNITn and TCOMMn (TOPCAT's
    column description) for every column, FLAGnn cards naming the bits and FLAGBAD their bad
    mask; and, given ``stars`` (`spt.catalog.stars.combine_spectra`), a second table STARS."""
    fields = ordered_fields(frame_fields(frame), COLUMNS)
    header, dtype = table_header(fields, COLUMNS, "CATALOG", len(frame), catalog_cards(bad_mask))
    tables = [(header, dtype, fields, [frame])]
    if stars is not None:
        star_fields = ordered_fields(frame_fields(stars), STAR_COLUMNS)
        star_header, star_dtype = table_header(star_fields, STAR_COLUMNS, "STARS", len(stars))
        tables.append((star_header, star_dtype, star_fields, [stars]))
    write_tables(path, provenance, tables)


# -- The streaming gather ----------------------------------------------------------------------


@dataclass
class _Shard:
    """One shard as the first pass saw it."""

    path: PathLike
    rows: int
    lo: int
    hi: int


def _spill(path: Path, frame: pd.DataFrame | np.ndarray) -> None:
    """Append one frame (or array) to a scratch file of pickled frames."""
    with open(path, "ab") as fh:
        pickle.dump(frame, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _unspill(path: Path) -> Iterator[Any]:
    """The frames of a scratch file, in the order they were appended."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        while True:
            try:
                yield pickle.load(fh)
            except EOFError:
                return


def _scan(
    shard_paths: Sequence[PathLike], scratch: Path, n_buckets: int
) -> tuple[list[_Shard], list[Field], pd.DataFrame]:
    """First pass: each shard's rows and obsid range, the columns' kinds and widths, and each
    row's star columns spilled to its star's bucket file (their empty frame comes back)."""
    shards: list[_Shard] = []
    fields: list[Field] | None = None
    buffered: list[pd.DataFrame] = []
    buffered_empty: list[pd.DataFrame] = []

    def flush() -> None:
        if not buffered:
            return
        rows = pd.concat(buffered, ignore_index=True)
        buckets = star_buckets(rows, n_buckets)
        for b in np.unique(buckets):
            _spill(scratch / f"rows{b:05d}.pkl", rows.loc[buckets == b].reset_index(drop=True))
        buffered.clear()

    pending = 0
    for path in shard_paths:
        frame = _read_shard(path)
        obsid = frame["obsid"].to_numpy(np.int64)
        if len(np.unique(obsid)) != len(obsid):
            raise CatalogError(f"{path}: an obsid is in the shard twice; rerun catalog_targets")
        here = frame_fields(frame)
        fields = here if fields is None else merge_fields(fields, here, str(path))
        lo, hi = (int(obsid.min()), int(obsid.max())) if len(obsid) else (0, -1)
        shards.append(_Shard(path, len(frame), lo, hi))
        buffered.append(frame.loc[:, [c for c in STAR_INPUTS if c in frame.columns]])
        buffered_empty = buffered_empty or [buffered[-1].iloc[:0]]
        pending += len(frame)
        if pending >= SPILL_ROWS:
            flush()
            pending = 0
    flush()
    if fields is None:
        raise CatalogError("no shard to gather")
    return shards, fields, buffered_empty[0]


def _stars(
    scratch: Path, n_buckets: int, empty: pd.DataFrame, summary: GatherSummary
) -> tuple[np.ndarray, list[Field]]:
    """Second pass, one bucket of stars at a time: the obsids that are not their star's
    primary spectrum (sorted), and the STARS rows, spilled sorted by star in chunks
    (``empty``: the star columns with no row, for the columns of a table without stars)."""
    not_primary: list[np.ndarray] = []
    fields: list[Field] | None = None
    chunk = max(STAR_CHUNK_MIN, STAR_MERGE_ROWS // n_buckets)
    for b in range(n_buckets):
        parts = list(_unspill(scratch / f"rows{b:05d}.pkl"))
        if not parts:
            continue
        rows = pd.concat(parts, ignore_index=True)
        (scratch / f"rows{b:05d}.pkl").unlink()
        primary = mark_primary(rows).to_numpy(bool)
        not_primary.append(rows["obsid"].to_numpy(np.int64)[~primary])
        stars = combine_spectra(rows)
        summary.stars += len(stars)
        summary.stars_multi += int((stars["n_spectra"] > 1).sum())
        if len(stars):
            here = frame_fields(stars)
            fields = here if fields is None else merge_fields(fields, here, "STARS")
        for start in range(0, len(stars), chunk):
            part = stars.iloc[start : start + chunk]
            _spill(scratch / f"stars{b:05d}.pkl", part)
            _spill(scratch / f"keys{b:05d}.pkl", part["star"].astype(str).to_numpy(dtype=object))
    if fields is None:  # no star at all: the columns of an empty STARS table
        fields = frame_fields(combine_spectra(empty))
    ids = np.sort(np.concatenate(not_primary)) if not_primary else np.zeros(0, np.int64)
    return ids, fields


def _clusters(shards: Sequence[_Shard]) -> list[list[_Shard]]:
    """Shards in obsid order, those whose obsid ranges overlap kept together (targets cut by
    `spt.catalog.targets.write_shards` never overlap: each cluster is one shard)."""
    out: list[list[_Shard]] = []
    end = None
    for shard in sorted((s for s in shards if s.rows), key=lambda s: (s.lo, s.hi)):
        if out and end is not None and shard.lo <= end:
            out[-1].append(shard)
            end = max(end, shard.hi)
        else:
            out.append([shard])
            end = shard.hi
    return out


def _catalog_blocks(
    shards: Sequence[_Shard],
    fields: Sequence[Field],
    not_primary: np.ndarray,
    summary: GatherSummary,
) -> Iterator[pd.DataFrame]:
    """Third pass: the catalogue's rows in obsid order, a shard (or overlapping shards) at a
    time, with their ``primary`` column; counts rows, primaries, bad rows and flag bits."""
    for cluster in _clusters(shards):
        frame = pd.concat([_read_shard(s.path) for s in cluster], ignore_index=True)
        # a single shard need not be in obsid order either (gather sorts every row)
        frame = frame.sort_values("obsid", kind="stable").reset_index(drop=True)
        obsid = frame["obsid"].to_numpy(np.int64)
        if (np.diff(obsid) == 0).any():
            raise CatalogError(
                "an obsid is in two shards: the targets changed; rerun catalog_targets "
                f"({', '.join(str(s.path) for s in cluster)})"
            )
        at = np.searchsorted(not_primary, obsid)
        found = at < len(not_primary)
        found[found] = not_primary[at[found]] == obsid[found]
        frame["primary"] = ~found
        for f in fields:  # the kind every shard's column is written as
            if f.kind == "f" and f.name != "primary":
                frame[f.name] = frame[f.name].astype(np.float64)
        summary.rows += len(frame)
        summary.primary += int((~found).sum())
        if "flag_bad" in frame.columns:
            summary.bad += int(frame["flag_bad"].astype(bool).sum())
        if "flag" in frame.columns:
            flag = frame["flag"].to_numpy(np.int64)
            for bit in range(64):
                summary.bit_counts[bit] += np.count_nonzero((flag >> bit) & 1)
        yield frame


class _Rows:
    """The spilled STARS rows of one bucket, handed out ``n`` at a time in their order."""

    def __init__(self, path: Path) -> None:
        self._chunks = _unspill(path)
        self._head: pd.DataFrame | None = None
        self._at = 0

    def take(self, n: int) -> list[pd.DataFrame]:
        """The next ``n`` rows, as slices of the chunks they sit in."""
        parts = []
        while n > 0:
            if self._head is None or self._at == len(self._head):
                self._head, self._at = next(self._chunks), 0
            stop = min(self._at + n, len(self._head))
            parts.append(self._head.iloc[self._at : stop])
            n -= stop - self._at
            self._at = stop
        return parts


def _bucket_keys(path: Path, bucket: int) -> Iterator[tuple[str, int]]:
    """The sorted star keys of one bucket, each with its bucket number."""
    for keys in _unspill(path):
        for key in keys:
            yield key, bucket


def _merged_stars(scratch: Path, n_buckets: int) -> Iterator[pd.DataFrame]:
    """The spilled STARS rows of every bucket merged into one sequence sorted by star (each
    bucket's rows are sorted and no star is in two buckets), in blocks of STAR_MERGE_ROWS: a
    heap merge of the star keys alone says how many rows of each bucket the next block takes,
    so one chunk per bucket and one block are in memory whatever the number of buckets."""
    rows = [_Rows(scratch / f"stars{b:05d}.pkl") for b in range(n_buckets)]
    keys = heapq.merge(*(_bucket_keys(scratch / f"keys{b:05d}.pkl", b) for b in range(n_buckets)))
    counts = [0] * n_buckets
    pending = 0
    for _, bucket in itertools.chain(keys, [(None, -1)]):
        if bucket >= 0:
            counts[bucket] += 1
            pending += 1
        if pending == STAR_MERGE_ROWS or (bucket < 0 and pending):
            parts = [part for b, n in enumerate(counts) if n for part in rows[b].take(n)]
            yield pd.concat(parts, ignore_index=True).sort_values("star", kind="stable")
            counts = [0] * n_buckets
            pending = 0


def write_catalog(
    shard_paths: Sequence[PathLike],
    path: PathLike,
    provenance: Mapping[str, str],
    bad_mask: int,
    *,
    bucket_bytes: int = BUCKET_BYTES,
) -> GatherSummary:
    """Gather the shard files (CSV) into the catalogue FITS file, atomically, in memory that
    does not grow with the catalogue; the same file `write_catalog_fits` writes for
    ``gather(shard_paths)`` and ``combine_spectra`` of it.

    Pass 1 reads each shard for its columns and obsid range and spills each row's star columns
    to one of ``ceil(shard bytes / bucket_bytes)`` hash buckets of stars (all spectra of a star
    share one, whatever shard they sit in); pass 2 combines each bucket alone (``primary``, the
    STARS rows); pass 3 writes the CATALOG rows a shard at a time in obsid order, then the STARS
    rows merged from the buckets. Only 8 bytes a row are kept for the whole catalogue: the
    obsid of each spectrum that is not its star's primary one.
    """
    if not shard_paths:
        raise CatalogError("no shard to gather")
    summary = GatherSummary(shards=len(shard_paths))
    total = sum(os.path.getsize(p) for p in shard_paths if os.path.exists(p))
    n_buckets = max(1, math.ceil(total / bucket_bytes))
    summary.buckets = n_buckets
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gather-", dir=Path(path).parent) as tmp:
        scratch = Path(tmp)
        t0 = time.perf_counter()
        shards, fields, empty = _scan(shard_paths, scratch, n_buckets)
        t1 = time.perf_counter()
        not_primary, star_fields = _stars(scratch, n_buckets, empty, summary)
        t2 = time.perf_counter()
        fields = ordered_fields([*fields, Field("primary", "b")], COLUMNS)
        n_rows = sum(s.rows for s in shards)
        header, dtype = table_header(fields, COLUMNS, "CATALOG", n_rows, catalog_cards(bad_mask))
        star_fields = ordered_fields(star_fields, STAR_COLUMNS)
        star_header, star_dtype = table_header(star_fields, STAR_COLUMNS, "STARS", summary.stars)
        written: dict[str, float] = {}
        write_tables(path, provenance, [
            (header, dtype, fields, _catalog_blocks(shards, fields, not_primary, summary)),
            (star_header, star_dtype, star_fields, _merged_stars(scratch, n_buckets)),
        ], written)  # fmt: skip
    summary.seconds = {"scan": t1 - t0, "stars": t2 - t1, "write CATALOG": written["CATALOG"],
                       "write STARS": written["STARS"]}  # fmt: skip
    return summary


def file_md5(path: PathLike) -> str:
    """MD5 of a file's bytes (the model's checksum in the catalogue header)."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def to_table(
    frame: pd.DataFrame, columns: Mapping[str, tuple[u.UnitBase | None, str]] = COLUMNS
) -> Table:
    """A catalogue frame as an astropy Table with the units and descriptions of ``columns``
    (extra columns kept, after them)."""
    table = Table()
    names = [c for c in columns if c in frame.columns]
    names += [c for c in frame.columns if c not in columns]
    for name in names:
        values = frame[name].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        unit, description = columns.get(name, (None, ""))
        table[name] = values
        table[name].unit = unit
        table[name].description = description
    return table


def read_catalog_fits(path: PathLike) -> Table:
    """The catalogue table back, units and descriptions included."""
    return Table.read(path, hdu="CATALOG")


def flag_fractions(frame: pd.DataFrame, bits: Mapping[str, int]) -> pd.DataFrame:
    """Fraction of catalogue rows with each flag bit set (for the report and the figure)."""
    flag = frame["flag"].to_numpy(np.int64)
    return pd.DataFrame(
        {"bit": list(bits), "fraction": [float(np.mean(flag & v != 0)) for v in bits.values()]}
    )
