"""The four anomalous-spectrum detectors of the paper (Fig. 4) and the label-outlier cut (Fig. 5).

Every detector works on the *raw* spectrum as read from the file (native log-linear pixels, flux
and inverse variance), before resampling and normalisation, because resampling smears the one- to
three-pixel spikes the outlier test looks for, merges masked and empty pixels (the missing-value
test needs to know that a pixel holds no flux at all), and a continuum normalisation is itself
distorted by a negative region or by a modulated continuum. Each detector returns
``(flag, region, score)``: the region is the wavelength range (Angstrom) it blames, the score is a
physical number documented per detector (larger = more anomalous).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy import ndimage, signal

Region = tuple[float, float] | None
Detection = tuple[bool, Region, float]

ANOMALY_TYPES = ("oscillation", "missing", "outlier", "negative")

#: Default thresholds; `config.yaml` may override any key (see `merge_config`).
DEFAULTS: dict[str, dict[str, Any]] = {
    "oscillation": {
        "smooth_pix": 9,  # running median removing noise and narrow lines before the periodogram
        "min_level": 0.05,  # ignore pixels fainter than this fraction of the median flux
        "window_aa": 1200.0,  # periodogram window (the mock's modulated segments are >= 1500 A)
        "step_aa": 150.0,
        "period_min_aa": 30.0,
        "period_max_aa": 320.0,
        "n_periods": 300,
        "min_power": 0.45,  # fraction of the window's variance one sinusoid explains
        "min_amplitude": 0.04,  # fractional amplitude of that sinusoid
    },
    "missing": {
        "zero_tol": 0.02,  # |flux| below this fraction of the median |flux| counts as no flux
        "min_width_aa": 40.0,  # runs of empty pixels at least this wide (masked pixels are sparse)
        "edge_pad_aa": 100.0,  # runs touching an end are this much shorter (LAMOST's zero padding)
    },
    "outlier": {
        "ref_pix": 15,  # running-median window of the local reference
        "scatter_pix": 61,  # window of the local robust scatter (MAD)
        "n_sigma": 6.0,
        "spike_frac": 0.35,  # a spike rises by at least this fraction of the local reference
        "trough_frac": 0.55,  # a trough falls below (1 - trough_frac) of the local reference
        "max_width_pix": 4,  # wider excursions are lines, bands or steps, not outliers
        "edge_pix": 8,  # detector-edge pixels are ignored
        "sky_lines_aa": [5578.9, 6302.0, 6365.5],  # vacuum [O I] night-sky lines (spikes ignored)
        "sky_halfwidth_aa": 6.0,
        "strong_lines_aa": [3934.8, 3969.6],  # Ca II K and H (troughs ignored)
        "strong_halfwidth_aa": 12.0,
    },
    "negative": {
        "smooth_pix": 15,
        "min_width_aa": 20.0,
        "min_significance": 8.0,  # of the run's summed flux below zero, in sigma
    },
}


def merge_config(cfg: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Defaults overridden by ``cfg`` (per detector); unknown detector names are an error."""
    out = copy.deepcopy(DEFAULTS)
    for name, values in (cfg or {}).items():
        if name not in out:
            raise KeyError(f"unknown anomaly detector {name!r}; known: {sorted(out)}")
        unknown = set(values or {}) - set(out[name])
        if unknown:
            raise KeyError(f"unknown {name} setting(s) {sorted(unknown)}")
        out[name].update(values or {})
    return out


