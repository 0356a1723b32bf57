"""The asteroseismic label catalogue in its VizieR layout (``seismic.csv``).

Both sources write this layout: the mock survey directly, the real path after mapping a
VizieR table's columns onto it. Readers get the pipeline's lower-case names.
"""

from __future__ import annotations

import os

import pandas as pd

from spt.io.files import write_csv

#: The file's columns (VizieR names) and the pipeline's names for them.
SEISMIC_COLUMNS: dict[str, str] = {
    "KIC": "kic",
    "RAJ2000": "ra",
    "DEJ2000": "dec",
    "Teff": "teff",
    "e_Teff": "e_teff",
    "[Fe/H]": "feh",
    "e_[Fe/H]": "e_feh",
    "numax": "numax",
    "e_numax": "e_numax",
    "Dnu": "dnu",
    "e_Dnu": "e_dnu",
    "Mass": "mass",
    "e_Mass": "e_mass",
    "Age": "age",
    "e_Age": "e_age",
    "Phase": "phase",
}
REQUIRED = ("KIC", "RAJ2000", "DEJ2000", "Mass", "e_Mass", "Age", "e_Age")
#: The seismic catalogues' evolutionary-state codes of the ``phase`` column.
RGB, RED_CLUMP = 1, 2


class SeismicFormatError(ValueError):
    """The asteroseismic catalogue lacks what the pipeline needs; the message says what."""


def read_seismic(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``seismic.csv`` into the pipeline's names; optional columns may be absent."""
    frame = pd.read_csv(path, encoding="utf-8-sig")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise SeismicFormatError(f"{path}: asteroseismic catalogue lacks column(s) {missing}")
    if frame["KIC"].duplicated().any():
        dup = frame.loc[frame["KIC"].duplicated(), "KIC"].head(5).tolist()
        raise SeismicFormatError(f"{path}: duplicated KIC identifiers, e.g. {dup}")
    known = [c for c in SEISMIC_COLUMNS if c in frame.columns]
    out = frame.loc[:, known].rename(columns=SEISMIC_COLUMNS)
    out["kic"] = out["kic"].astype("int64")
    return out


def write_seismic(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a catalogue already in the VizieR layout (checks the required columns)."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise SeismicFormatError(f"catalogue to write lacks column(s) {missing}")
    write_csv(frame, path)
