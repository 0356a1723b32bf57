"""Result figures (our Figs. 6-12 and the training curve), one function per figure.

Every function takes frames, writes ``path`` as PDF and a PNG beside it with
`spt.paper.plots.style.save_figure` (byte-reproducible), and returns the PDF path. ``note`` is drawn
small in the lower-right corner (e.g. "simulated survey — not the paper's data"). Figures of
predictions draw one column per label the frames carry (age and mass by default; one of them
for ``features.labels: [mass]`` or ``[age]``); `plot_placeholder` stands in for a figure whose
label was not learnt.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from spt.io.predictions import LABELS, frame_labels
from spt.model.loss import LOSS_TITLES
from spt.paper.plots.style import COLORS, new_figure, save_figure
from spt.validation.evaluate import calibration
from spt.validation.metrics import MAD_TO_SIGMA, delta_p, robust_scatter

PathLike = str | os.PathLike[str]

#: The paper's headline SPT scores on LAMOST DR9 (Delta_P, %).
PAPER_DELTA_P = {"age": 17.64, "mass": 6.61}
PAPER_LABEL = "SPT, paper (LAMOST DR9)"

UNITS = {"age": "Gyr", "mass": r"$M_\odot$"}
STATE_COLORS = {"RGB": COLORS[0], "red clump": COLORS[1], "unknown": "0.5"}
#: Up to this many stars, every point gets its error bar; above, one typical error bar is shown.
ERRORBARS_UP_TO = 300
#: Above this many points, dense scatter layers are rasterised inside the PDF (file size).
RASTER_ABOVE = 2000


def _finish(fig: Figure, path: PathLike, note: str | None, top: float = 1.0, **layout: Any) -> Path:
    """Lay out, draw the note in the lower-right corner, save PDF + PNG; return the PDF path."""
    bottom = 0.035 if note else 0.0
    fig.tight_layout(rect=(0.0, bottom, 1.0, top), **layout)
    if note:
        fig.text(0.995, 0.006, note, ha="right", va="bottom", fontsize=6, color="0.35")
    return save_figure(fig, path)[0]


def _require(frame: pd.DataFrame, columns: tuple[str, ...] | list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack(s) column(s) {missing}")


def _binned(
    x: np.ndarray, y: np.ndarray, stat: Callable[[np.ndarray], float], n_bins: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """``stat(y)`` in bins of equal counts in x, at each bin's median x (bins of >= 3 points)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n_bins = min(n_bins, x.size // 3)
    if n_bins < 1:
        return np.empty(0), np.empty(0)
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    xs, ys = [], []
    for k in range(edges.size - 1):
        sel = idx == k
        if sel.sum() >= 3:
            xs.append(np.median(x[sel]))
            ys.append(stat(y[sel]))
    return np.asarray(xs), np.asarray(ys)


def _robust_sigma(values: np.ndarray) -> float:
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2)))


def _typical_error(ax: Any, sigma: float) -> None:
    """One error bar of the median sigma in the lower-right corner of ``ax`` (limits set)."""
    lo, hi = ax.get_ylim()
    y = lo + 0.08 * (hi - lo) + sigma
    kw = {"transform": ax.get_yaxis_transform()}  # x in axes fraction, y in data
    ax.errorbar([0.92], [y], yerr=[sigma], fmt="none", color="0.2", capsize=2, lw=0.8, **kw)
    ax.text(0.9, y, "median σ", ha="right", va="center", fontsize=6.5, **kw)


