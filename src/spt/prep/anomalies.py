"""The four anomalous-spectrum detectors of the paper (Fig. 4) and the label-outlier cut (Fig. 5).

Every detector works on the *raw* spectrum as read from the file (native log-linear pixels, flux
and inverse variance), before resampling and normalisation, because resampling smears the one- to
three-pixel spikes the outlier test looks for, merges masked and empty pixels (the missing-value
test needs to know that a pixel holds no flux at all), and a continuum normalisation is itself
distorted by a negative region or by a modulated continuum. Each detector returns
``(flag, region, score)``: the region is the wavelength range (Angstrom) it blames, the score is a
physical number documented per detector (larger = more anomalous). The one use of the
normalised spectra is the outlier test's population template (the median normalised spectrum),
which tells sharp features every star has (saturated lines, peaks between blended lines) from
outliers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

Region = tuple[float, float] | None
Detection = tuple[bool, Region, float]

ANOMALY_TYPES = ("oscillation", "missing", "outlier", "negative")

#: Default thresholds; `config.yaml` may override any key (see `merge_config`).
DEFAULTS: dict[str, dict[str, Any]] = {
    "oscillation": {
        "sample_aa": 2.0,  # uniform linear-wavelength sampling
        "smooth_aa": 12.0,  # running median removing noise and narrow lines (< period_min / 2)
        "min_level": 0.05,  # ignore flux fainter than this fraction of the median (far blue)
        "window_aa": 1000.0,  # periodogram window (the mock's modulated segments are >= 1500 A)
        "step_aa": 100.0,
        "period_min_aa": 30.0,
        "period_max_aa": 320.0,
        "gap_aa": 20.0,  # windows must not span a gap in the data wider than this
        "clip": 2.5,  # residuals clipped at this many robust sigma (strong lines)
        "min_power": 0.47,  # fraction of the window's variance one sinusoid explains
        "min_amplitude": 0.03,  # fractional amplitude of that sinusoid
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
        "spike_frac": 0.45,  # a spike rises at least this fraction above its flanks
        "trough_frac": 0.6,  # a trough falls below (1 - trough_frac) of its flanks
        "max_width_pix": 3,  # at most this many pixels at >= box_in of the height ...
        "box_in": 0.7,
        "box_out": 0.25,  # ... the next pixel on one side back below box_out of it ...
        "box_out_other": 0.5,  # ... and on the other side below box_out_other
        "edge_aa": 40.0,  # data this close to an end or a gap are ignored (LAMOST's roll-off)
        "gap_aa": 10.0,
        # brightest night-sky lines, vacuum: [O I] 5577, 6300, 6364, Na I D and the OH lines
        # seen as residuals in real LAMOST spectra (residuals of either sign are ignored)
        "sky_lines_aa": [5578.9, 5891.6, 5897.6, 6302.0, 6365.5, 7246.0, 8346.5, 8829.5, 9004.0],
        "sky_halfwidth_aa": 5.0,
        # with a population template: a hit where the template has a feature of the same sign
        # with this local contrast is a feature every star has (peaks between lines are
        # stronger and rarer than lines, hence the higher threshold for spikes)
        "template_trough_contrast": 0.1,
        "template_spike_contrast": 0.3,
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
    """One detector's settings: its defaults overridden by ``cfg`` (unknown keys are an error)."""
    unknown = set(cfg or {}) - set(DEFAULTS[name])
    if unknown:
        raise KeyError(f"unknown {name} setting(s) {sorted(unknown)}")
    return {**DEFAULTS[name], **(cfg or {})}


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
    lam = np.asarray(wavelength, dtype=np.float64)[idx]
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
def _box_width(d: np.ndarray, p: int, c: Mapping[str, Any]) -> int:
    """Width of the sharp-edged excursion at ``p`` (0 if it is not one).

    ``d`` is the excursion in units of its own height (1 at ``p``, 0 at the flank level). The
    pixels around ``p`` with ``d >= box_in`` must number at most ``max_width_pix``, and the
    pixel just beyond one side must be back to ``d <= box_out`` (beyond the other side, where a
    neighbouring line may sit, to ``box_out_other``): narrower than the instrumental profile.
    Lines, even unresolved ones, fall off over a resolution element on both sides.
    """
    left, right = p, p
    while left - 1 >= 0 and d[left - 1] >= c["box_in"]:
        left -= 1
    while right + 1 < d.size and d[right + 1] >= c["box_in"]:
        right += 1
    width = right - left + 1
    if width > c["max_width_pix"] or left == 0 or right == d.size - 1:
        return 0
    sharp, other = sorted((d[left - 1], d[right + 1]))
    return width if sharp <= c["box_out"] and other <= c["box_out_other"] else 0


