"""The catalogue file: a FITS binary table of every spectrum (CATALOG) and one of every star
(STARS), units and a description on every column, the flag bits and the provenance in the
header, as astropy, TOPCAT and fitsio read them."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from spt.catalog.shard import mark_primary
from spt.io.files import atomic_path
from spt.model.flags import header_cards

PathLike = str | os.PathLike[str]

#: Every column of the catalogue: (unit or None, description). Order is the file's.
COLUMNS: dict[str, tuple[u.UnitBase | None, str]] = {
    "obsid": (None, "LAMOST spectrum identifier"),
    "designation": (None, "LAMOST designation of the star (J2000 position)"),
    "ra": (u.deg, "right ascension (J2000) from the LAMOST catalogue"),
    "dec": (u.deg, "declination (J2000) from the LAMOST catalogue"),
    "snrg": (None, "LAMOST signal-to-noise ratio in the g band"),
    "teff": (u.K, "LAMOST effective temperature"),
    "logg": (None, "LAMOST surface gravity log10(g / (cm s-2))"),
    "feh": (u.dex, "LAMOST metallicity [Fe/H]"),
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


class CatalogError(ValueError):
    """The shards cannot be gathered; the message names the shard and the fault."""


def gather(shard_paths: Sequence[PathLike]) -> pd.DataFrame:
    """All shard files (CSV) as one frame, in obsid order, with the ``primary`` column."""
    frames = []
    for path in shard_paths:
        try:
            frames.append(pd.read_csv(path, keep_default_na=True, dtype={"designation": str}))
        except (OSError, ValueError) as exc:
            raise CatalogError(f"{path}: unreadable shard ({exc}); rerun it") from exc
    if not frames:
        raise CatalogError("no shard to gather")
    frame = pd.concat(frames, ignore_index=True).sort_values("obsid", kind="stable")
    frame = frame.reset_index(drop=True)
    if frame["obsid"].duplicated().any():
        raise CatalogError("an obsid is in two shards: the targets changed; rerun catalog_targets")
    frame["designation"] = frame["designation"].fillna("")
    frame["reasons"] = frame["reasons"].fillna("")
    frame["primary"] = mark_primary(frame)
    return frame


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


def write_catalog_fits(
    frame: pd.DataFrame,
    path: PathLike,
    provenance: Mapping[str, str],
    bad_mask: int,
    stars: pd.DataFrame | None = None,
) -> None:
    """Write the catalogue atomically: primary header with ``provenance`` (keyword -> value,
    at most 8-character keywords), a binary table with TUNITn and TCOMMn (TOPCAT's column
    description) for every column, FLAGnn cards naming the bits and FLAGBAD their bad mask;
    and, given ``stars`` (`spt.catalog.stars.combine_spectra`), a second table STARS."""
    table = to_table(frame)
    stamp = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible builds fix the date
    when = dt.datetime.fromtimestamp(int(stamp), dt.UTC) if stamp else dt.datetime.now(dt.UTC)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        table.write(tmp, format="fits")  # astropy also keeps units and descriptions in comments
        with fits.open(tmp, mode="update") as hdul:
            primary, hdu = hdul[0], hdul[1]
            hdu.name = "CATALOG"
            _describe(hdu, table)
            if stars is not None:
                star_table = to_table(stars, STAR_COLUMNS)
                star_hdu = fits.table_to_hdu(star_table)
                star_hdu.name = "STARS"
                _describe(star_hdu, star_table)
                hdul.append(star_hdu)
            for key, value, comment in header_cards():
                hdu.header[key] = (value, comment[:47])
            hdu.header["FLAGBAD"] = (int(bad_mask), "bits that set flag_bad")
            for key, value in {**provenance, "DATE": when.strftime("%Y-%m-%dT%H:%M:%S")}.items():
                primary.header[key.upper()[:8]] = str(value)[:68]


def _describe(hdu: fits.BinTableHDU, table: Table) -> None:
    """TCOMMn cards (TOPCAT's column descriptions) from the table's descriptions."""
    for i, name in enumerate(table.colnames, start=1):
        if table[name].description:
            hdu.header[f"TCOMM{i}"] = table[name].description[:68]


def read_catalog_fits(path: PathLike) -> Table:
    """The catalogue table back, units and descriptions included."""
    return Table.read(path, hdu="CATALOG")


def flag_fractions(frame: pd.DataFrame, bits: Mapping[str, int]) -> pd.DataFrame:
    """Fraction of catalogue rows with each flag bit set (for the report and the figure)."""
    flag = frame["flag"].to_numpy(np.int64)
    return pd.DataFrame(
        {"bit": list(bits), "fraction": [float(np.mean(flag & v != 0)) for v in bits.values()]}
    )