def _plain_log(axis: Any) -> None:
    """Log-axis ticks at 1, 2, 5 x 10^k written as plain numbers (2, 5, 10, 20 ...)."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def _labels_of(frame: pd.DataFrame, what: str, suffix: str = "") -> tuple[str, ...]:
    """The labels with a ``<label><suffix>`` column, in LABELS order; none is an error."""
    labels = tuple(label for label in LABELS if f"{label}{suffix}" in frame.columns)
    if not labels:
        raise ValueError(f"{what} lack(s) column(s) of any label {list(LABELS)}")
    return labels


def _score_labels(frame: pd.DataFrame, key: str, what: str) -> tuple[str, ...]:
    """Labels with any score column; each must have its Delta_P (a half-scored label raises)."""
    labels = tuple(x for x in LABELS if any(c.startswith(f"{x}_") for c in frame.columns))
    _require(frame, [key, *(f"{x}_delta_p" for x in labels or LABELS)], what)
    return labels


def plot_placeholder(
    path: PathLike, message: str, title: str | None = None, note: str | None = None
) -> Path:
    """A figure that says why it has no content (e.g. "no ages: features.labels = [mass]"), so a
    figure that needs an unlearnt label still exists and says so instead of failing."""
    fig, ax = new_figure(figsize=(4.4, 2.2))
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, transform=ax.transAxes)
    if title:
        ax.set_title(title)
    return _finish(fig, path, note)


def _score_frame(scores: pd.DataFrame, key: str) -> pd.DataFrame:
    """The scores with ``key`` as a column (taken from the index when it is not one)."""
    if key in scores.columns:
        return scores.reset_index(drop=True)
    frame = scores.reset_index()
    return frame.rename(columns={frame.columns[0]: key})


def plot_pred_vs_true(
    pred: pd.DataFrame, path: PathLike, title: str | None = None, note: str | None = None
) -> Path:
    """Fig. 6: predicted vs asteroseismic age and mass, one-to-one line, relative residuals below.

    The legend gives Delta_P and the robust scatter (1.4826 MAD of relative residuals, %); the
    residual panels show the binned median and ± robust scatter.
    """
    labels = frame_labels(pred) or LABELS
    _require(pred, [*labels, *(f"{label}_true" for label in labels)], "predictions")
    fig, axes = new_figure(
        2,
        len(labels),
        figsize=(3.6 * len(labels), 4.6),
        sharex="col",
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1]},
    )
    for col, label in enumerate(labels):
        top, bottom = axes[0, col], axes[1, col]
        t = pred[f"{label}_true"].to_numpy(float)
        p = pred[label].to_numpy(float)
        err = pred[f"{label}_err"].to_numpy(float) if f"{label}_err" in pred else None
        ok = np.isfinite(t) & np.isfinite(p)
        t, p = t[ok], p[ok]
        err = err[ok] if err is not None else None
        dense = t.size > RASTER_ABOVE
        text = (
            f"N = {t.size}\n$\\Delta_P$ = {delta_p(p, t):.2f} %\n"
            f"$\\sigma_{{\\rm rob}}$ = {robust_scatter(p, t):.2f} %"
        )
        if t.size <= ERRORBARS_UP_TO:
            top.errorbar(
                t,
                p,
                yerr=err,
                fmt="o",
                ms=2.5,
                mew=0,
                color=COLORS[0],
                elinewidth=0.4,
                alpha=0.7,
                label=text,
            )
        else:
            top.scatter(t, p, s=3, lw=0, color=COLORS[0], alpha=0.5, label=text, rasterized=dense)
        lo = float(min(t.min(), p.min()))
        hi = float(max(t.max(), p.max()))
        pad = 0.04 * (hi - lo or 1.0)
        lim = (lo - pad, hi + pad)
        top.plot(lim, lim, color="0.2", lw=0.8, ls="--", label="1:1")
        top.set_xlim(lim)
        top.set_ylim(lim)
        if t.size > ERRORBARS_UP_TO and err is not None and np.isfinite(err).any():
            _typical_error(top, float(np.nanmedian(err)))
        top.set_ylabel(f"SPT {label} ({UNITS[label]})")
        top.legend(loc="upper left")

        rel = 100.0 * (p - t) / t
        bottom.scatter(t, rel, s=2, lw=0, color=COLORS[0], alpha=0.5, rasterized=dense)
        bottom.axhline(0.0, color="0.2", lw=0.8, ls="--")
        xb, med = _binned(t, rel, np.median)
        _, sig = _binned(t, rel, _robust_sigma)
        if xb.size:
            bottom.plot(xb, med, color=COLORS[1], lw=1.2, label="binned median")
            bottom.fill_between(xb, med - sig, med + sig, color=COLORS[1], alpha=0.2, lw=0)
        span = np.nanpercentile(np.abs(rel), 99) if rel.size else 1.0
        bottom.set_ylim(-1.1 * span, 1.1 * span)
        bottom.set_xlabel(f"Asteroseismic {label} ({UNITS[label]})")
        bottom.set_ylabel("Rel. residual (%)")
    if title:
        fig.suptitle(title)
    return _finish(fig, path, note, h_pad=0.2)


def plot_uncertainties(
    pred: pd.DataFrame,
    path: PathLike,
    note: str | None = None,
    groups: pd.DataFrame | None = None,
) -> Path:
    """Fig. 7: relative uncertainties (top: the quoted sigma and, when the predictions carry
    ``*_err_mc``, the MC-dropout spread alone) and their calibration (middle).

    Middle panels: |predicted − true| against the predicted sigma, the RMS error in bins of
    sigma, the 1:1 line, and 1:1 with the median label error added in quadrature (the labels
    are measurements too); the legend gives the fraction of stars within 1 sigma, the label's
    own error added in quadrature where the predictions carry it. With
    ``groups`` (`spt.validation.evaluate.calibration_by_group`), a bottom row shows the share
    within 1 and 2 sigma in each S/N quartile and evolutionary state, against the ideal.
    """
    labels = frame_labels(pred) or LABELS
    _require(pred, [f"{x}{s}" for s in ("", "_err", "_true") for x in labels], "predictions")
    for label in labels:
        if not np.isfinite(pred[f"{label}_err"].to_numpy(float)).any():
            raise ValueError(f"{label}_err has no finite value: predictions carry no MC errors")
    cal = calibration(pred).set_index(["label", "sigma"])
    rows = 2 if groups is None else 3
    fig, axes = new_figure(
        rows, len(labels), figsize=(3.6 * len(labels), 2.6 * rows), squeeze=False
    )
    for col, label in enumerate(labels):
        p = pred[label].to_numpy(float)
        sig = pred[f"{label}_err"].to_numpy(float)
        t = pred[f"{label}_true"].to_numpy(float)
        ok = np.isfinite(p) & np.isfinite(sig) & np.isfinite(t) & (p > 0)
        p, sig, t = p[ok], sig[ok], t[ok]
        dense = p.size > RASTER_ABOVE

        ax = axes[0, col]
        frac = 100.0 * sig / p
        bins = np.linspace(0.0, float(np.percentile(frac, 99.5)) * 1.05 or 1.0, 40)
        ax.hist(frac, bins=bins, color=COLORS[0], alpha=0.7, label="quoted σ")
        if f"{label}_err_mc" in pred:
            frac_mc = 100.0 * pred[f"{label}_err_mc"].to_numpy(float)[ok] / p
            ax.hist(frac_mc, bins=bins, color=COLORS[2], alpha=0.6, label="MC dropout alone")
        med = float(np.median(frac))
        ax.axvline(med, color=COLORS[1], lw=1.2, label=f"median {med:.1f} %")
        ax.set_xlabel(rf"$\sigma_{{\rm {label}}}$ / {label} (%)")
        ax.set_ylabel("Stars")
        ax.legend(loc="upper left")

        ax = axes[1, col]
        resid = np.abs(p - t)
        ax.scatter(sig, resid, s=2, lw=0, color="0.6", alpha=0.5, rasterized=dense)
        xb, rms = _binned(sig, p - t, _rms)
        ax.plot(xb, rms, "o-", color=COLORS[0], ms=3, label="binned RMS error")
        grid = np.linspace(0.0, float(sig.max()) * 1.05, 50)
        ax.plot(grid, grid, color="0.2", lw=0.8, ls="--", label="1:1")
        if f"e_{label}_true" in pred:
            e_lab = pred[f"e_{label}_true"].to_numpy(float)[ok]
            e_lab = float(np.nanmedian(e_lab)) if np.isfinite(e_lab).any() else np.nan
            if np.isfinite(e_lab):
                ax.plot(
                    grid,
                    np.hypot(grid, e_lab),
                    color=COLORS[2],
                    lw=0.8,
                    ls=":",
                    label="1:1 ⊕ median label error",
                )
        # the labels are measurements too: the share to compare with 68 % adds their errors
        combined = (label, "combined") in cal.index
        kind, name = ("combined", "σ ⊕ label σ") if combined else ("prediction", "σ")
        within = 100.0 * cal.loc[(label, kind), "within_1sigma"]
        ax.plot([], [], " ", label=f"within 1 {name}: {within:.0f} % (ideal 68 %)")
        if (label, "dropout") in cal.index:
            alone = 100.0 * cal.loc[(label, "dropout"), "within_1sigma"]
            ax.plot([], [], " ", label=f"MC dropout alone: {alone:.0f} %")
        ax.set_xlim(0.0, grid[-1])
        ax.set_ylim(0.0, float(np.percentile(resid, 99)) * 1.1 or 1.0)
        ax.set_xlabel(rf"Predicted $\sigma$ ({UNITS[label]})")
        ax.set_ylabel(f"|SPT − seismic| {label} ({UNITS[label]})")
        ax.legend(loc="upper left")
        if groups is not None:
            _coverage_by_group(axes[2, col], groups.loc[groups["label"] == label], label)
    return _finish(fig, path, note)


def _coverage_by_group(ax: Any, groups: pd.DataFrame, label: str) -> None:
    """Share within 1 and 2 sigma per S/N quartile, evolutionary state, [Fe/H] tercile and
    red-clump probability bin, with the ideal."""
    parts = groups.loc[groups["group"] != "all"]
    x = np.arange(len(parts))
    ax.bar(x - 0.2, 100 * parts["within_1sigma"], width=0.4, color=COLORS[0], label="within 1σ")
    ax.bar(x + 0.2, 100 * parts["within_2sigma"], width=0.4, color=COLORS[2], label="within 2σ")
    for ideal, lo, hi in ((68.3, 63.3, 73.3), (95.4, 92.4, 98.4)):
        ax.axhline(ideal, color="0.2", lw=0.8, ls="--")
        ax.axhspan(lo, hi, color="0.85", zorder=0)
    # "S/N Q1 [8, 37]" -> "S/N\nQ1": the ranges are in the table, too long for a tick
    names = [re.sub(r" \[[^\]]*\]$", "", str(g)).replace(" ", "\n") for g in parts["group"]]
    ax.set_xticks(x, names, fontsize=6)
    reference = str(groups["reference"].iloc[0]) if len(groups) else ""
    ax.set(ylim=(0, 100), ylabel=f"{label}: share of stars (%)",
           title=f"coverage by S/N, state, [Fe/H] and P(RC) (vs {reference})")  # fmt: skip
    ax.title.set_fontsize(7)
    ax.legend(loc="lower right", fontsize=6)


def _bars(
    ax: Any, names: list[str], values: np.ndarray, highlight: np.ndarray, errors: Any = None
) -> None:
    colors = [COLORS[1] if h else COLORS[0] for h in highlight]
    x = np.arange(len(names))
    bars = ax.bar(x, values, yerr=errors, color=colors, width=0.65, capsize=2)
    ax.bar_label(bars, fmt="%.2f", label_type="center", fontsize=6.5, color="white")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_xlim(-0.6, len(names) - 0.4)


def _seed_groups(
    frame: pd.DataFrame, key: str, order: list[str], column: str
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The values of ``column`` per name of ``order`` (one per training seed), their means and
    standard deviations over seeds (ddof 1; 0 for a single run)."""
    groups = [frame.loc[frame[key] == name, column].to_numpy(float) for name in order]
    means = np.array([g.mean() for g in groups])
    stds = np.array([g.std(ddof=1) if g.size > 1 else 0.0 for g in groups])
    return groups, means, stds


