"""The paper's two schematic figures, drawn from the pipeline's own configuration.

Fig. 1 (framework: data -> PCA -> SPT backbone -> MLP head) and Fig. 2 (multi-head Hadamard
self-attention) take their numbers from the model and feature settings, so they change when the
architecture does.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from spt.paper.plots.style import save_figure

_COLORS = {
    "data": "#dbe9f6",
    "pca": "#fde2c7",
    "block": "#e3f1dc",
    "head": "#f6d5da",
    "op": "#eeeeee",
}


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, kind: str) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.04",
            facecolor=_COLORS[kind], edgecolor="0.25", linewidth=1.0,
        )
    )  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, wrap=True)


def _arrow(ax: Axes, start: Sequence[float], end: Sequence[float]) -> None:
    ax.add_patch(
        FancyArrowPatch(
            tuple(start), tuple(end), arrowstyle="-|>", mutation_scale=10, lw=1.0, color="0.2"
        )
    )


def plot_framework(
    model: Mapping[str, Any], n_components: int, n_pixels: int, path: str | os.PathLike[str]
) -> None:
    """Fig. 1: spectra -> anomaly filter -> PCA -> projection -> L SPT blocks -> MLP head."""
    fig, ax = plt.subplots(figsize=(10.5, 3.6))
    ax.set_xlim(0, 10.5)
    ax.set_ylim(0, 3.6)
    ax.axis("off")
    y = 2.2
    steps = [
        (0.75, "LAMOST DR9\nLRS spectra\n×\nKepler seismic\nages, masses", "data"),
        (2.15, f"anomaly filter\nresample,\nnormalise\n({n_pixels} px)", "data"),
        (3.55, f"PCA\n{n_components}\ncomponents", "pca"),
        (4.95, f"linear\nprojection\n→ {model['n_tokens']} tokens\n× {model['d_model']}", "pca"),
    ]
    for x, text, kind in steps:
        _box(ax, x, y, 1.2, 1.5, text, kind)
    for (x0, *_), (x1, *_) in itertools.pairwise(steps):
        _arrow(ax, (x0 + 0.62, y), (x1 - 0.62, y))
    # Backbone: one block drawn in detail, repeated L times.
    bx = 7.0
    ax.add_patch(
        FancyBboxPatch((bx - 1.35, 0.55), 2.7, 2.95, boxstyle="round,pad=0.02", facecolor="white",
                       edgecolor="0.4", linestyle="--")
    )  # fmt: skip
    ax.text(
        bx, 3.35, f"SPT block × L = {model['n_layers']}", ha="center", fontsize=9, weight="bold"
    )
    inner = [
        (2.85, "BatchNorm"),
        (2.35, f"multi-head HSA\n({model['n_heads']} heads, d* = {model['d_head']})"),
        (1.7, "BatchNorm"),
        (1.2, f"FFN: linear → GELU → linear\n({model['ffn_dim']} hidden)"),
    ]
    for yy, text in inner:
        _box(ax, bx, yy, 2.3, 0.38 if "\n" not in text else 0.5, text, "block")
    ax.text(bx + 1.22, 2.1, "+", fontsize=12, ha="center")
    ax.text(bx + 1.22, 0.95, "+", fontsize=12, ha="center")
    _arrow(ax, (5.57, y), (bx - 1.37, y))
    _box(ax, 9.6, y, 1.3, 1.5, "MLP head\n↓\nage (Gyr)\nmass (M☉)\n± MC dropout", "head")
    _arrow(ax, (bx + 1.37, y), (9.6 - 0.67, y))
    ax.text(
        5.25, 0.2, f"loss: {model.get('loss', 'Mahalanobis')} distance on (age, mass); "
        f"dropout {model['dropout']}", ha="center", fontsize=8.5, style="italic",
    )  # fmt: skip
    save_figure(fig, path)


def plot_attention(model: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Fig. 2: multi-head Hadamard self-attention, with the configured sizes and softmax."""
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    ax.set_xlim(0, 8.5)
    ax.set_ylim(0, 4.6)
    ax.axis("off")
    d, dh, h = model["d_model"], model["d_head"], model["n_heads"]
    _box(ax, 0.8, 2.3, 1.2, 0.8, f"input\nT × {d}", "data")
    for i, (name, yy) in enumerate((("Q", 3.6), ("K", 2.3), ("V", 1.0))):
        _box(ax, 2.5, yy, 1.3, 0.6, f"linear {name}\n{d} → {h}×{dh}", "pca")
        _arrow(ax, (1.42, 2.3), (1.83, yy))
        del i
    _box(ax, 4.3, 3.0, 1.4, 0.7, "Q ⊙ K\n(Hadamard)", "op")
    _arrow(ax, (3.17, 3.6), (3.58, 3.1))
    _arrow(ax, (3.17, 2.3), (3.58, 2.9))
    _box(ax, 4.3, 1.95, 1.4, 0.7, f"scale 1/√{dh}\n{model['softmax']} softmax", "op")
    _arrow(ax, (4.3, 2.63), (4.3, 2.32))
    _box(ax, 6.0, 1.3, 1.3, 0.7, "weights ⊙ V\nper head", "op")
    _arrow(ax, (5.02, 1.85), (5.33, 1.45))
    _arrow(ax, (3.17, 1.0), (5.33, 1.2))
    _box(ax, 6.0, 2.8, 1.3, 0.7, f"concat\n{h} heads", "block")
    _arrow(ax, (6.0, 1.67), (6.0, 2.43))
    _box(ax, 7.6, 2.8, 1.2, 0.7, f"linear\n{h}×{dh} → {d}", "head")
    _arrow(ax, (6.67, 2.8), (6.98, 2.8))
    ax.text(
        4.25, 0.2, f"token layout: {model['token_layout']}; every head runs in parallel",
        ha="center", fontsize=8.5, style="italic",
    )  # fmt: skip
    save_figure(fig, path)