def _local_contrast(values: np.ndarray, i: int, sign: int) -> float:
    """How far the extremum within one pixel of ``i`` stands out from 2-4 pixels on both sides.

    For a peak (``sign`` > 0) relative to the higher of the two sides' minima, for a dip
    relative to the lower of the two sides' maxima: a feature must stand out on both sides.
    """
    if i < 5 or i > values.size - 6:
        return 0.0
    core = values[i - 1 : i + 2]
    k = i - 1 + int(np.argmax(core) if sign > 0 else np.argmin(core))
    left, right = values[k - 4 : k - 1], values[k + 2 : k + 5]
    if sign > 0:
        side = max(left.min(), right.min())
        return float((values[k] - side) / side) if side > 0 else 0.0
    side = min(left.max(), right.max())
    return float((side - values[k]) / side) if side > 0 else 0.0


Template = tuple[np.ndarray, np.ndarray]  # (wavelength, median normalised flux) of a population
#: (wavelength, +1 spike / -1 trough, height in sigma, local contrast (`_local_contrast`))
Hit = tuple[float, int, float, float]


_BASE_OFFSETS = np.array([-6, -5, -4, -3, 3, 4, 5, 6])


def outlier_hits(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> list[Hit]:
    """Every sharp spike or trough of one spectrum (see `detect_outlier`), before any template."""
    c = _sub(cfg, "outlier")
    good = usable(flux, ivar)
    if good.sum() < 3 * c["ref_pix"]:
        return []
    idx = np.flatnonzero(good)
    lam = np.asarray(wavelength, dtype=np.float64)[idx]
    f = np.asarray(flux, dtype=np.float64)[idx]
    sigma = 1.0 / np.sqrt(np.asarray(ivar, dtype=np.float64)[idx])
    resid = f - ndimage.median_filter(f, size=c["ref_pix"], mode="nearest")
    mad = ndimage.median_filter(np.abs(resid), size=c["scatter_pix"], mode="nearest")
    noise = np.maximum(sigma, 1.4826 * mad)
    floor = 0.05 * float(np.median(np.abs(f)))
    candidates = np.abs(resid) >= c["n_sigma"] * noise
    candidates &= _away_from_edges(lam, c["edge_aa"], c["gap_aa"])
    candidates &= ~_near(lam, c["sky_lines_aa"], c["sky_halfwidth_aa"])
    n = len(f)
    peaks = []
    for sl in _runs(candidates):
        up = resid[sl].sum() > 0
        p = sl.start + int(np.argmax(f[sl]) if up else np.argmin(f[sl]))
        if 7 <= p <= n - 8:
            peaks.append((p, up))
    if not peaks:
        return []
    # The continuum beside each peak: median of 4 pixels each side, 2 pixels away (one call).
    at = np.array([p for p, _ in peaks])
    bases = np.median(f[at[:, None] + _BASE_OFFSETS], axis=1)
    hits: list[Hit] = []
    for (p, up), base in zip(peaks, bases.tolist(), strict=True):
        height = f[p] - base
        if base <= floor or abs(height) < c["n_sigma"] * noise[p]:
            continue  # no positive continuum to be an outlier of (see detect_negative)
        if up and height < c["spike_frac"] * base:
            continue
        if not up and f[p] > (1.0 - c["trough_frac"]) * base:
            continue
        d = (f[p - 5 : p + 6] - base) / height
        if _box_width(d, 5, c):
            sign = 1 if up else -1
            z = float(abs(height) / noise[p])
            hits.append((float(lam[p]), sign, z, _local_contrast(f, p, sign)))
    return hits


def shared_by_template(hit: Hit, template: Template, cfg: Mapping[str, Any] | None = None) -> bool:
    """True when the population template has the same feature there (a line, not an outlier).

    The template's local contrast at the hit (`_local_contrast`, same sign, within one pixel
    for radial-velocity smearing) must reach ``template_trough_contrast`` for a trough,
    ``template_spike_contrast`` for a spike. A line every star has, even a saturated one as
    sharp as an outlier, is then vetoed; a spike or trough beside a line is not (the template
    rises or falls there monotonically); one on top of a line is lost.
    """
    c = _sub(cfg, "outlier")
    wave, flux = template
    i = int(np.argmin(np.abs(wave - hit[0])))
    if i == 0 or i == wave.size - 1 or abs(wave[i] - hit[0]) > wave[i] - wave[i - 1]:
        return False  # outside the template's range
    contrast = _local_contrast(flux, i, hit[1])
    key = "template_spike_contrast" if hit[1] > 0 else "template_trough_contrast"
    return contrast >= c[key]


def _outlier_result(hits: Sequence[Hit]) -> Detection:
    if not hits:
        return False, None, 0.0
    where = [h[0] for h in hits]
    return True, (min(where) - 2.0, max(where) + 2.0), max(h[2] for h in hits)


def detect_outlier(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    cfg: Mapping[str, Any] | None = None,
    template: Template | None = None,
) -> Detection:
    """Sharp spikes or troughs; score = the largest one's height in units of the local noise.

    Candidates lie ``n_sigma`` times the local noise (the larger of the pipeline's sigma and the
    local robust scatter) off a running median. Each is measured against its flanks (median of
    the pixels 3-6 away): a spike must rise ``spike_frac`` of that level above it, a trough fall
    below ``1 - trough_frac`` of it, and either must be sharp-edged, at most ``max_width_pix``
    wide at ``box_in`` of its height and back to within ``box_out`` of the flank level one pixel
    further (see `_box_width`): narrower than the resolution, which absorption lines, the peaks
    between blended lines and band heads are not. Night-sky lines (residuals of either sign) and
    ``edge_aa`` of data next to either end or a gap wider than ``gap_aa`` are ignored. With a
    population ``template`` (`population_template`), features the template shares are ignored
    too: saturated lines can be as sharp as an outlier, but every star has them.
    """
    hits = outlier_hits(wavelength, flux, ivar, cfg)
    if template is not None:
        hits = [h for h in hits if not shared_by_template(h, template, cfg)]
    return _outlier_result(hits)


def format_hits(hits: Sequence[Hit]) -> str:
    """Hits as text for a table cell: ``wavelength:sign:sigma:contrast`` joined by ``;``."""
    return ";".join(f"{w:.2f}:{s:+d}:{z:.1f}:{r:.4f}" for w, s, z, r in hits)


def parse_hits(text: object) -> list[Hit]:
    """Inverse of `format_hits` (empty or NaN cells give no hits)."""
    if not isinstance(text, str) or not text:
        return []
    out = []
    for item in text.split(";"):
        w, s, z, r = item.split(":")
        out.append((float(w), int(s), float(z), float(r)))
    return out


# --------------------------------------------------------------------------- oscillations
def detect_oscillation(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> Detection:
    """A periodic modulation of the continuum; score = best windowed periodogram power.

    The usable flux is put on a uniform linear-wavelength grid (``sample_aa``), median-smoothed
    over ``smooth_aa`` (noise and narrow lines), logged, cut into sliding windows of
    ``window_aa`` (none across a gap wider than ``gap_aa``), each detrended by a quadratic and
    clipped at ``clip`` robust sigma (what is left of strong lines), and searched (FFT
    periodogram) for one sinusoid with a period of ``period_min_aa``-``period_max_aa``. Flagged
    when, in some window, that sinusoid explains at least ``min_power`` of the variance with a
    fractional amplitude of at least ``min_amplitude``. Lines and bands are not periodic: each
    spreads over many frequencies and explains little of the variance at any one of them.
    """
    c = _sub(cfg, "oscillation")
    good = usable(flux, ivar)
    if good.sum() < 50:
        return False, None, 0.0
    lam = np.asarray(wavelength, dtype=np.float64)[good]
    f = np.asarray(flux, dtype=np.float64)[good]
    step = float(c["sample_aa"])
    grid = np.arange(lam[0], lam[-1], step)
    smooth = ndimage.median_filter(
        np.interp(grid, lam, f), size=max(1, round(c["smooth_aa"] / step)), mode="nearest"
    )
    j = np.clip(np.searchsorted(lam, grid), 1, lam.size - 1)
    gap = np.minimum(grid - lam[j - 1], lam[j] - grid)  # distance to the nearest data
    bright = (smooth > c["min_level"] * np.median(np.abs(f))) & (gap <= 0.5 * c["gap_aa"])
    y = np.log(np.where(bright, smooth, 1.0))
    n_win = round(c["window_aa"] / step)
    if grid.size < n_win:
        return False, None, 0.0
    hop = max(1, round(c["step_aa"] / step))
    windows = np.lib.stride_tricks.sliding_window_view(y, n_win)[::hop]
    whole = np.lib.stride_tricks.sliding_window_view(bright, n_win)[::hop].all(axis=1)
    starts = grid[::hop][: len(windows)][whole]
    windows = windows[whole]
    if len(windows) == 0:
        return False, None, 0.0
    q, _ = np.linalg.qr(np.polynomial.legendre.legvander(np.linspace(-1.0, 1.0, n_win), 2))
    resid = windows - (windows @ q) @ q.T  # quadratic detrend of every window in one projection
    scale = 1.4826 * np.median(np.abs(resid), axis=1, keepdims=True)
    resid = np.clip(resid, -c["clip"] * scale, c["clip"] * scale)  # deep lines must not dominate
    n_fft = 4 * int(2 ** np.ceil(np.log2(n_win)))
    periodogram = np.abs(np.fft.rfft(resid, n=n_fft, axis=1)) ** 2
    freq = np.fft.rfftfreq(n_fft, d=step)
    band = (freq >= 1.0 / c["period_max_aa"]) & (freq <= 1.0 / c["period_min_aa"])
    total = np.maximum(np.sum(resid**2, axis=1), 1e-300)
    power = 2.0 * periodogram[:, band] / (n_win * total[:, None])  # variance fraction explained
    amplitude = 2.0 * np.sqrt(periodogram[:, band]) / n_win
    k = np.argmax(power, axis=1)
    rows = np.arange(len(k))
    hit = (power[rows, k] >= c["min_power"]) & (amplitude[rows, k] >= c["min_amplitude"])
    score = float(power[rows, k].max())
    if not hit.any():
        return False, None, score
    return True, (float(starts[hit].min()), float(starts[hit].max() + n_win * step)), score


DETECTORS = {
    "oscillation": detect_oscillation,
    "missing": detect_missing,
    "outlier": detect_outlier,
    "negative": detect_negative,
}

#: Human-readable reasons, as they appear in the anomalies table.
REASONS = {
    "oscillation": "oscillation",
    "missing": "missing values",
    "outlier": "outliers",
    "negative": "negative values",
}


def detect_all(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    cfg: Mapping[str, Any] | None = None,
    template: Template | None = None,
) -> dict[str, Any]:
    """Run the four detectors on one raw spectrum; one flat row (flags, regions, scores, reasons).

    Pass the inverse variance with and-masked pixels already set to zero. The row also keeps
    the outlier hits before the template veto (``outlier_hits``), for `apply_template`.
    """
    c = merge_config(cfg)
    row: dict[str, Any] = {}
    for name in ANOMALY_TYPES:
        if name == "outlier":
            hits = outlier_hits(wavelength, flux, ivar, c[name])
            row["outlier_hits"] = format_hits(hits)
            if template is not None:
                hits = [h for h in hits if not shared_by_template(h, template, c[name])]
            flag, region, score = _outlier_result(hits)
        else:
            flag, region, score = DETECTORS[name](wavelength, flux, ivar, c[name])
        row[name] = bool(flag)
        row[f"{name}_lo"] = region[0] if region else np.nan
        row[f"{name}_hi"] = region[1] if region else np.nan
        row[f"{name}_score"] = float(score)
    row["reasons"] = _reasons(row)
    return row


def _reasons(row: Mapping[str, Any]) -> str:
    return "; ".join(REASONS[name] for name in ANOMALY_TYPES if row[name])


def population_template(
    flux: np.ndarray, ivar: np.ndarray, wavelength: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Median continuum-normalised spectrum of a population (usable pixels only).

    ``flux`` and ``ivar`` are normalised spectra on the common grid (`spt.prep.spectra`); a few
    thousand rows suffice. Anomalous spectra are a small minority and do not move the median.
    """
    if len(flux) == 0:
        raise ValueError("a population template needs at least one spectrum")
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(ivar > 0, flux, np.nan), axis=0)
    return np.asarray(wavelength, dtype=np.float64), np.where(np.isfinite(median), median, 1.0)


def apply_template(
    flags: pd.DataFrame, template: Template, cfg: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Re-decide the outlier flags of `detect_all` rows with a population template.

    Uses the ``outlier_hits`` column, so the spectra need not be read again. Returns a copy.
    """
    c = merge_config(cfg)["outlier"]
    out = flags.copy()
    if "outlier_hits" not in out:
        raise KeyError("flags lack the outlier_hits column written by detect_all")
    results = [
        _outlier_result([h for h in parse_hits(text) if not shared_by_template(h, template, c)])
        for text in out["outlier_hits"]
    ]
    out["outlier"] = [r[0] for r in results]
    out["outlier_lo"] = [r[1][0] if r[1] else np.nan for r in results]
    out["outlier_hi"] = [r[1][1] if r[1] else np.nan for r in results]
    out["outlier_score"] = [r[2] for r in results]
    flags_only = out[list(ANOMALY_TYPES)].fillna(False).astype(bool)
    out["reasons"] = [
        "; ".join(REASONS[t] for t, f in zip(ANOMALY_TYPES, row, strict=True) if f)
        for row in flags_only.itertuples(index=False)
    ]
    return out


SpectrumLike = Any  # a LamostSpectrum or a (wavelength, flux, ivar) triple


def flag_spectra(
    obsids: Iterable[int],
    spectra: Iterable[SpectrumLike],
    cfg: Mapping[str, Any] | None = None,
    template: Template | None = None,
) -> pd.DataFrame:
    """Flag many raw spectra: obsid, one boolean column per type, regions, scores and reasons.

    ``spectra`` holds `LamostSpectrum` objects (and-masked pixels are treated as unusable) or
    ``(wavelength, flux, ivar)`` triples.
    """
    merge_config(cfg)  # fail early on a bad configuration
    rows = []
    for obsid, spec in zip(obsids, spectra, strict=True):
        if isinstance(spec, tuple):
            wave, flux, ivar = spec
        else:
            wave, flux = spec.wavelength, spec.flux
            ivar = np.where(spec.andmask == 0, spec.ivar, 0.0)
        rows.append({"obsid": int(obsid), **detect_all(wave, flux, ivar, cfg, template)})
    return pd.DataFrame(rows, columns=["obsid", *_row_columns()])


def _row_columns() -> list[str]:
    cols = []
    for name in ANOMALY_TYPES:
        cols += [name, f"{name}_lo", f"{name}_hi", f"{name}_score"]
    return [*cols, "outlier_hits", "reasons"]


def detection_scores(flags: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Precision and recall of each detector against a truth table (obsid, anomaly).

    ``truth.anomaly`` is the injected type or empty; spectra missing from ``flags`` (e.g.
    unreadable) count as not flagged. One row per type plus ``any`` (flagged for any reason vs
    anomalous of any type).
    """
    t = truth[["obsid", "anomaly"]].copy()
    t["anomaly"] = t["anomaly"].fillna("").astype(str).str.strip()
    unknown = set(t["anomaly"]) - {"", *ANOMALY_TYPES}
    if unknown:
        raise ValueError(f"unknown anomaly type(s) in truth: {sorted(unknown)}")
    merged = t.merge(flags[["obsid", *ANOMALY_TYPES]], on="obsid", how="left")
    merged[list(ANOMALY_TYPES)] = merged[list(ANOMALY_TYPES)].fillna(False).astype(bool)
    rows = []
    for name in (*ANOMALY_TYPES, "any"):
        if name == "any":
            is_true = merged["anomaly"] != ""
            flagged = merged[list(ANOMALY_TYPES)].any(axis=1)
        else:
            is_true = merged["anomaly"] == name
            flagged = merged[name]
        tp = int((is_true & flagged).sum())
        n_true, n_flag = int(is_true.sum()), int(flagged.sum())
        rows.append({
            "type": name,
            "n_true": n_true,
            "n_flagged": n_flag,
            "TP": tp,
            "FP": n_flag - tp,
            "FN": n_true - tp,
            "precision": tp / n_flag if n_flag else np.nan,
            "recall": tp / n_true if n_true else np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)
