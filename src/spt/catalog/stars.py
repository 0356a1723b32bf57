"""One age and mass per star from all its usable spectra.

Two spectra of one star share the error model's floor (what a spectrum cannot tell about the
star) and differ by the noise and MC terms alone. So the star's estimate is the mean of the log
predictions weighted by each spectrum's non-shared variance, and its relative variance is the
floor plus the combined non-shared part: more spectra beat the noise down, never the floor.
Treating each spectrum's whole error as independent would shrink the floor as well (on the mock's
stars observed twice: 60 / 61 % within 1 sigma instead of 70 / 73 %).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from spt.io.predictions import LABELS
from spt.model.uncertainty import log_normal_interval

#: Relative non-shared variance below this is read as this (a spectrum cannot weigh infinitely).
_MIN_VARIANCE = 1e-8
#: The catalogue columns `combine_spectra` and the primary flag read (where the catalogue has them).
STAR_INPUTS = ("obsid", "designation", "snrg", "flag_warn", "flag_bad",
               *(f"{k}{s}" for k in LABELS for s in ("", "_err", "_err_floor")))  # fmt: skip


def star_key(frame: pd.DataFrame) -> pd.Series:
    """The star each catalogue row belongs to: its LAMOST designation, or its own obsid."""
    designation = frame["designation"].fillna("").astype(str).str.strip()
    return designation.where(designation != "", "obsid:" + frame["obsid"].astype(str))


def star_buckets(frame: pd.DataFrame, n_buckets: int) -> np.ndarray:
    """Which of ``n_buckets`` each row's star falls in (a hash of `star_key`).

    Every spectrum of a star lands in the same bucket, whichever shard it came from, so the
    catalogue gather can combine one bucket at a time and hold only that bucket in memory.
    """
    if n_buckets <= 1:
        return np.zeros(len(frame), np.int64)
    hashes = pd.util.hash_array(star_key(frame).to_numpy(dtype=object))
    return (hashes % np.uint64(n_buckets)).astype(np.int64)


def combine_spectra(frame: pd.DataFrame, labels: Sequence[str] = LABELS) -> pd.DataFrame:
    """One row per star with at least one unflagged prediction: its combined labels.

    ``frame`` holds catalogue rows (`spt.catalog.fits.gather`): ``obsid``, ``designation``,
    ``snrg``, ``flag_warn`` and per label ``{label}``, ``{label}_err`` and
    ``{label}_err_floor``. Only unflagged rows with a prediction count. A star whose rows lack
    the floor (NaN or no column: an error that is not the additive per-star model's) keeps its
    highest-S/N spectrum alone. Columns: ``star``, ``designation``, ``obsid`` (its highest-S/N
    spectrum used), ``n_spectra`` (used), and per label the value, ``_err``, ``_p16``,
    ``_p84``.
    """
    labels = [k for k in labels if k in frame.columns]
    use = ~frame["flag_warn"].astype(bool).to_numpy()
    for label in labels:
        use &= np.isfinite(frame[[label, f"{label}_err"]].to_numpy(float)).all(axis=1)
    rows = frame.loc[use].assign(star=star_key(frame.loc[use]))
    rows = rows.sort_values(["star", "snrg", "obsid"], ascending=[True, False, True])
    for label in labels:
        if f"{label}_err_floor" not in rows:
            rows[f"{label}_err_floor"] = np.nan
    has_floor = np.ones(len(rows), bool)
    for label in labels:
        has_floor &= np.isfinite(rows[f"{label}_err_floor"].to_numpy(float))
    floorless = pd.Series(~has_floor, index=rows.index).groupby(rows["star"]).transform("any")
    keep = ~floorless.to_numpy() | ~rows["star"].duplicated().to_numpy()  # best spectrum only
    rows = rows.loc[keep]
    first = rows.groupby("star", sort=True).head(1).set_index("star")
    out = pd.DataFrame({
        "star": first.index,
        "designation": first["designation"].fillna("").astype(str).to_numpy(),
        "obsid": first["obsid"].to_numpy(),
        "n_spectra": rows.groupby("star", sort=True).size().reindex(first.index).to_numpy(),
    })  # fmt: skip
    for label in labels:
        y = rows[label].to_numpy(float)
        rel = rows[f"{label}_err"].to_numpy(float) / np.abs(y)
        floor = np.nan_to_num(rows[f"{label}_err_floor"].to_numpy(float) / np.abs(y))
        weight = 1.0 / np.maximum(rel**2 - floor**2, _MIN_VARIANCE)
        parts = pd.DataFrame({"star": rows["star"].to_numpy(), "w": weight,
                              "wlog": weight * np.log(y), "floor2": floor**2})  # fmt: skip
        sums = parts.groupby("star", sort=True).agg(
            w=("w", "sum"), wlog=("wlog", "sum"), floor2=("floor2", "mean")
        ).reindex(first.index)  # fmt: skip
        value = np.exp(sums["wlog"] / sums["w"]).to_numpy()
        sigma = value * np.sqrt(sums["floor2"] + 1.0 / sums["w"]).to_numpy()
        out[label], out[f"{label}_err"] = value, sigma
        out[f"{label}_p16"], out[f"{label}_p84"] = log_normal_interval(value, sigma)
    return out
