"""Figures of the preprocessing stage: anomalous spectra (Fig. 4), label densities (Fig. 5), PCA."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import gaussian_kde

from spt.paper.plots.style import COLORS, new_figure, save_figure
from spt.prep.anomalies import ANOMALY_TYPES

PathLike = str | os.PathLike[str]

#: Panel titles of Fig. 4, in the paper's wording.
TITLES = {
    "oscillation": "Oscillations",
    "missing": "Missing values",
    "outlier": "Outliers",
    "negative": "Negative values",
}


def pick_examples(
    flags: pd.DataFrame, read: Callable[[int], Any], types: tuple[str, ...] = ANOMALY_TYPES
) -> dict[str, dict[str, Any]]:
    """One example per anomaly type: the flagged spectrum with the highest score of that type.

    Prefers spectra flagged for that type alone. ``flags`` is the output of
    `spt.prep.anomalies.flag_spectra` (or the report of `spt.prep.spectra.preprocess_files`);
    ``read`` maps an obsid to a `LamostSpectrum`. Types with no flagged spectrum are left out.
    """
    examples: dict[str, dict[str, Any]] = {}
    for name in types:
        if name not in flags.columns:
            continue
        hits = flags[flags[name].fillna(False).astype(bool)].copy()
        if hits.empty:
            continue
        n_types = hits[[t for t in types if t in hits.columns]].fillna(False).sum(axis=1)
        hits = hits.assign(_alone=n_types == 1).sort_values(
            ["_alone", f"{name}_score", "obsid"], ascending=[False, False, True]
        )
        best = hits.iloc[0]
        spec = read(int(best["obsid"]))
        examples[name] = {
            "wavelength": spec.wavelength,
            "flux": spec.flux,
            "region": (best[f"{name}_lo"], best[f"{name}_hi"]),
            "label": f"obsid {int(best['obsid'])}",
        }
    return examples


def plot_anomaly_examples(examples: Mapping[str, Mapping[str, Any]], path: PathLike) -> Path:
    """Paper Fig. 4: one spectrum per anomaly type, its anomalous region shaded (2 x 2 panels).

    ``examples[type]`` has ``wavelength``, ``flux``, ``region`` ((lo, hi) in Angstrom or None)
    and an optional ``label``; a type without an example gets an empty, labelled panel.
    """
    fig, axes = new_figure(2, 2, figsize=(7.2, 4.6), sharex=False)
    for ax, name in zip(axes.ravel(), ANOMALY_TYPES, strict=True):
        ax.set_title(TITLES[name])
        ax.set_xlabel(r"Wavelength ($\mathrm{\AA}$)")
        ax.set_ylabel("Flux")
        ex = examples.get(name)
        if ex is None:
            ax.text(
                0.5, 0.5, "no example flagged", ha="center", va="center", transform=ax.transAxes
            )
            continue
        wave = np.asarray(ex["wavelength"], dtype=float)
        flux = np.asarray(ex["flux"], dtype=float)
        ax.plot(wave, flux, color=COLORS[0], lw=0.5, label=ex.get("label"))
        region = ex.get("region")
        if region is not None and np.all(np.isfinite(region)):
            ax.axvspan(region[0], region[1], color=COLORS[1], alpha=0.25, lw=0)
        if name == "negative":
            ax.axhline(0.0, color="0.4", lw=0.6, ls="--")
        finite = flux[np.isfinite(flux)]
        if finite.size:  # outliers are the point of their panel: never clip them
            q = (0.0, 100.0) if name == "outlier" else (0.1, 99.9)
            lo, hi = np.percentile(finite, q)
            pad = 0.08 * (hi - lo or 1.0)
            ax.set_ylim(min(lo, 0.0) - pad, hi + pad)
        if ex.get("label"):
            ax.legend(loc="best", handlelength=0, handletextpad=0, frameon=True, framealpha=0.85)
        ax.set_xlim(wave.min(), wave.max())
    fig.tight_layout()
    return save_figure(fig, path)[0]


def _density(ax: Any, values: np.ndarray, color: str, label: str) -> None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    lo, hi = np.percentile(values, [0.5, 99.5])
    span = hi - lo or 1.0
    start = lo - 0.1 * span
    if values.min() >= 0:  # ages and masses: no density below zero
        start = max(start, 0.0)
    grid = np.linspace(start, hi + 0.1 * span, 300)
    ax.hist(values, bins=40, range=(grid[0], grid[-1]), density=True, color=color, alpha=0.25)
    if values.size > 2 and np.ptp(values) > 0:
        ax.plot(grid, gaussian_kde(values)(grid), color=color, label=f"{label} (N = {values.size})")


def plot_label_densities(before: pd.DataFrame, after: pd.DataFrame, path: PathLike) -> Path:
    """Paper Fig. 5: age and mass densities before and after removing label outliers."""
    fig, axes = new_figure(1, 2, figsize=(7.2, 2.8))
    for ax, col, unit in zip(axes, ("age", "mass"), ("Gyr", r"$M_\odot$"), strict=True):
        _density(ax, before[col].to_numpy(dtype=float), COLORS[0], "before")
        _density(ax, after[col].to_numpy(dtype=float), COLORS[1], "after")
        ax.set_xlabel(f"{col.capitalize()} ({unit})")
        ax.set_ylabel("Density")
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)[0]


def plot_pca_variance(pca: Any, path: PathLike) -> Path:
    """Explained variance of each principal component and its cumulative sum.

    ``pca`` is a fitted sklearn PCA or the bundle of `spt.prep.features.load_pca`.
    """
    model = pca["pca"] if isinstance(pca, Mapping) else pca
    ratio = np.asarray(model.explained_variance_ratio_, dtype=float)
    k = np.arange(1, ratio.size + 1)
    fig, ax = new_figure(figsize=(3.6, 2.8))
    ax.semilogy(k, ratio, "o-", ms=2.5, color=COLORS[0], label="per component")
    ax.set_xlabel("Principal component")
    ax.set_ylabel("Explained variance ratio")
    twin = ax.twinx()
    twin.plot(k, np.cumsum(ratio), color=COLORS[1], label="cumulative")
    twin.set_ylim(0, 1.02)
    twin.set_ylabel("Cumulative")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="center right")
    fig.tight_layout()
    return save_figure(fig, path)[0]
