"""Catalogue targets from any source, and their cut into shards of ``shard_size`` spectra
(more where the targets would make over ``max_shards`` shards).

A target is one spectrum: ``obsid`` and, where the file is already on disk, ``path`` ("" when it
is still to be downloaded), with what the LAMOST catalogue says of it (position, S/N, Teff,
log g, [Fe/H]). Each shard's targets go to a file of their own, so a shard job reads only its
own rows and its memory does not grow with the catalogue.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spt.io.files import write_csv
from spt.io.lamost import lamost_columns, mask_no_value, read_catalog
from spt.io.manifest import fits_folder_manifest, paths_for, read_manifest
from spt.io.tables import sniff

PathLike = str | os.PathLike[str]
#: What a target row carries (NaN / "" where unknown); the catalogue keeps all of it.
TARGET_COLUMNS = ("obsid", "path", "designation", "ra", "dec", "snrg", "teff", "logg", "feh")
#: Rows per chunk when a CSV catalogue is cut to giants (bounds catalog_targets' memory).
CHUNK_ROWS = 200_000


class TargetError(ValueError):
    """The targets cannot be built; the message names the file and the fault."""


def _with_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every TARGET_COLUMNS column (missing ones empty), obsid sorted and unique."""
    out = frame.copy()
    for col in TARGET_COLUMNS:
        if col not in out.columns:
            out[col] = "" if col in ("path", "designation") else np.nan
    out["path"] = out["path"].fillna("").astype(str)
    out["designation"] = out["designation"].fillna("").astype(str)
    out["obsid"] = out["obsid"].astype(np.int64)
    out = out.drop_duplicates("obsid").sort_values("obsid", kind="stable")
    return out.loc[:, list(TARGET_COLUMNS)].reset_index(drop=True)


def select_giants(catalog: pd.DataFrame, cuts: Mapping[str, Any]) -> pd.DataFrame:
    """Rows of a LAMOST LRS parameter catalogue inside the configured Teff, log g and S/N cuts.

    ``cuts``: ``teff: [lo, hi]`` (K), ``logg: [lo, hi]`` (dex), ``min_snrg``. Rows with no
    Teff or log g (NaN, LAMOST's -9999) are not giants we can tell: left out, as are rows with
    no g-band S/N. Raises TargetError when the catalogue lacks one of these columns.
    """
    missing = [c for c in ("teff", "logg", "snrg") if c not in catalog.columns]
    if missing:
        raise TargetError(
            f"the LAMOST catalogue has no column(s) {missing} for the giant cuts "
            f"(columns: {list(catalog.columns)[:12]})"
        )
    # A frame not read by read_catalog may still hold the -9999 markers: never cut on them.
    values = mask_no_value(catalog[["teff", "logg", "snrg"]])
    keep = values["teff"].between(*cuts["teff"]) & values["logg"].between(*cuts["logg"])
    keep &= values["snrg"] >= float(cuts["min_snrg"])
    return catalog.loc[keep]