def _sub(cfg: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    merged = dict(DEFAULTS[name])
    merged.update(cfg or {})
    return merged


def usable(flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """Pixels with data: finite, positive inverse variance, and not exactly zero flux.

    LAMOST pads the ends of a spectrum with flux = 0 but a copied, positive inverse variance, so
    exact zeros are no data whatever the inverse variance says.
    """
    return np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0) & (flux != 0)


def _runs(mask: np.ndarray) -> list[slice]:
    """Contiguous runs of True as slices."""
    labels, n = ndimage.label(mask)
    return [s[0] for s in ndimage.find_objects(labels)] if n else []


def _pixel_edges(wavelength: np.ndarray, sl: slice) -> tuple[float, float]:
    """Wavelength range covered by the pixels of ``sl`` (half a pixel beyond the centres)."""
    lo, hi = sl.start, sl.stop - 1
    n = len(wavelength)
    left = wavelength[lo] - 0.5 * (wavelength[min(lo + 1, n - 1)] - wavelength[lo])
    right = wavelength[hi] + 0.5 * (wavelength[hi] - wavelength[max(hi - 1, 0)])
    return float(left), float(right)


# --------------------------------------------------------------------------- missing values
def detect_missing(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> Detection:
    """Contiguous regions holding no flux at all; score = width of the widest one in Angstrom.

    A pixel is empty when its flux is non-finite or exactly zero, or when it has no inverse
    variance and a flux consistent with zero (below ``zero_tol`` of the median level). Sparse
    masked pixels and masked pixels that still carry flux never form a wide enough run.
    """
    c = _sub(cfg, "missing")
    flux = np.asarray(flux, dtype=np.float64)
    ivar = np.asarray(ivar, dtype=np.float64)
    finite = np.isfinite(flux)
    level = float(np.median(np.abs(flux[finite]))) if finite.any() else 0.0
    no_ivar = ~(np.isfinite(ivar) & (ivar > 0))
    empty = (
        ~finite
        | (flux == 0)
        | (no_ivar & (np.abs(np.where(finite, flux, 0)) <= c["zero_tol"] * level))
    )
    n = len(flux)
    best, hull = 0.0, None
    for sl in _runs(empty):
        lo, hi = _pixel_edges(wavelength, sl)
        width = hi - lo
        if sl.start == 0 or sl.stop == n:  # LAMOST zero-pads the ends of many spectra
            width -= c["edge_pad_aa"]
        best = max(best, width)
        if width >= c["min_width_aa"]:
            hull = (lo, hi) if hull is None else (min(hull[0], lo), max(hull[1], hi))
    return hull is not None, hull, float(best)


# --------------------------------------------------------------------------- negative values
def detect_negative(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> Detection:
    """Regions whose flux is significantly below zero; score = significance (sigma) of the worst.

    The running median of the usable pixels must be negative over at least ``min_width_aa`` and
    the summed flux of that run must lie ``min_significance`` sigma below zero, so the noisy,
    near-zero far-blue flux of cool giants at low S/N does not count.
    """
    c = _sub(cfg, "negative")
    good = usable(flux, ivar)
    if good.sum() < c["smooth_pix"]:
        return False, None, 0.0
    idx = np.flatnonzero(good)
    lam = wavelength[idx]
    f = np.asarray(flux, dtype=np.float64)[idx]
    iv = np.asarray(ivar, dtype=np.float64)[idx]
    med = ndimage.median_filter(f, size=c["smooth_pix"], mode="nearest")
    best, region, flagged = 0.0, None, False
    for sl in _runs(med < 0):
        sig = float(-np.sum(f[sl]) / np.sqrt(np.sum(1.0 / iv[sl])))
        width = float(lam[sl.stop - 1] - lam[sl.start])
        if sig > best:
            best = sig
        if sig >= c["min_significance"] and width >= c["min_width_aa"]:
            lo, hi = float(lam[sl.start]), float(lam[sl.stop - 1])
            region = (lo, hi) if region is None else (min(region[0], lo), max(region[1], hi))
            flagged = True
    return flagged, region, best


# --------------------------------------------------------------------------- outliers
def _near(lam: np.ndarray, centres: Iterable[float], halfwidth: float) -> np.ndarray:
    out = np.zeros(lam.shape, dtype=bool)
    for c in centres:
        out |= np.abs(lam - c) <= halfwidth
    return out


def detect_outlier(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> Detection:
    """Narrow spikes or troughs far off a running median; score = largest excursion in sigma.

    A pixel is an outlier when it lies ``n_sigma`` times the local noise (the larger of the
    pipeline's sigma and the local robust scatter) and a large fraction of the local reference
    away from a running median, and the excursion is at most ``max_width_pix`` wide: absorption
    lines at R~1800 are resolved and most are shallower; night-sky residual lines (spikes) and the
    cores of Ca II H and K (troughs) are ignored.
    """
    c = _sub(cfg, "outlier")
    good = usable(flux, ivar)
    if good.sum() < 3 * c["ref_pix"]:
        return False, None, 0.0
    idx = np.flatnonzero(good)
    lam = wavelength[idx]
    f = np.asarray(flux, dtype=np.float64)[idx]
    sigma = 1.0 / np.sqrt(np.asarray(ivar, dtype=np.float64)[idx])
    ref = ndimage.median_filter(f, size=c["ref_pix"], mode="nearest")
    resid = f - ref
    mad = ndimage.median_filter(np.abs(resid), size=c["scatter_pix"], mode="nearest")
    noise = np.maximum(sigma, 1.4826 * mad)
    level = np.maximum(ref, 0.05 * np.median(np.abs(f)))
    nsig = resid / noise
    spike = (nsig >= c["n_sigma"]) & (resid >= c["spike_frac"] * level)
    trough = (nsig <= -c["n_sigma"]) & (f <= (1.0 - c["trough_frac"]) * level)
    spike &= ~_near(lam, c["sky_lines_aa"], c["sky_halfwidth_aa"])
    trough &= ~_near(lam, c["strong_lines_aa"], c["strong_halfwidth_aa"])
    edge = np.zeros(lam.shape, dtype=bool)
    edge[: c["edge_pix"]] = edge[-c["edge_pix"] :] = True
    hits = (spike | trough) & ~edge
    best, where = 0.0, []
    for sl in _runs(hits):
        if sl.stop - sl.start > c["max_width_pix"]:
            continue
        where.append(float(lam[sl.start]))
        best = max(best, float(np.max(np.abs(nsig[sl]))))
    if not where:
        return False, None, 0.0
    return True, (min(where) - 2.0, max(where) + 2.0), best


# --------------------------------------------------------------------------- oscillations
def detect_oscillation(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> Detection:
    """A periodic modulation of the continuum; score = best windowed Lomb-Scargle power.

    The log of the median-smoothed flux is detrended by a quadratic in sliding windows of
    ``window_aa`` and searched for one sinusoid (period ``period_min_aa``-``period_max_aa``,
    in linear wavelength). Flagged when, in some window, it explains at least ``min_power`` of
    the variance with a fractional amplitude of at least ``min_amplitude``. Absorption lines and
    bands are not periodic, so they spread over many periods and explain little variance each.
    """
    c = _sub(cfg, "oscillation")
    good = usable(flux, ivar)
    if good.sum() < 5 * c["smooth_pix"]:
        return False, None, 0.0
    idx = np.flatnonzero(good)
    f = np.asarray(flux, dtype=np.float64)[idx]
    smooth = ndimage.median_filter(f, size=c["smooth_pix"], mode="nearest")
    keep = smooth > c["min_level"] * np.median(np.abs(f))
    lam = wavelength[idx][keep]
    y_all = np.log(smooth[keep])
    if lam.size < 5 * c["smooth_pix"]:
        return False, None, 0.0
    step = max(1, c["smooth_pix"] // 3)
    lam, y_all = lam[::step], y_all[::step]
    periods = np.geomspace(c["period_min_aa"], c["period_max_aa"], c["n_periods"])
    omega = 2.0 * np.pi / periods
    best_power, best_region, best_amp = 0.0, None, 0.0
    flagged = False
    width = min(c["window_aa"], float(lam[-1] - lam[0]))
    starts = np.arange(lam[0], lam[-1] - width + 1e-9, c["step_aa"])
    if starts.size == 0:
        starts = np.array([lam[0]])
    for lo in starts:
        m = (lam >= lo) & (lam <= lo + width)
        if m.sum() < 30:
            continue
        x = lam[m] - lo
        y = y_all[m]
        y = y - np.polyval(np.polyfit(x, y, 2), x)
        raw = signal.lombscargle(x, y, omega)  # = amplitude**2 * n / 4 for a pure sinusoid
        power = 2.0 * raw / max(float(np.dot(y, y)), 1e-300)
        k = int(np.argmax(power))
        amp = float(np.sqrt(4.0 * raw[k] / x.size))
        if power[k] > best_power:
            best_power = float(power[k])
        if power[k] >= c["min_power"] and amp >= c["min_amplitude"]:
            flagged = True
            reg = (float(lo), float(lo + width))
            best_region = (
                reg
                if best_region is None
                else (min(best_region[0], reg[0]), max(best_region[1], reg[1]))
            )
            best_amp = max(best_amp, amp)
    return flagged, best_region, best_power


DETECTORS = {
    "oscillation": detect_oscillation,
    "missing": detect_missing,
    "outlier": detect_outlier,
    "negative": detect_negative,
}
