"""One matplotlib style for every figure, and reproducible PDF + PNG saving."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: rules run on clusters without a display

import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.figure import Figure

from spt.io.files import write_bytes

#: Okabe & Ito (2008) colour-blind-safe palette.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

#: rcParams of the shared style: serif fonts shipped with matplotlib (no network, no LaTeX).
STYLE: dict[str, Any] = {
    "font.family": "serif",
    "font.serif": ["DejaVu Serif"],
    "mathtext.fontset": "dejavuserif",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.prop_cycle": cycler(color=list(COLORS)),
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.0,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "standard",
    "pdf.fonttype": 42,
    "svg.hashsalt": "spt",
}

#: Metadata that would make two renderings of the same figure differ (dates, versions).
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}
_PNG_METADATA = {"Software": None}


def apply_style() -> None:
    """Install the shared style in matplotlib's global rcParams."""
    plt.rcParams.update(STYLE)


def new_figure(*args: Any, **kwargs: Any) -> tuple[Figure, Any]:
    """``plt.subplots`` in the shared style."""
    apply_style()
    return plt.subplots(*args, **kwargs)


def save_figure(fig: Figure, path: str | os.PathLike[str], close: bool = True) -> tuple[Path, Path]:
    """Write ``path`` as PDF and a PNG beside it, atomically and byte-reproducibly.

    Returns the two paths. Dates and software versions are left out of both files' metadata.
    """
    pdf = Path(path).with_suffix(".pdf")
    png = pdf.with_suffix(".png")
    for target, fmt, meta in ((pdf, "pdf", _PDF_METADATA), (png, "png", _PNG_METADATA)):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=meta)
        write_bytes(target, buffer.getvalue())
    if close:
        plt.close(fig)
    return pdf, png