def _csv_kind(path: PathLike) -> tuple[bool, bool]:
    """(holds a CSV, is gzipped), told from the first bytes as read_table does."""
    gzipped = False
    try:
        with open(path, "rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
            head = fh.read(4096)
    except (OSError, EOFError, zlib.error):
        return False, gzipped  # read_catalog names the fault
    return bool(head.strip()) and sniff(head) == "csv", gzipped


def _giants_from_csv(
    path: PathLike, cuts: Mapping[str, Any], chunk_rows: int, gzipped: bool
) -> pd.DataFrame:
    """The giants of a CSV catalogue read ``chunk_rows`` rows at a time, only the columns a
    target carries: the same rows as ``select_giants(read_catalog(path))`` (a repeated obsid
    keeps its first row), in a fraction of the memory."""
    wanted = {*TARGET_COLUMNS, "ra_obs", "dec_obs"}

    def use(col: str) -> bool:
        name = re.sub(r"\s+", " ", str(col)).strip().lower().removeprefix("\ufeff")
        return name.removeprefix("combined_") in wanted

    parts, ids, offset = [], [], 0
    try:
        reader = pd.read_csv(
            path, compression="gzip" if gzipped else None,
            encoding="utf-8-sig", usecols=use, chunksize=chunk_rows, low_memory=False,
        )  # fmt: skip
        with reader:
            for raw in reader:
                chunk = lamost_columns(raw, f"{path}: catalogue (csv)", TargetError).set_axis(
                    pd.RangeIndex(offset, offset + len(raw)), axis=0
                )
                offset += len(raw)
                ids.append(chunk["obsid"].to_numpy())
                parts.append(select_giants(chunk, cuts))
    except TargetError:
        raise
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise TargetError(f"{path}: unreadable CSV catalogue ({exc})") from None
    if not offset:
        raise TargetError(f"{path}: the catalogue has no rows")
    giants = pd.concat(parts)
    # A repeated obsid counts by its first row in the file, giant or not (as in read_catalog).
    repeated = pd.Series(np.concatenate(ids)).duplicated(keep="first").to_numpy()
    return giants.loc[~repeated[giants.index.to_numpy()]].reset_index(drop=True)


def targets_from_catalog(
    catalog_path: PathLike,
    cuts: Mapping[str, Any] | None,
    manifest_path: PathLike | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """Targets from a LAMOST catalogue file (CSV, FITS or VOTable), cut to giants when ``cuts``
    are given; paths from a spectra manifest where one lists the obsid.

    A CSV catalogue (gzipped or not) that is cut is read ``chunk_rows`` rows at a time: LAMOST's
    LRS stellar catalogue (some 10^7 rows, a few GB as text) read whole would need ~10x its
    text size in memory.
    """
    is_csv, gzipped = _csv_kind(catalog_path)
    if cuts is not None and is_csv:
        catalog = _giants_from_csv(catalog_path, cuts, chunk_rows, gzipped)
    else:
        catalog = read_catalog(catalog_path)
        if cuts is not None:
            catalog = select_giants(catalog, cuts)
    targets = _with_columns(catalog)
    if manifest_path is not None:
        targets["path"] = paths_for(read_manifest(manifest_path), targets["obsid"])
    return targets


def targets_from_obsids(obsid_path: PathLike, catalog_path: PathLike | None = None) -> pd.DataFrame:
    """Targets from a user's CSV with an ``obsid`` column (more columns are kept), joined to
    what a LAMOST catalogue says of them when one is given."""
    try:
        wanted = pd.read_csv(obsid_path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise TargetError(f"{obsid_path}: cannot read the list of obsids ({exc})") from exc
    if "obsid" not in wanted.columns:
        raise TargetError(f"{obsid_path}: no 'obsid' column (columns: {list(wanted.columns)})")
    bad = pd.to_numeric(wanted["obsid"], errors="coerce").isna()
    if bad.any():
        raise TargetError(f"{obsid_path}: {int(bad.sum())} obsid(s) are not integers")
    if catalog_path is not None:
        catalog = read_catalog(catalog_path)
        extra = [c for c in TARGET_COLUMNS if c in catalog.columns and c not in wanted.columns]
        wanted = wanted.merge(catalog[["obsid", *[c for c in extra if c != "obsid"]]],
                              on="obsid", how="left")  # fmt: skip
    return _with_columns(wanted)


def targets_from_folder(
    folder: PathLike, catalog_path: PathLike | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Targets from a user's folder of LAMOST FITS files (obsids from headers, or from the
    catalogue for DR1); the files that could not be identified come back second."""
    catalog = None if catalog_path is None else read_catalog(catalog_path)
    manifest, problems = fits_folder_manifest(folder, catalog)
    targets = manifest
    if catalog is not None:
        extra = [c for c in TARGET_COLUMNS if c in catalog.columns and c not in ("obsid", "path")]
        targets = manifest.merge(catalog[["obsid", *extra]], on="obsid", how="left")
    return _with_columns(targets), problems


def shard_size_for(n_targets: int, shard_size: int, max_shards: int) -> int:
    """Spectra per shard: ``shard_size``, or more where that would cut over ``max_shards``
    shards. At survey scale the shards grow instead of their number: LAMOST DR10's 1.1e7
    spectra in 500 shards are 22,200 spectra (minutes of work) a job, and a DAG that Snakemake
    plans in seconds (docs/scale.md)."""
    if max_shards < 1:
        raise TargetError(f"catalog.max_shards must be >= 1, got {max_shards}")
    if shard_size < 1:
        raise TargetError(f"catalog.shard_size must be >= 1, got {shard_size}")
    return max(shard_size, -(-n_targets // max_shards))


def shard_names(n_targets: int, shard_size: int) -> list[str]:
    """``s00000``, ``s00001``, ...: one name per ``shard_size`` targets."""
    if shard_size < 1:
        raise TargetError(f"catalog.shard_size must be >= 1, got {shard_size}")
    return [f"s{i:05d}" for i in range(max(1, -(-n_targets // shard_size)))]


def write_shards(targets: pd.DataFrame, shard_size: int, out_dir: PathLike) -> list[str]:
    """Cut ``targets`` (in obsid order) into shard files ``<out_dir>/<name>.csv``; returns names.

    The same targets and shard size always give the same shards, so a rerun finds the shards it
    already finished under the same names.
    """
    names = shard_names(len(targets), shard_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("s*.csv"):
        if stale.stem not in names:
            stale.unlink()
    for i, name in enumerate(names):
        write_csv(targets.iloc[i * shard_size : (i + 1) * shard_size], out / f"{name}.csv")
    return names


def read_shard(path: PathLike) -> pd.DataFrame:
    """One shard's targets as written by `write_shards` (empty path and designation stay "")."""
    text = ("path", "designation")
    numeric_na = {c: [""] for c in TARGET_COLUMNS if c not in text}
    frame = pd.read_csv(path, dtype=dict.fromkeys(text, str), keep_default_na=False,
                        na_values=numeric_na)  # fmt: skip
    return _with_columns(frame)


def targets_summary(
    targets: pd.DataFrame, names: Sequence[str], shard_size: int | None = None
) -> pd.DataFrame:
    """Counts for the log and the report: targets, with a file on disk, shards (and the
    spectra per shard, when given)."""
    quantity = ["targets", "with_file", "shards"]
    count = [len(targets), int((targets["path"] != "").sum()), len(names)]
    if shard_size is not None:
        quantity.append("shard_size")
        count.append(int(shard_size))
    return pd.DataFrame({"quantity": quantity, "count": count})
