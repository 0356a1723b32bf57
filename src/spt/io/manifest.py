"""The spectra manifest: one ``obsid,path`` CSV per source, the one way every rule finds a spectrum.

The mock survey writes it beside its spectra; the LAMOST download writes it with a ``status``
column. Paths are stored as written (relative to the working directory of the run). A wanted
obsid absent from the manifest has no file: callers report it, never drop it silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spt.io.files import write_csv
from spt.io.lamost import LamostFormatError, read_spectrum, resolve_obsid

PathLike = str | os.PathLike[str]
MANIFEST_COLUMNS = ("obsid", "path")
SPECTRUM_SUFFIXES = (".fits.gz", ".fits", ".fit.gz", ".fit")


class ManifestError(ValueError):
    """A manifest is unreadable or lacks its columns; the message names the file."""


def write_manifest(obsids: Iterable[int], paths: Iterable[PathLike], path: PathLike) -> None:
    """Write an ``obsid,path`` manifest atomically, sorted by obsid."""
    frame = pd.DataFrame(
        {"obsid": np.asarray(list(obsids), dtype=np.int64), "path": [str(p) for p in paths]}
    )
    if frame["obsid"].duplicated().any():
        dup = frame.loc[frame["obsid"].duplicated(), "obsid"].head(5).tolist()
        raise ManifestError(f"{path}: obsid(s) listed twice, e.g. {dup}")
    write_csv(frame.sort_values("obsid", kind="stable"), path)


def folder_manifest(folder: PathLike) -> pd.DataFrame:
    """``obsid,path`` of the ``<obsid>.fits[.gz]`` files a writer of ours named by obsid."""
    rows = []
    for entry in sorted(Path(folder).iterdir()):
        for suffix in SPECTRUM_SUFFIXES:
            stem = entry.name[: -len(suffix)]
            if entry.name.endswith(suffix) and stem.isdigit():
                rows.append((int(stem), str(entry)))
                break
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    return frame.sort_values("obsid", kind="stable").reset_index(drop=True)


def fits_folder_manifest(
    folder: PathLike, catalog: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``obsid,path`` of a user's folder of LAMOST FITS files, every release from DR1 on.

    The obsid comes from each file's OBSID header or, where there is none (DR1), from the
    ``catalog`` row with the same lmjd, planid, spid and fiberid: never from the file name.
    Files that cannot be read or identified come back in the second frame (``path, problem``).
    """
    rows, problems = [], []
    files = sorted(p for p in Path(folder).iterdir() if p.name.lower().endswith(SPECTRUM_SUFFIXES))
    empty = pd.DataFrame(columns=["obsid", "ra", "dec", "lmjd", "planid", "spid", "fiberid"])
    for path in files:
        try:
            spec = read_spectrum(path)
            rows.append((resolve_obsid(spec, empty if catalog is None else catalog, str(path)),
                         str(path)))  # fmt: skip
        except (LamostFormatError, OSError) as exc:
            problems.append((str(path), str(exc)))
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    twice = manifest.loc[manifest["obsid"].duplicated(keep=False)]
    for obsid, path in twice.itertuples(index=False):
        problems.append((path, f"obsid {obsid} is also the obsid of another file in {folder}"))
    manifest = manifest.drop_duplicates("obsid", keep=False).reset_index(drop=True)
    problems_frame = pd.DataFrame(problems, columns=["path", "problem"]).sort_values("path")
    return manifest, problems_frame.reset_index(drop=True)


def read_manifest(path: PathLike) -> pd.DataFrame:
    """A manifest as a frame (obsid int64, path str, any extra columns kept)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the spectra manifest ({exc})") from exc
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(f"{path}: spectra manifest lacks column(s) {missing}")
    return frame.astype({"obsid": np.int64, "path": str})


def paths_for(manifest: pd.DataFrame, obsids: Sequence[int]) -> list[str]:
    """The manifest's path of each obsid, in order; "" where it lists none or a failed download."""
    if "status" in manifest.columns:
        manifest = manifest.loc[manifest["status"] != "failed"]
    lookup = dict(zip(manifest["obsid"].to_numpy(), manifest["path"], strict=True))
    return [lookup.get(int(o), "") for o in obsids]
