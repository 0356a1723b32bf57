"""Fig. 3: how raw, z-scored and Mahalanobis distances rank two predictions of one true label.

Two predictions lie one standard deviation from the truth in z-scored units: one along the
labels' correlation (older means less massive), one across it. Raw distance is dominated by the
age scale; z-scoring balances the scales but sees the two as equally good; Mahalanobis whitening
also removes the correlation, so the prediction that respects the data's structure is nearer.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from spt.paper.plots.style import save_figure


def loss_geometry(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Truth, the two predictions and the label transforms used by the figure."""
    labels = np.asarray(labels, dtype=float)
    if labels.ndim != 2 or labels.shape[1] != 2 or len(labels) < 3:
        raise ValueError(f"labels must be (n >= 3, 2) [age, mass], got {labels.shape}")
    mean = labels.mean(axis=0)
    cov = np.cov(labels.T)
    std = np.sqrt(np.diag(cov))
    corr = cov[0, 1] / (std[0] * std[1])
    along = np.array([1.0, np.sign(corr)]) / np.sqrt(2)
    across = np.array([1.0, -np.sign(corr)]) / np.sqrt(2)
    truth = np.median(labels, axis=0)
    preds = np.stack([truth + along * std, truth + across * std])
    whiten = np.linalg.inv(np.linalg.cholesky(cov))
    return {"mean": mean, "std": std, "cov": cov, "whiten": whiten, "truth": truth, "preds": preds}


def distances(geometry: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Distance of each prediction to the truth in the three spaces."""
    d = geometry["preds"] - geometry["truth"]
    return {
        "raw": np.linalg.norm(d, axis=1),
        "zscore": np.linalg.norm(d / geometry["std"], axis=1),
        "mahalanobis": np.linalg.norm(d @ geometry["whiten"].T, axis=1),
    }


def plot_loss_preference(labels: np.ndarray, path: str | os.PathLike[str], note: str = "") -> None:
    """Three panels: the label distribution, truth and two predictions in each space."""
    geo = loss_geometry(labels)
    dist = distances(geo)
    transforms = {
        "raw": lambda x: x,
        "zscore": lambda x: (x - geo["mean"]) / geo["std"],
        "mahalanobis": lambda x: (x - geo["mean"]) @ geo["whiten"].T,
    }
    titles = {
        "raw": "raw (Euclidean)",
        "zscore": "z-scored",
        "mahalanobis": "Mahalanobis (whitened)",
    }
    axes_labels = {
        "raw": ("age (Gyr)", "mass (M☉)"),
        "zscore": ("age (z)", "mass (z)"),
        "mahalanobis": ("whitened 1", "whitened 2"),
    }
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, (name, f) in zip(axes, transforms.items(), strict=True):
        pts = f(np.asarray(labels, dtype=float))
        ax.scatter(
            pts[:, 0], pts[:, 1], s=3, c="0.6", alpha=0.5, rasterized=True, label="training labels"
        )
        t = f(geo["truth"][None, :])[0]
        p = f(geo["preds"])
        ax.scatter(*t, marker="*", s=160, c="k", zorder=3, label="true label")
        for k, (color, tag) in enumerate((("C0", "P1 along correlation"), ("C3", "P2 across it"))):
            ax.plot([t[0], p[k, 0]], [t[1], p[k, 1]], color=color, lw=1.2)
            ax.scatter(*p[k], s=50, c=color, zorder=3, label=f"{tag}: d = {dist[name][k]:.2f}")
        lo, hi = np.percentile(pts, [1, 99], axis=0)
        pad = 0.15 * (hi - lo)
        ax.set_xlim(min(lo[0], p[:, 0].min()) - pad[0], max(hi[0], p[:, 0].max()) + pad[0])
        ax.set_ylim(min(lo[1], p[:, 1].min()) - pad[1], max(hi[1], p[:, 1].max()) + pad[1])
        ax.set_title(titles[name])
        ax.set_xlabel(axes_labels[name][0])
        ax.set_ylabel(axes_labels[name][1])
        ax.legend(fontsize=7, loc="upper right")
    if note:
        fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
