"""Comparison of SPT ages with isochrone-fitting ages, per evolutionary state.

Conventions
-----------
The offset is logarithmic, ``offset_dex = log10(age_spt / age_iso)``, because both age errors
are roughly proportional to the age. Its 1-sigma error combines the two relative errors in
quadrature, ``sqrt((age_err/age)**2 + (e_age_iso/age_iso)**2) / ln 10``, and
``offset_z = offset_dex / error``. The summary also gives the relative offset in percent,
``100 * (age_spt - age_iso) / age_iso`` (median and 1.4826 * MAD), to be read beside Delta_P.
States come from ``phase`` in matched.csv: 1 = RGB, 2 = red clump; any other value is
"unknown" and counts in "all" only. A model trained without ages (``features.labels: [mass]``)
has nothing to compare: `no_age_comparison` gives the same two tables, empty (n = 0).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from spt.io.seismic import RED_CLUMP, RGB
from spt.validation.metrics import MAD_TO_SIGMA, delta_p, median_rel_residual, robust_scatter

STATES = {RGB: "RGB", RED_CLUMP: "red clump"}
SUMMARY_STATES = ("RGB", "red clump", "all")
PER_STAR_COLUMNS = (
    "obsid", "kic", "phase", "state", "age", "age_err", "age_true", "age_iso",
    "e_age_iso", "offset_dex", "e_offset_dex", "offset_z",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "state", "n", "median_offset_dex", "scatter_dex", "median_offset_pct",
    "scatter_pct", "delta_p_pct", "median_z", "n_z", "frac_within_1sigma",
)  # fmt: skip


class IsochroneComparisonError(ValueError):
    """The inputs cannot be compared (a missing column or no star in common)."""


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise IsochroneComparisonError(f"{what} lack(s) column(s) {missing}")


def _robust_sigma(values: np.ndarray) -> float:
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def compare_isochrone_ages(
    predictions: pd.DataFrame, isochrone_ages: pd.DataFrame, matched: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join SPT ages, isochrone ages and evolutionary states and compare the ages.

    Isochrone ages are joined on ``obsid`` when their table has one (the mock survey's), else on
    ``kic`` (a real catalogue such as Berger+2020 knows stars, not spectra).

    Returns ``(per_star, summary)``: per star ``obsid, kic, phase, state, age, age_err, age_iso,
    e_age_iso, offset_dex, e_offset_dex, offset_z`` (and ``age_true`` when given); per state
    (RGB, red clump, all) ``n, median_offset_dex, scatter_dex, median_offset_pct, scatter_pct,
    delta_p_pct, median_z, n_z, frac_within_1sigma``. Stars with a non-positive or non-finite
    age in either source are left out.
    """
    _require(predictions, ("obsid", "age", "age_err"), "predictions")
    key = "obsid" if "obsid" in isochrone_ages.columns else "kic"
    _require(isochrone_ages, (key, "age_iso", "e_age_iso"), "isochrone ages")
    _require(predictions, (key,), "predictions")
    _require(matched, ("obsid", "phase"), "matched stars")

    keep = ["obsid", *(c for c in ("kic", "age", "age_err", "age_true") if c in predictions)]
    iso = isochrone_ages.loc[:, [key, "age_iso", "e_age_iso"]].drop_duplicates(key)
    phase = matched.loc[:, ["obsid", "phase"]].drop_duplicates("obsid")
    star = predictions.loc[:, keep].merge(iso, on=key, how="inner", validate="one_to_one")
    star = star.merge(phase, on="obsid", how="left", validate="one_to_one")
    positive = (star["age"] > 0) & (star["age_iso"] > 0)  # NaN compares False
    star = star.loc[positive.to_numpy(bool)].reset_index(drop=True)
    if star.empty:
        raise IsochroneComparisonError(
            f"no star has both an SPT prediction and a positive isochrone age (join on {key})"
        )

    star["phase"] = pd.to_numeric(star["phase"], errors="coerce").astype("Int64")
    star["state"] = star["phase"].map(STATES).fillna("unknown").astype(str)
    age, iso_age = star["age"].to_numpy(float), star["age_iso"].to_numpy(float)
    star["offset_dex"] = np.log10(age / iso_age)
    rel_err = np.hypot(star["age_err"].to_numpy(float) / age, star["e_age_iso"] / iso_age)
    star["e_offset_dex"] = rel_err / math.log(10.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = star["offset_dex"] / star["e_offset_dex"]
    star["offset_z"] = z.where(np.isfinite(z))
    star = star.loc[:, [c for c in PER_STAR_COLUMNS if c in star.columns]]
    star = star.sort_values("obsid", ignore_index=True)

    rows = []
    for state in SUMMARY_STATES:
        sel = star if state == "all" else star[star["state"] == state]
        row: dict[str, float | int | str] = {"state": state, "n": len(sel)}
        if sel.empty:
            rows.append(row)
            continue
        off = sel["offset_dex"].to_numpy(float)
        a, b = sel["age"].to_numpy(float), sel["age_iso"].to_numpy(float)
        zs = sel["offset_z"].dropna().to_numpy(float)
        row |= {
            "median_offset_dex": float(np.median(off)),
            "scatter_dex": _robust_sigma(off),
            "median_offset_pct": median_rel_residual(a, b),
            "scatter_pct": robust_scatter(a, b),
            "delta_p_pct": delta_p(a, b),
            "median_z": float(np.median(zs)) if zs.size else np.nan,
            "n_z": int(zs.size),
            "frac_within_1sigma": float(np.mean(np.abs(zs) <= 1.0)) if zs.size else np.nan,
        }
        rows.append(row)
    summary = pd.DataFrame(rows)
    return star, summary


def no_age_comparison() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (per_star, summary) of a model without ages: no star, and n = 0 for every state."""
    per_star = pd.DataFrame(columns=list(PER_STAR_COLUMNS))
    summary = pd.DataFrame({"state": list(SUMMARY_STATES), "n": 0})
    return per_star, summary.reindex(columns=list(SUMMARY_COLUMNS))
