"""The catalogue figure: what a survey user sees first of the catalogue (beyond the paper)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from spt.catalog.fits import flag_fractions
from spt.paper.plots.style import COLORS, new_figure, save_figure

PathLike = str | os.PathLike[str]


def plot_catalog(
    catalog: pd.DataFrame, bits: Mapping[str, int], path: PathLike, note: str | None = None
) -> Path:
    """Four panels: age-[Fe/H] density of the unflagged primary stars, a Kiel diagram coloured
    by age, the quoted relative age error against S/N, and the fraction of rows per flag bit."""
    label = "age" if "age" in catalog.columns else "mass"  # a mass-only model has no age
    unit = "Gyr" if label == "age" else "Msun"
    fig, axes = new_figure(2, 2, figsize=(8.0, 6.4))
    ax1, ax2, ax3, ax4 = axes.ravel()
    good = catalog["primary"].astype(bool) & ~catalog["flag_warn"].astype(bool)
    good &= np.isfinite(catalog[label]) & np.isfinite(catalog["feh"])
    clean = catalog.loc[good]
    if len(clean):
        ax1.hist2d(
            clean["feh"], clean[label], bins=40, cmap="Blues", norm=LogNorm(), rasterized=True
        )
    ax1.set(xlabel="LAMOST [Fe/H] (dex)", ylabel=f"SPT {label} ({unit})",
            title=f"unflagged primary stars ({len(clean):,})")  # fmt: skip
    shown = catalog.loc[np.isfinite(catalog[label]) & np.isfinite(catalog["teff"])]
    limits = (0.5, 15) if label == "age" else (0.6, 3.5)
    sc = ax2.scatter(shown["teff"], shown["logg"], c=shown[label], s=3, cmap="viridis",
                     norm=LogNorm(*limits), rasterized=True)  # fmt: skip
    ax2.invert_xaxis()
    ax2.invert_yaxis()
    ax2.set(xlabel="LAMOST Teff (K)", ylabel="LAMOST log g", title="Kiel diagram")
    fig.colorbar(sc, ax=ax2, label=f"SPT {label} ({unit})")
    for flagged, color, legend in ((False, COLORS[0], "unflagged"), (True, COLORS[1], "flagged")):
        sel = shown["flag_warn"].astype(bool) == flagged
        rel = 100 * shown.loc[sel, f"{label}_err"] / shown.loc[sel, label]
        ax3.scatter(shown.loc[sel, "snrg"], rel,
                    s=3, color=color, label=legend, rasterized=True)  # fmt: skip
    ax3.set(xscale="log", xlabel="S/N (g)", ylabel=f"quoted {label} error (%)",
            title="per-star error against S/N")  # fmt: skip
    ax3.legend(loc="upper right", markerscale=3)
    fractions = flag_fractions(catalog, bits)
    ax4.barh(fractions["bit"], 100 * fractions["fraction"], color=COLORS[2])
    ax4.invert_yaxis()
    ax4.set(xlabel="rows with the bit set (%)", title=f"flags ({len(catalog):,} rows)")
    ax4.tick_params(axis="y", labelsize=6)
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return save_figure(fig, path)[0]
