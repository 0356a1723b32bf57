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
        "sample_aa": 3.0,  # uniform wavelength sampling of the smoothed log flux
        "window_aa": 1200.0,  # periodogram window (the mock's modulated segments are >= 1500 A)
        "step_aa": 150.0,
        "period_min_aa": 30.0,
        "period_max_aa": 320.0,
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
        "n_sigma": 7.0,
        "spike_frac": 0.4,  # a spike rises by at least this fraction of the local reference
        "trough_frac": 0.6,  # a trough falls below (1 - trough_frac) of the local reference
        "max_width_pix": 3,  # full width at half height; wider is resolved (line, band, step)
        "edge_aa": 40.0,  # data this close to an end or a gap are ignored (LAMOST's roll-off)
        "gap_aa": 10.0,
        # brightest night-sky lines, vacuum: [O I] 5577, 6300, 6364, Na I D and the OH lines
        # seen as residuals in real LAMOST spectra (residuals of either sign are ignored)
        "sky_lines_aa": [5578.9, 5891.6, 5897.6, 6302.0, 6365.5, 8346.5, 8829.5, 9004.0],
        "sky_halfwidth_aa": 5.0,
        # deepest stellar and telluric absorption, vacuum: Ca II K, H; Ca I 4227; telluric A
        "strong_lines_aa": [3934.8, 3969.6, 4227.9, 7605.0],
        "strong_halfwidth_aa": 10.0,
    },
    "negative": {
        "smooth_pix": 15,
        "min_width_aa": 20.0,
        "min_significance": 8.0,  # of the run's summed flux below zero, in sigma
        "edge_aa": 40.0,  # LAMOST's red end often dives below zero just before the padding
        "gap_aa": 10.0,
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
    near-zero far-blue flux of cool giants at low S/N does not count. The last ``edge_aa`` of
    data before an end or a gap are ignored (LAMOST's spectra often roll off below zero there).
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
    inside = _away_from_edges(lam, c["edge_aa"], c["gap_aa"])
    best, region, flagged = 0.0, None, False
    for sl in _runs((med < 0) & inside):
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


def _away_from_edges(lam: np.ndarray, edge_aa: float, gap_aa: float) -> np.ndarray:
    """Pixels at least ``edge_aa`` from both ends of their stretch of data (gaps > ``gap_aa``)."""
    breaks = np.flatnonzero(np.diff(lam) > gap_aa) + 1
    starts = np.r_[0, breaks]
    ends = np.r_[breaks, lam.size] - 1
    seg = np.repeat(np.arange(starts.size), ends - starts + 1)
    return (lam - lam[starts][seg] >= edge_aa) & (lam[ends][seg] - lam >= edge_aa)


def detect_outlier(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> Detection:
    """Narrow spikes or troughs; score = largest confirmed excursion in units of the local noise.

    Candidates lie ``n_sigma`` times the local noise (the larger of the pipeline's sigma and the
    local robust scatter) off a running median. Each is measured against its flanks (median of
    the pixels 3-6 away from its extreme): a spike must rise ``spike_frac`` of that level above
    it, a trough fall below ``1 - trough_frac`` of it, and either be at most ``max_width_pix``
    wide at half height, i.e. narrower than the resolution, which peaks between blended lines
    and the wings of lines are not. The cores of the deepest stellar and telluric lines
    (troughs), the brightest night-sky lines (both signs), and ``edge_aa`` of data next to
    either end or a gap wider than ``gap_aa`` are ignored.
    """
    c = _sub(cfg, "outlier")
    good = usable(flux, ivar)
    if good.sum() < 3 * c["ref_pix"]:
        return False, None, 0.0
    idx = np.flatnonzero(good)
    lam = np.asarray(wavelength, dtype=np.float64)[idx]
    f = np.asarray(flux, dtype=np.float64)[idx]
    sigma = 1.0 / np.sqrt(np.asarray(ivar, dtype=np.float64)[idx])
    ref = ndimage.median_filter(f, size=c["ref_pix"], mode="nearest")
    resid = f - ref
    mad = ndimage.median_filter(np.abs(resid), size=c["scatter_pix"], mode="nearest")
    noise = np.maximum(sigma, 1.4826 * mad)
    floor = 0.05 * float(np.median(np.abs(f)))
    nsig = resid / noise
    candidates = np.abs(nsig) >= c["n_sigma"]
    inside = _away_from_edges(lam, c["edge_aa"], c["gap_aa"])
    sky = _near(lam, c["sky_lines_aa"], c["sky_halfwidth_aa"])
    strong = _near(lam, c["strong_lines_aa"], c["strong_halfwidth_aa"])
    n = len(f)
    best, where = 0.0, []
    for sl in _runs(candidates & inside & ~sky):
        up = resid[sl].sum() > 0
        p = sl.start + int(np.argmax(f[sl]) if up else np.argmin(f[sl]))
        flank = np.r_[max(p - 6, 0) : max(p - 2, 0), min(p + 3, n) : min(p + 7, n)]
        if flank.size < 4:
            continue
        base = float(np.median(f[flank]))
        if base <= floor:  # no positive continuum to be an outlier of (see detect_negative)
            continue
        height = f[p] - base
        if abs(height) < c["n_sigma"] * noise[p]:
            continue
        if up:
            ok = height >= c["spike_frac"] * base
            above = f > base + 0.5 * height
        else:
            ok = f[p] <= (1.0 - c["trough_frac"]) * base and not strong[p]
            above = f < base + 0.5 * height
        if not ok:
            continue
        left = p - 1
        while left >= 0 and above[left]:
            left -= 1
        right = p + 1
        while right < n and above[right]:
            right += 1
        if right - left - 1 > c["max_width_pix"]:  # resolved: a line, a band or a step
            continue
        where.append(float(lam[p]))
        best = max(best, abs(float(nsig[p])))
    if not where:
        return False, None, 0.0
    return True, (min(where) - 2.0, max(where) + 2.0), best


# --------------------------------------------------------------------------- oscillations
def detect_oscillation(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> Detection:
    """A periodic modulation of the continuum; score = best windowed periodogram power.

    The log of the median-smoothed flux is put on a uniform linear-wavelength grid, cut into
    sliding windows of ``window_aa``, each detrended by a quadratic, and searched (FFT
    periodogram) for one sinusoid with a period of ``period_min_aa``-``period_max_aa``. Flagged
    when, in some window, that sinusoid explains at least ``min_power`` of the variance with a
    fractional amplitude of at least ``min_amplitude``. Lines and bands are not periodic: each
    spreads over many frequencies and explains little variance at any one of them.
    """
    c = _sub(cfg, "oscillation")
    good = usable(flux, ivar)
    if good.sum() < 5 * c["smooth_pix"]:
        return False, None, 0.0
    idx = np.flatnonzero(good)
    f = np.asarray(flux, dtype=np.float64)[idx]
    smooth = ndimage.median_filter(f, size=c["smooth_pix"], mode="nearest")
    keep = smooth > c["min_level"] * np.median(np.abs(f))
    lam = np.asarray(wavelength, dtype=np.float64)[idx][keep]
    if lam.size < 5 * c["smooth_pix"]:
        return False, None, 0.0
    step = c["sample_aa"]
    grid = np.arange(lam[0], lam[-1], step)
    y = np.interp(grid, lam, np.log(smooth[keep]))
    n_win = int(round(min(c["window_aa"], grid[-1] - grid[0]) / step))
    if n_win < 16:
        return False, None, 0.0
    hop = max(1, int(round(c["step_aa"] / step)))
    windows = np.lib.stride_tricks.sliding_window_view(y, n_win)[::hop]
    x = np.linspace(-1.0, 1.0, n_win)
    basis = np.polynomial.legendre.legvander(x, 2)  # quadratic detrend, one projection for all
    coef, *_ = np.linalg.lstsq(basis, windows.T, rcond=None)
    resid = windows - (basis @ coef).T
    n_fft = 4 * int(2 ** np.ceil(np.log2(n_win)))
    spectrum = np.abs(np.fft.rfft(resid, n=n_fft, axis=1)) ** 2
    freq = np.fft.rfftfreq(n_fft, d=step)
    band = (freq >= 1.0 / c["period_max_aa"]) & (freq <= 1.0 / c["period_min_aa"])
    total = np.maximum(np.sum(resid**2, axis=1), 1e-300)
    power = 2.0 * spectrum[:, band] / (n_win * total[:, None])  # variance fraction explained
    amplitude = 2.0 * np.sqrt(spectrum[:, band]) / n_win
    k = np.argmax(power, axis=1)
    rows = np.arange(len(k))
    best_power, best_amp = power[rows, k], amplitude[rows, k]
    hit = (best_power >= c["min_power"]) & (best_amp >= c["min_amplitude"])
    score = float(best_power.max())
    if not hit.any():
        return False, None, score
    starts = grid[0] + np.flatnonzero(hit) * hop * step
    return True, (float(starts.min()), float(starts.max() + n_win * step)), score


DETECTORS = {
    "oscillation": detect_oscillation,
    "missing": detect_missing,
    "outlier": detect_outlier,
    "negative": detect_negative,
}