def _seed_bars(
    ax: Any, names: list[str], groups: list[np.ndarray], means: np.ndarray, stds: np.ndarray,
    highlight: np.ndarray,
) -> None:  # fmt: skip
    """Bars of the seed means, ± the seed standard deviation and each run as a point when
    any name has several runs (a single run gets no error bar)."""
    several = np.array([g.size > 1 for g in groups])
    errors = np.where(several, stds, np.nan) if several.any() else None
    _bars(ax, names, means, highlight, errors=errors)
    label = "one training seed each"
    for k, g in enumerate(groups):
        if g.size > 1:
            ax.plot(k + np.linspace(-0.2, 0.2, g.size), g, "o", ms=2.5, color="0.15", label=label)
            label = None


def plot_baseline_comparison(
    scores: pd.DataFrame, path: PathLike, highlight: str = "SPT", note: str | None = None
) -> Path:
    """Fig. 8: Delta_P (top) and robust scatter (bottom, when given) per model, age and mass.

    ``scores`` has one row per model and training seed: ``model`` (column or index) and
    ``age_delta_p, mass_delta_p`` [, ``age_robust_scatter, mass_robust_scatter``] in % (the keys
    of `spt.validation.evaluate.scores`; one label's columns for a one-label model). Models
    keep their first row's order; a model with several rows (seeds) is drawn as its mean ± the
    standard deviation over seeds, with each run as a point. The model named ``highlight`` is
    drawn in the accent colour, and the paper's published SPT Delta_P is a dashed reference line.
    """
    frame = _score_frame(scores, "model")
    labels = _score_labels(frame, "model", "baseline scores")
    metrics = [("delta_p", r"$\Delta_P$ (%)")]
    if {f"{label}_robust_scatter" for label in labels} <= set(frame.columns):
        metrics.append(("robust_scatter", r"Robust scatter (%)"))
    frame = frame.assign(model=frame["model"].astype(str))
    names = list(dict.fromkeys(frame["model"]))
    hl = np.array([n.lower() == highlight.lower() for n in names])
    fig, axes = new_figure(
        len(metrics),
        len(labels),
        figsize=(3.6 * len(labels), 2.6 * len(metrics)),
        squeeze=False,
        sharex=True,
    )
    for row, (metric, ylabel) in enumerate(metrics):
        for col, label in enumerate(labels):
            ax = axes[row, col]
            groups, values, stds = _seed_groups(frame, "model", names, f"{label}_{metric}")
            _seed_bars(ax, names, groups, values, stds, hl)
            values = np.concatenate([values + stds, *groups])
            if metric == "delta_p":
                ref = PAPER_DELTA_P[label]
                ax.axhline(ref, color="0.15", lw=0.9, ls="--", label=f"{PAPER_LABEL}: {ref} %")
                ax.legend(loc="upper right")
                ax.set_title(label.capitalize())
                top = np.nanmax(np.append(values, ref))
            else:
                top = np.nanmax(values)
            ax.set_ylim(0.0, 1.25 * top if np.isfinite(top) and top > 0 else 1.0)
            ax.set_ylabel(ylabel)
    return _finish(fig, path, note)


