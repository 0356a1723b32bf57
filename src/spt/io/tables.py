"""Tables as users hold them: CSV, FITS or VOTable, optionally gzipped, told apart by content.

One reader for every catalogue the pipeline takes from a file (the LAMOST LRS catalogue, a
local asteroseismic table): the format comes from the first bytes, never from the file name
(gzip magic ``1f 8b``; FITS ``SIMPLE  =``; VOTable: XML whose root is ``VOTABLE``; anything
else is read as UTF-8 CSV). FITS and VOTable go through astropy (the first table HDU, the
first TABLE); masked cells become NaN (numbers) or None (text); byte strings are decoded.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import warnings
import zlib
from typing import Literal

import numpy as np
import pandas as pd
from astropy.io import fits, votable
from astropy.io.votable.exceptions import VOWarning
from astropy.table import Table
from astropy.utils.exceptions import AstropyWarning

PathLike = str | os.PathLike[str]
TableKind = Literal["csv", "fits", "votable"]
log = logging.getLogger(__name__)


class TableFormatError(ValueError):
    """A table file cannot be read; the message names the file and the fault."""


def sniff(raw: bytes) -> TableKind:
    """The format of a (decompressed) table file from its first bytes."""
    if raw.startswith(b"SIMPLE  ="):
        return "fits"
    head = raw[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<?xml") or head.startswith(b"<votable"):
        return "votable"
    return "csv"


def _decompress(raw: bytes, where: str, error: type[ValueError]) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise error(f"{where}: truncated or corrupt gzip file ({exc})") from None


def _fits_frame(raw: bytes, where: str, error: type[ValueError]) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyWarning)  # e.g. "file is truncated"
            with fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=False) as hdul:
                tables = [h for h in hdul if isinstance(h, fits.BinTableHDU | fits.TableHDU)]
                if not tables:
                    names = [h.name for h in hdul]
                    raise error(f"{where}: FITS file holds no table HDU (HDUs {names})")
                table = Table.read(tables[0])
    except error:
        raise
    except (OSError, EOFError, ValueError, TypeError, KeyError, AstropyWarning) as exc:
        raise error(f"{where}: truncated or corrupt FITS file ({exc})") from None
    return _table_frame(table)


def _votable_frame(raw: bytes, where: str, error: type[ValueError]) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VOWarning)
            doc = votable.parse(io.BytesIO(raw), verify="ignore")
            first = next(doc.iter_tables(), None)
            if first is None:
                raise error(f"{where}: VOTable holds no TABLE")
            table = first.to_table(use_names_over_ids=True)
    except error:
        raise
    except Exception as exc:  # the XML parser raises many kinds
        raise error(
            f"{where}: truncated or corrupt VOTable ({type(exc).__name__}: {exc})"
        ) from None
    return _table_frame(table)


def _table_frame(table: Table) -> pd.DataFrame:
    """An astropy table as a frame: one value per cell (vector columns are dropped), masked
    numbers as NaN, text as str."""
    vectors = [c for c in table.colnames if table[c].ndim > 1]
    if vectors:
        log.info("dropping vector column(s) %s", vectors)
        table.remove_columns(vectors)
    columns: dict[str, pd.Series] = {}
    for name in table.colnames:
        col = table[name]
        mask = np.asarray(getattr(col, "mask", np.zeros(len(col), bool)), dtype=bool)
        values = np.asarray(col)
        if values.dtype.kind in "SU" or values.dtype.kind == "O":
            text = [v.decode() if isinstance(v, bytes) else v for v in values.tolist()]
            text = [
                None if m else (t.strip() if isinstance(t, str) else t)
                for t, m in zip(text, mask, strict=True)
            ]
            columns[name] = pd.Series(text, dtype=object)
        elif values.dtype.kind in "iub" and not mask.any():
            columns[name] = pd.Series(values.astype(values.dtype.newbyteorder("=")))
        else:
            floats = values.astype(np.float64)
            floats[mask] = np.nan
            columns[name] = pd.Series(floats)
    return pd.DataFrame(columns)


def csv_frame(raw: bytes, where: str, error: type[ValueError]) -> pd.DataFrame:
    """A CSV held in memory (UTF-8, byte-order mark allowed); faults raise ``error`` naming
    ``where``."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{where}: not a CSV (not UTF-8 text at byte {exc.start}), nor a FITS, VOTable or "
            "gzip file"
        ) from None
    if not text.strip():
        raise error(f"{where}: empty file")
    if "\x00" in text:
        raise error(f"{where}: not a CSV (binary bytes), nor a FITS, VOTable or gzip file")
    try:
        return pd.read_csv(io.StringIO(text), low_memory=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise error(f"{where}: unreadable CSV ({exc})") from None


def read_table(
    path: PathLike, error: type[ValueError] = TableFormatError
) -> tuple[pd.DataFrame, TableKind]:
    """Read a CSV, FITS or VOTable file (gzipped or not) and say which it was.

    Faults (empty, truncated, binary junk, no table inside) raise ``error`` naming the file;
    a missing file raises FileNotFoundError.
    """
    where = str(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if not raw:
        raise error(f"{where}: empty file")
    if raw[:2] == b"\x1f\x8b":
        raw = _decompress(raw, where, error)
    kind = sniff(raw)
    reader = {"fits": _fits_frame, "votable": _votable_frame, "csv": csv_frame}[kind]
    frame = reader(raw, where, error)
    frame.columns = [re.sub(r"\s+", " ", str(c)).strip() for c in frame.columns]
    return frame, kind
