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


def plot_flag_capture(
    capture: pd.DataFrame, path: PathLike, note: str | None = None, goal: float = 0.95
) -> Path:
    """What the flags catch (mock field survey, `spt.catalog.accuracy.flag_capture`).

    Left: per kind of star the share flagged (warn, of which bad), in-domain giants first
    (their share is the false-alarm rate) and the goal for out-of-domain stars as a line.
    Right: per flag bit its recall on out-of-domain stars and its rate on in-domain giants.
    """
    fig, (ax1, ax2) = new_figure(1, 2, figsize=(8.4, 3.6))
    dom = capture.loc[capture["kind"] == "domain"].copy()
    dom["order"] = (dom["name"] != "in").astype(int)
    dom = dom.sort_values(["order", "name"])
    y = np.arange(len(dom))
    kinds = dom["name"].replace({"in": "in-domain giants"})
    names = [f"{kind} ({k:,})" for kind, k in zip(kinds, dom["n"], strict=True)]
    ax1.barh(y, dom["warn_fraction"], color=COLORS[1], alpha=0.5, label="flag_warn")
    ax1.barh(y, dom["bad_fraction"], color=COLORS[1], label="flag_bad")
    ax1.axvline(goal, color="0.3", ls="--", lw=0.8, label=f"goal {goal:.0%} (out-of-domain)")
    ax1.set_yticks(y, names)
    ax1.invert_yaxis()
    ax1.set(xlim=(0, 1), xlabel="fraction of stars flagged", title="by kind of star")
    ax1.legend(loc="lower right", fontsize=6)
    bits = capture.loc[(capture["kind"] == "bit") & (capture["n"] > 0)]
    yb = np.arange(len(bits))
    ax2.barh(yb - 0.2, bits["recall"], height=0.4, color=COLORS[0], label="out-of-domain recall")
    ax2.barh(yb + 0.2, bits["in_domain_rate"], height=0.4, color=COLORS[2],
             label="in-domain rate")  # fmt: skip
    ax2.set_yticks(yb, [str(n) for n in bits["name"]], fontsize=6)
    ax2.invert_yaxis()
    ax2.set(xlim=(0, 1), xlabel="fraction of stars", title="by flag bit")
    ax2.legend(loc="lower right", fontsize=6)
    fig.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    if note:
        fig.text(0.995, 0.006, note, ha="right", va="bottom", fontsize=6, color="0.35")
    return save_figure(fig, path)[0]