def plot_loss_ablation(scores: pd.DataFrame, path: PathLike, note: str | None = None) -> Path:
    """Fig. 9: Delta_P of SPT trained with MSE, z-scored MSE and Mahalanobis losses.

    ``scores``: ``loss`` (column or index; names of `spt.model.loss.LOSS_NAMES`) and
    ``age_delta_p, mass_delta_p``. Several rows per loss (seeds) give mean ± standard deviation
    bars with the single runs as points. The paper's loss (Mahalanobis) is highlighted.
    """
    frame = _score_frame(scores, "loss")
    labels = _score_labels(frame, "loss", "loss-ablation scores")
    frame = frame.assign(loss=frame["loss"].astype(str))
    known = [name for name in LOSS_TITLES if name in set(frame["loss"])]
    order = known + sorted(set(frame["loss"]) - set(known))
    names = [LOSS_TITLES.get(name, name) for name in order]
    hl = np.array([name == "mahalanobis" for name in order])
    fig, axes = new_figure(1, len(labels), figsize=(3.6 * len(labels), 2.8), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        groups, means, stds = _seed_groups(frame, "loss", order, f"{label}_delta_p")
        _seed_bars(ax, names, groups, means, stds, hl)
        ref = PAPER_DELTA_P[label]
        ax.axhline(ref, color="0.15", lw=0.9, ls="--", label=f"{PAPER_LABEL}: {ref} %")
        top = float(np.nanmax(np.concatenate([means + stds, *groups])))
        ax.set_ylim(0.0, 1.25 * max(top, ref))
        ax.set_title(label.capitalize())
        ax.set_ylabel(r"$\Delta_P$ (%)")
        ax.legend(loc="upper right")
    return _finish(fig, path, note)


def plot_isochrone_comparison(
    per_star: pd.DataFrame, summary: pd.DataFrame, path: PathLike, note: str | None = None
) -> Path:
    """Fig. 10: SPT vs isochrone ages by evolutionary state (left) and the log offsets (right).

    Takes the two frames of `spt.validation.isochrones.compare_isochrone_ages`; the legend gives
    each state's median offset and robust scatter in dex.
    """
    _require(per_star, ["state", "age", "age_iso", "offset_dex"], "isochrone comparison")
    _require(summary, ["state", "n", "median_offset_dex", "scatter_dex"], "isochrone summary")
    stats = summary.set_index("state")
    fig, (ax, hx) = new_figure(1, 2, figsize=(7.2, 3.2))
    states = [s for s in STATE_COLORS if (per_star["state"] == s).any()]
    off_all = per_star["offset_dex"].to_numpy(float)
    lim = float(np.nanpercentile(np.abs(off_all), 99.5)) * 1.1 or 0.5
    bins = np.linspace(-lim, lim, 31)
    dense = len(per_star) > RASTER_ABOVE
    for state in states:
        sel = per_star[per_star["state"] == state]
        color = STATE_COLORS[state]
        label = f"{state} (N = {len(sel)})"
        if state in stats.index and stats.loc[state, "n"] > 0:
            label += (
                f": {stats.loc[state, 'median_offset_dex']:+.3f} ± "
                f"{stats.loc[state, 'scatter_dex']:.3f} dex"
            )
        if len(per_star) <= ERRORBARS_UP_TO:
            xerr = sel["e_age_iso"].to_numpy(float) if "e_age_iso" in sel else None
            yerr = sel["age_err"].to_numpy(float) if "age_err" in sel else None
            ax.errorbar(
                sel["age_iso"],
                sel["age"],
                xerr=xerr,
                yerr=yerr,
                fmt="o",
                ms=2.5,
                mew=0,
                color=color,
                elinewidth=0.3,
                alpha=0.7,
                label=label,
            )
        else:
            ax.scatter(
                sel["age_iso"],
                sel["age"],
                s=3,
                lw=0,
                color=color,
                alpha=0.6,
                label=label,
                rasterized=dense,
            )
        hx.hist(sel["offset_dex"], bins=bins, histtype="step", color=color, lw=1.2, label=state)
        hx.axvline(float(np.median(sel["offset_dex"])), color=color, lw=0.8, ls=":")
    ages = np.concatenate([per_star["age"].to_numpy(float), per_star["age_iso"].to_numpy(float)])
    ages = ages[np.isfinite(ages) & (ages > 0)]
    span = (ages.min() / 1.3, ages.max() * 1.3)
    ax.plot(span, span, color="0.2", lw=0.8, ls="--")
    ax.set(xscale="log", yscale="log", xlim=span, ylim=span)
    _plain_log(ax.xaxis)
    _plain_log(ax.yaxis)
    ax.set_xlabel("Isochrone age (Gyr)")
    ax.set_ylabel("SPT age (Gyr)")
    ax.legend(loc="upper left", fontsize=6.5)
    hx.axvline(0.0, color="0.2", lw=0.8, ls="--")
    hx.set_xlabel(r"$\log_{10}$(age$_{\rm SPT}$ / age$_{\rm iso}$) (dex)")
    hx.set_ylabel("Stars")
    title = None
    if "all" in stats.index and stats.loc["all", "n"] > 0:
        row = stats.loc["all"]
        title = f"all: {row['median_offset_dex']:+.3f} ± {row['scatter_dex']:.3f} dex"
        if "median_z" in row and np.isfinite(row["median_z"]):
            title += f"\nmedian offset / σ = {row['median_z']:+.2f}"
    hx.legend(loc="upper right", title=title, title_fontsize=7)
    return _finish(fig, path, note)


def plot_clusters(
    member_predictions: pd.DataFrame,
    summary: pd.DataFrame,
    path: PathLike,
    note: str | None = None,
) -> Path:
    """Fig. 11: members' SPT ages (left) and masses (right) per cluster against the literature.

    One row per cluster of ``summary`` (`spt.validation.clusters.summarise_clusters`): members with
    their MC-dropout errors, the median with its standard error, and the literature value ± 1 sigma
    as a band (the mass band only where the summary has ``mass_lit``). A one-label model's
    predictions give one panel.
    """
    _require(member_predictions, ["cluster", "member_id"], "member predictions")
    labels = _labels_of(member_predictions, "member predictions")
    first = labels[0]
    _require(summary, ["cluster", "n_used", f"{first}_median", f"{first}_sem"], "summary")
    n = len(summary)
    fig, axes = new_figure(
        1,
        len(labels),
        figsize=(7.2 if len(labels) > 1 else 4.8, 1.0 + 0.55 * max(n, 2)),
        sharey=True,
        squeeze=False,
    )
    axes = axes[0]
    for ax, label in zip(axes, labels, strict=True):
        for i, cl in enumerate(summary.itertuples(index=False)):
            y = n - 1 - i
            row = cl._asdict()
            ref, e_ref = row.get(f"{label}_lit", np.nan), row.get(f"e_{label}_lit", np.nan)
            if np.isfinite(ref):
                e = e_ref if np.isfinite(e_ref) else 0.0
                ax.fill_betweenx(
                    [y - 0.42, y + 0.42], ref - e, ref + e, color=COLORS[2], alpha=0.25, lw=0
                )
                ax.plot([ref, ref], [y - 0.42, y + 0.42], color=COLORS[2], lw=1.0)
            mem = member_predictions[member_predictions["cluster"].astype(str) == str(cl.cluster)]
            mem = mem.sort_values("member_id", kind="mergesort")
            if mem.empty:
                ax.text(
                    0.5,
                    y,
                    "no member matched",
                    transform=ax.get_yaxis_transform(),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="0.4",
                )
                continue
            jitter = np.linspace(-0.3, 0.3, len(mem)) if len(mem) > 1 else np.zeros(1)
            err = mem[f"{label}_err"] if f"{label}_err" in mem else None
            ax.errorbar(
                mem[label],
                y + jitter,
                xerr=err,
                fmt="o",
                ms=2.5,
                mew=0,
                color=COLORS[0],
                elinewidth=0.5,
                alpha=0.8,
            )
            med, sem = row.get(f"{label}_median", np.nan), row.get(f"{label}_sem", np.nan)
            if np.isfinite(med):
                ax.errorbar(
                    [med],
                    [y],
                    xerr=[sem] if np.isfinite(sem) else None,
                    fmt="D",
                    ms=5,
                    color=COLORS[1],
                    mec="k",
                    mew=0.5,
                    capsize=3,
                    zorder=5,
                )
        ax.set_xlabel(f"{label.capitalize()} ({UNITS[label]})")
        ax.set_title(f"Cluster members: {label}")
    ticks = []
    for cl in summary.itertuples(index=False):
        row = cl._asdict()
        tick = f"{cl.cluster} (n = {int(cl.n_used)})"
        off, z = row.get(f"{first}_offset", np.nan), row.get(f"{first}_offset_sigma", np.nan)
        if np.isfinite(off):
            unit = "Gyr" if first == "age" else "Msun"
            tick += f"\nΔ{first} = {off:+.2f} {unit}" + (f" ({z:+.1f}σ)" if np.isfinite(z) else "")
        ticks.append(tick)
    axes[0].set_yticks(np.arange(n)[::-1], ticks)
    axes[0].set_ylim(-0.6, n - 0.4)
    handles = [
        Line2D([], [], ls="none", marker="o", ms=3, color=COLORS[0], label="members (SPT ± σ)"),
        Line2D(
            [], [], ls="none", marker="D", ms=4, color=COLORS[1], mec="k", label="median ± s.e."
        ),
        Patch(color=COLORS[2], alpha=0.4, label="literature ± 1σ"),
    ]
    ncol, rows = (3, 1) if len(labels) > 1 else (2, 2)  # one panel: the legend in two rows
    fig.legend(handles=handles, loc="upper center", ncol=ncol, bbox_to_anchor=(0.5, 1.0))
    return _finish(fig, path, note, top=1.0 - (0.3 + 0.2 * (rows - 1)) / fig.get_figheight())


def plot_age_chemistry(
    pred_all: pd.DataFrame, path: PathLike, color_by: str = "mass", note: str | None = None
) -> Path:
    """Fig. 12: SPT ages over the age–[Fe/H] plane of the whole sample, coloured by mass or by
    the number of stars (``color_by="density"``), with the running median [Fe/H] at each age."""
    _require(pred_all, ["age", "feh", *(["mass"] if color_by == "mass" else [])], "sample")
    if color_by not in ("mass", "density"):
        raise ValueError(f"color_by must be 'mass' or 'density', not {color_by!r}")
    age = pred_all["age"].to_numpy(float)
    feh = pred_all["feh"].to_numpy(float)
    ok = np.isfinite(age) & np.isfinite(feh)
    fig, ax = new_figure(figsize=(4.4, 3.4))
    if color_by == "mass":
        mass = pred_all["mass"].to_numpy(float)
        ok &= np.isfinite(mass)
        order = np.argsort(mass[ok], kind="mergesort")  # heavy stars on top
        art = ax.scatter(
            age[ok][order],
            feh[ok][order],
            c=mass[ok][order],
            s=4,
            lw=0,
            cmap="viridis",
            rasterized=ok.sum() > RASTER_ABOVE,
        )
        fig.colorbar(art, ax=ax, label=r"SPT mass ($M_\odot$)")
    else:
        art = ax.hexbin(age[ok], feh[ok], gridsize=30, mincnt=1, cmap="viridis", bins="log")
        fig.colorbar(art, ax=ax, label="Stars per cell")
    xb, med = _binned(age[ok], feh[ok], np.median, n_bins=10)
    if xb.size:
        ax.plot(xb, med, color=COLORS[1], lw=1.5, label="running median")
        ax.legend(loc="lower left")
    ax.set_xlabel("SPT age (Gyr)")
    ax.set_ylabel("[Fe/H] (dex)")
    ax.set_title(f"N = {int(ok.sum())}")
    return _finish(fig, path, note)


def plot_training_curve(history: pd.DataFrame, path: PathLike, note: str | None = None) -> Path:
    """Training and validation loss per epoch, the best epoch marked, learning rate on a twin axis.

    ``history`` has the columns of `spt.model.train.HISTORY_COLUMNS` (``epoch, train_loss, val_loss,
    lr``).
    """
    _require(history, ["epoch", "train_loss", "val_loss", "lr"], "training history")
    if history.empty:
        raise ValueError("training history is empty")
    ep = history["epoch"].to_numpy(float)
    fig, ax = new_figure(figsize=(4.4, 3.0))
    ax.plot(ep, history["train_loss"], color=COLORS[0], label="training")
    ax.plot(ep, history["val_loss"], color=COLORS[1], label="validation")
    val = history["val_loss"].to_numpy(float)
    if np.isfinite(val).any():
        best = int(np.nanargmin(val))
        ax.plot(
            ep[best],
            val[best],
            "o",
            ms=4,
            mfc="none",
            color=COLORS[1],
            label=f"best (epoch {int(ep[best])})",
        )
    losses = history[["train_loss", "val_loss"]].to_numpy(float)
    if (losses[np.isfinite(losses)] > 0).all():
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    ax.yaxis.tick_left()  # the right spine belongs to the learning rate
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    twin = ax.twinx()
    twin.plot(ep, history["lr"], color="0.45", lw=0.8, ls="--", label="learning rate")
    lr = history["lr"].to_numpy(float)
    if (lr[np.isfinite(lr)] > 0).all():
        twin.set_yscale("log")
    twin.set_ylabel("Learning rate")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper right")
    return _finish(fig, path, note)
