"""Spectral preprocessing: masking, resampling onto a common log-wavelength grid, normalisation.

The choices (the paper states none of them):

* Grid: 3850-8900 A in steps of 1e-4 dex, LAMOST's own sampling, so resampling neither loses
  resolution nor invents it. Every real DR7-DR9 spectrum we hold covers it (one starts at 3837 A,
  one ends at 8915 A), the far blue below 3850 A has almost no signal in cool giants, and
  LAMOST's red end beyond ~9000 A is sky-dominated and often rolls off below zero.
* No rest-frame shift by default: most Kepler-field giants have |RV| below ~100 km/s, under
  1.5 pixels (69 km/s each) and below the resolution element (~170 km/s); LAMOST's Z fails
  (-9999, wrong template) for some spectra, and a wrong shift hurts more than a small right one
  helps. ``rest_frame: true`` applies the header's Z when it is plausible (|Z| <= max_abs_z).
* Resampling: linear interpolation in log wavelength (the grids have the same pixel width, so
  this keeps line positions and depths, see the tests); the variance is interpolated alike, and
  a grid pixel is masked as soon as a masked native pixel has a non-zero weight in it, so a bad
  pixel never leaks into its neighbours.
* Continuum: a running median of the usable pixels (``continuum_window_pix``, ~150-300 A) then
  Gaussian-smoothed (``continuum_smooth_pix``). A median ignores spikes, masked pixels and
  narrow lines, and, unlike an upper envelope or a high percentile, is not biased upwards by
  noise, so the same star normalises the same way at S/N 10 and 300.
* Masked grid pixels carry ``fill_value`` (1.0, the continuum) and zero inverse variance;
  `spt.prep.features` later replaces them by the training spectra's median at that pixel.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import logging
import math
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from spt.io.files import atomic_path
from spt.io.lamost import LamostFormatError, LamostSpectrum, read_spectrum
from spt.prep.anomalies import (
    ANOMALY_TYPES,
    Template,
    apply_template,
    detect_all,
    population_template,
)

PathLike = str | os.PathLike[str]
log = logging.getLogger(__name__)

#: Default preprocessing settings; `config.yaml` may override any key.
DEFAULTS: dict[str, Any] = {
    "wave_min": 3850.0,
    "wave_max": 8900.0,
    "log_step": 1e-4,
    "rest_frame": False,
    "max_abs_z": 0.01,  # |Z| above this (3000 km/s) is a failed redshift: no shift
    "continuum_window_pix": 151,
    "continuum_smooth_pix": 25.0,
    "fill_value": 1.0,
    "min_pixels": 1000,  # a LAMOST LRS spectrum has ~3,900; far fewer is a broken file
    "max_pixels": 6000,
    "max_nonfinite": 0,  # any NaN or inf in flux or inverse variance marks a corrupt file
    "min_coverage": 0.5,  # usable fraction of the grid below which a spectrum is rejected
}


class SpectraMissingError(RuntimeError):
    """Too many spectra could not be read; the message names them and what to do."""


class SpectrumProblem(ValueError):
    """A spectrum that was read but cannot be used; the message is the reason recorded for it."""


def merge_config(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by ``cfg``; unknown keys are an error (typos must not pass silently)."""
    out = copy.deepcopy(DEFAULTS)
    unknown = set(cfg or {}) - set(out)
    if unknown:
        raise KeyError(f"unknown preprocessing setting(s) {sorted(unknown)}")
    out.update(cfg or {})
    return out


def common_grid(
    wave_min: float = DEFAULTS["wave_min"],
    wave_max: float = DEFAULTS["wave_max"],
    log_step: float = DEFAULTS["log_step"],
) -> np.ndarray:
    """Log-linear wavelength grid (Angstrom) from ``wave_min`` up to at most ``wave_max``."""
    if not 0 < wave_min < wave_max:
        raise ValueError(f"need 0 < wave_min < wave_max, got {wave_min}, {wave_max}")
    if log_step <= 0:
        raise ValueError(f"log_step must be positive, got {log_step}")
    n = math.floor(np.log10(wave_max / wave_min) / log_step + 1e-9) + 1
    return 10.0 ** (np.log10(wave_min) + log_step * np.arange(n, dtype=np.float64))


def usable_pixels(spec: LamostSpectrum) -> np.ndarray:
    """Pixels with data: LAMOST's good mask, minus the exact zeros it pads the ends with."""
    return spec.good & np.isfinite(spec.ivar) & (spec.flux != 0)


def check_spectrum(spec: LamostSpectrum, cfg: Mapping[str, Any]) -> None:
    """Raise SpectrumProblem naming why a read spectrum is unusable (before any processing)."""
    n = spec.n_pixels
    if not cfg["min_pixels"] <= n <= cfg["max_pixels"]:
        raise SpectrumProblem(
            f"wrong length: {n} pixels (expected {cfg['min_pixels']}-{cfg['max_pixels']})"
        )
    finite = np.isfinite(spec.flux)
    if not finite.any():
        raise SpectrumProblem("all-NaN: no finite flux")
    n_bad = int((~finite).sum() + (~np.isfinite(spec.ivar)).sum())
    if n_bad > cfg["max_nonfinite"]:
        raise SpectrumProblem(f"non-finite: {n_bad} NaN or infinite flux/ivar values")
    wave = spec.wavelength
    if not (np.all(np.isfinite(wave)) and np.all(np.diff(wave) > 0)):
        raise SpectrumProblem("bad wavelength: not finite and strictly increasing")
    good = usable_pixels(spec)
    if not good.any():
        raise SpectrumProblem("zero variance: no pixel has a positive inverse variance")
    if np.ptp(spec.flux[good]) == 0:
        raise SpectrumProblem("zero variance: flux is constant")


def _rest_frame_shift(spec: LamostSpectrum, cfg: Mapping[str, Any]) -> float:
    """The redshift to remove (0 when disabled or when the header's Z is implausible)."""
    if not cfg["rest_frame"]:
        return 0.0
    try:
        z = float(spec.header.get("Z", np.nan))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return z if np.isfinite(z) and abs(z) <= cfg["max_abs_z"] else 0.0


def resample(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, good: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation in log wavelength; returns flux, ivar and the usable mask on ``grid``.

    A grid pixel is usable only if every native pixel with a non-zero weight in it is usable, so
    masked pixels never leak. The variance is interpolated too: grid and native pixels have the
    same width, and the lower variance of an average of two pixels would be bought with a
    correlation between neighbouring grid pixels, so the per-pixel noise is kept as it was.
    """
    x = np.log10(wavelength)
    g = np.log10(grid)
    j = np.clip(np.searchsorted(x, g, side="right") - 1, 0, len(x) - 2)
    w = (g - x[j]) / (x[j + 1] - x[j])
    inside = (g >= x[0]) & (g <= x[-1])
    w = np.clip(w, 0.0, 1.0)
    eps = 1e-9
    ok = inside & ((w > 1 - eps) | good[j]) & ((w < eps) | good[j + 1])
    f = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(good, 1.0 / np.asarray(ivar, dtype=np.float64), 0.0)
        out_flux = np.where(ok, (1 - w) * np.where(good[j], f[j], 0.0), 0.0)
        out_flux += np.where(ok, w * np.where(good[j + 1], f[j + 1], 0.0), 0.0)
        out_var = (1 - w) * var[j] + w * var[j + 1]
        out_ivar = np.where(ok & (out_var > 0), 1.0 / out_var, 0.0)
    ok &= out_ivar > 0
    return out_flux, out_ivar, ok


def continuum(flux: np.ndarray, good: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """Smooth pseudo-continuum: running median of the usable pixels, then Gaussian-smoothed."""
    idx = np.flatnonzero(good)
    window = min(int(cfg["continuum_window_pix"]), idx.size) | 1
    med = ndimage.median_filter(flux[idx], size=window, mode="nearest")
    full = np.interp(np.arange(flux.size), idx, med)
    return ndimage.gaussian_filter1d(full, cfg["continuum_smooth_pix"], mode="nearest")


def preprocess_one(
    spec: LamostSpectrum, grid: np.ndarray, cfg: Mapping[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Mask, (optionally) shift to rest frame, resample onto ``grid`` and continuum-normalise.

    Returns float32 normalised flux and inverse variance on the grid (masked and uncovered
    pixels: ``fill_value`` and ivar 0) and an info dict; raises SpectrumProblem for unusable input.
    """
    c = merge_config(cfg)
    check_spectrum(spec, c)
    good = usable_pixels(spec)
    z = _rest_frame_shift(spec, c)
    wave = spec.wavelength / (1.0 + z)
    flux, ivar, ok = resample(wave, spec.flux, spec.ivar, good, grid)
    coverage = float(ok.mean())
    if coverage < c["min_coverage"]:
        raise SpectrumProblem(
            f"insufficient coverage: {coverage:.2f} of the grid usable (min {c['min_coverage']})"
        )
    cont = continuum(flux, ok, c)
    floor = 1e-3 * float(np.median(np.abs(cont[ok])))
    ok &= cont > floor
    if not ok.any():
        raise SpectrumProblem("zero variance: no positive continuum")
    safe = np.where(ok, cont, 1.0)
    norm = np.where(ok, flux / safe, c["fill_value"]).astype(np.float32)
    norm_ivar = np.where(ok, ivar * safe**2, 0.0).astype(np.float32)
    snr = spec.flux[good] * np.sqrt(spec.ivar[good])
    info = {
        "n_pixels": spec.n_pixels,
        "wave_lo": float(spec.wavelength[good][0]),
        "wave_hi": float(spec.wavelength[good][-1]),
        "n_masked": int((~good).sum()),
        "coverage": float(ok.mean()),
        "snr_median": float(np.median(snr)),
        "z_applied": z,
    }
    return norm, norm_ivar, info


# --------------------------------------------------------------------------- npz writing
class RawArray:
    """A C-ordered array held in a raw file on disk, written row block by row block."""

    def __init__(self, path: Path, dtype: np.dtype[Any] | type, shape: tuple[int, ...]) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.shape = shape
        self._fh = open(self.path, "wb")  # closed in close()

    def append(self, block: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())

    def close(self, check: bool = True) -> None:
        """Close the file; with ``check``, verify it holds the whole array."""
        self._fh.close()
        if check:
            self.check()

    def check(self) -> None:
        """Raise unless the file holds exactly ``shape`` of ``dtype``."""
        expected = self.dtype.itemsize * math.prod(self.shape)
        if self.path.stat().st_size != expected:
            raise RuntimeError(
                f"{self.path}: {self.path.stat().st_size} bytes, expected {expected}"
            )


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_npz(path: PathLike, arrays: Mapping[str, np.ndarray | RawArray]) -> None:
    """Write an uncompressed ``.npz`` atomically and byte-reproducibly (fixed zip timestamps).

    ``RawArray`` members are streamed from disk in blocks, so memory does not grow with them.
    ``np.savez`` stamps each member with the current time, so two runs would differ.
    """
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            if isinstance(arr, RawArray):
                header = {"descr": np.lib.format.dtype_to_descr(arr.dtype),
                          "fortran_order": False, "shape": arr.shape}  # fmt: skip
                size = arr.dtype.itemsize * math.prod(arr.shape)
                with zf.open(info, "w", force_zip64=size > 2**31 - 2**20) as out:
                    np.lib.format.write_array_header_1_0(out, header)
                    with open(arr.path, "rb") as src:
                        while block := src.read(16 * 2**20):
                            out.write(block)
            else:
                a = np.asarray(arr)
                with zf.open(info, "w", force_zip64=a.nbytes > 2**31 - 2**20) as out:
                    np.lib.format.write_array(out, a, allow_pickle=False)


# --------------------------------------------------------------------------- many files
_WORKER: dict[str, Any] = {}


def _init_worker(
    grid: np.ndarray, cfg: dict[str, Any], anomaly_cfg: Mapping[str, Any] | None, threads: bool
) -> None:
    if threads:  # parallelism comes from the processes; BLAS threads would only fight them
        threadpool_limits(1)
    _WORKER.update(grid=grid, cfg=cfg, anomaly_cfg=anomaly_cfg)


def _process(task: tuple[str, int]) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    """Read, flag and preprocess one file in a worker; problems become a reason, not an error."""
    path, obsid = task
    grid, cfg, anomaly_cfg = _WORKER["grid"], _WORKER["cfg"], _WORKER["anomaly_cfg"]
    row: dict[str, Any] = {"obsid": obsid, "ok": False, "problem": ""}
    if not path:
        row["problem"] = "no spectrum file (not in the spectra manifest, or its download failed)"
        return None, None, row
    try:
        spec = read_spectrum(path)
    except (LamostFormatError, OSError) as exc:
        row["problem"] = f"unreadable: {exc}"
        return None, None, row
    if anomaly_cfg is not None:
        ivar_raw = np.where(spec.andmask == 0, spec.ivar, 0.0)
        with np.errstate(all="ignore"):
            row.update(detect_all(spec.wavelength, spec.flux, ivar_raw, anomaly_cfg))
    try:
        flux, ivar, info = preprocess_one(spec, grid, cfg)
    except SpectrumProblem as exc:
        row["problem"] = str(exc)
        return None, None, row
    row.update(info, ok=True)
    return flux, ivar, row


@contextlib.contextmanager
def _mapper(workers: int, initargs: tuple[Any, ...]) -> Iterator[Any]:
    if workers <= 1:
        _init_worker(*initargs, False)
        yield map
    else:
        with cf.ProcessPoolExecutor(
            workers, initializer=_init_worker, initargs=(*initargs, True)
        ) as pool:
            yield pool.map


class _MemoryArray:
    """The in-memory counterpart of `RawArray`: row blocks gathered, stacked at the end."""

    def __init__(self, dtype: type, shape: tuple[int, ...]) -> None:
        self.dtype, self.shape, self.blocks = dtype, shape, []

    def append(self, block: np.ndarray) -> None:
        self.blocks.append(np.asarray(block, dtype=self.dtype))

    def array(self) -> np.ndarray:
        return np.vstack(self.blocks) if self.blocks else np.empty(self.shape, self.dtype)


def _stream(
    paths: Sequence[PathLike],
    ids: Sequence[int],
    grid: np.ndarray,
    c: dict[str, Any],
    workers: int,
    chunk_size: int,
    anomaly_cfg: Mapping[str, Any] | None,
    progress: bool,
    sinks: tuple[Any, Any],
    template_rows: int,
) -> tuple[list[pd.DataFrame], list[np.ndarray], list[np.ndarray]]:
    """Preprocess ``paths`` chunk by chunk into the (flux, ivar) sinks; the report rows and the
    first ``template_rows`` usable spectra (for the outlier template) come back."""
    if len(paths) != len(ids):
        raise ValueError(f"{len(paths)} paths but {len(ids)} ids")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if len(paths) == 0:
        raise ValueError("no spectra to preprocess (empty selection)")
    p = grid.size
    frames: list[pd.DataFrame] = []
    sample_flux: list[np.ndarray] = []
    sample_ivar: list[np.ndarray] = []
    nan_row = np.full(p, np.nan, dtype=np.float32)
    zero_row = np.zeros(p, dtype=np.float32)
    tasks = [(str(path), int(i)) for path, i in zip(paths, ids, strict=True)]
    flux_sink, ivar_sink = sinks
    with (
        _mapper(workers, (grid, c, anomaly_cfg)) as mapper,
        tqdm(total=len(tasks), desc="preprocess", unit="spec", disable=not progress,
             file=sys.stderr) as bar,
    ):  # fmt: skip

        def collect(results: Iterator[Any], size: int) -> None:
            fluxes, ivars, rows = [], [], []
            for flux, ivar, row in results:
                fluxes.append(nan_row if flux is None else flux)
                ivars.append(zero_row if ivar is None else ivar)
                rows.append(row)
                if flux is not None and len(sample_flux) < template_rows:
                    sample_flux.append(flux)
                    sample_ivar.append(ivar)
            flux_sink.append(np.vstack(fluxes))
            ivar_sink.append(np.vstack(ivars))
            frames.append(pd.DataFrame(rows))
            bar.update(size)

        # Two chunks in flight: the pool works on the next while this one is written.
        pending: tuple[Iterator[Any], int] | None = None
        for start in range(0, len(tasks), chunk_size):
            chunk = tasks[start : start + chunk_size]
            kwargs = {"chunksize": max(1, len(chunk) // (4 * workers))} if workers > 1 else {}
            submitted = mapper(_process, chunk, **kwargs)
            if pending is not None:
                collect(*pending)
            pending = (submitted, len(chunk))
        if pending is not None:
            collect(*pending)
    return frames, sample_flux, sample_ivar


def _finish_report(
    frames: list[pd.DataFrame],
    anomaly_cfg: Mapping[str, Any] | None,
    grid: np.ndarray,
    template: Template | None,
    sample: tuple[list[np.ndarray], list[np.ndarray]],
    min_template_rows: int,
) -> pd.DataFrame:
    """One report row per input; outliers re-decided against the population template."""
    report = pd.concat(frames, ignore_index=True)
    if anomaly_cfg is None:
        return report
    # unreadable files were not examined: not flagged (their problem says why)
    for col, value in {
        **dict.fromkeys(ANOMALY_TYPES, False),
        "outlier_hits": "",
        "reasons": "",
    }.items():
        column = report[col] if col in report else pd.Series(value, index=report.index)
        report[col] = column.astype(object).where(column.notna(), value)
    report[list(ANOMALY_TYPES)] = report[list(ANOMALY_TYPES)].astype(bool)
    sample_flux, sample_ivar = sample
    if template is None and len(sample_flux) >= min_template_rows:
        template = population_template(np.vstack(sample_flux), np.vstack(sample_ivar), grid)
    if template is not None:
        report = apply_template(report, template, anomaly_cfg)
    return report


def preprocess_files(
    paths: Sequence[PathLike],
    ids: Sequence[int],
    grid: np.ndarray,
    cfg: Mapping[str, Any] | None = None,
    workers: int = 1,
    chunk_size: int = 500,
    out_path: PathLike = "spectra.npz",
    anomaly_cfg: Mapping[str, Any] | None = None,
    progress: bool = True,
    template_rows: int = 1000,
    template: Template | None = None,
    min_template_rows: int = 50,
) -> pd.DataFrame:
    """Preprocess many files in chunks with a process pool and stream them into ``out_path``.

    Writes ``flux`` and ``ivar`` (float32, one row per input in input order; a row that could
    not be used is NaN with ivar 0), ``wavelength`` (float64) and ``obsid`` (int64). Peak memory
    is set by ``chunk_size`` (two chunks are in flight), not by the number of spectra. Returns
    one row per input: obsid, ``ok``, ``problem`` (the reason when not ok; an empty path is "no
    spectrum file"), the info of `preprocess_one` and, when ``anomaly_cfg`` is given (``{}``
    for the defaults), the anomaly flags of `spt.prep.anomalies.detect_all` run on the raw
    spectrum, with outliers re-decided (`spt.prep.anomalies.apply_template`) against
    ``template`` or, when none is given, the median normalised spectrum of the first
    ``template_rows`` usable spectra if there are at least ``min_template_rows`` of them. For a
    handful of spectra (e.g. cluster members) pass the training run's template
    (`template_from_npz`): a median of a few spectra is no population. `preprocess_arrays`
    does the same in memory.
    """
    c = merge_config(cfg)
    grid = np.asarray(grid, dtype=np.float64)
    n, p = len(paths), grid.size
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in out_path.parent.glob(f".{out_path.name}.*"):  # left by a killed job
        log.info("removing the scratch folder %s of an interrupted run", stale)
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=f".{out_path.name}.") as tmp:
        flux_raw = RawArray(Path(tmp) / "flux.raw", np.float32, (n, p))
        ivar_raw = RawArray(Path(tmp) / "ivar.raw", np.float32, (n, p))
        try:
            frames, *sample = _stream(
                paths, ids, grid, c, workers, chunk_size, anomaly_cfg, progress,
                (flux_raw, ivar_raw), template_rows,
            )  # fmt: skip
        finally:
            flux_raw.close(check=False)
            ivar_raw.close(check=False)
        flux_raw.check()
        ivar_raw.check()
        write_npz(
            out_path,
            {
                "flux": flux_raw,
                "ivar": ivar_raw,
                "wavelength": grid,
                "obsid": np.asarray(ids, dtype=np.int64),
            },
        )
    return _finish_report(frames, anomaly_cfg, grid, template, tuple(sample), min_template_rows)


def preprocess_arrays(
    paths: Sequence[PathLike],
    ids: Sequence[int],
    grid: np.ndarray,
    cfg: Mapping[str, Any] | None = None,
    workers: int = 1,
    chunk_size: int = 500,
    anomaly_cfg: Mapping[str, Any] | None = None,
    progress: bool = False,
    template: Template | None = None,
    template_rows: int = 1000,
    min_template_rows: int = 50,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """`preprocess_files` in memory: the report and the arrays it would have written."""
    c = merge_config(cfg)
    grid = np.asarray(grid, dtype=np.float64)
    shape = (0, grid.size)
    flux, ivar = _MemoryArray(np.float32, shape), _MemoryArray(np.float32, shape)
    frames, *sample = _stream(
        paths, ids, grid, c, workers, chunk_size, anomaly_cfg, progress, (flux, ivar),
        template_rows,
    )  # fmt: skip
    report = _finish_report(frames, anomaly_cfg, grid, template, tuple(sample), min_template_rows)
    arrays = {
        "flux": flux.array(),
        "ivar": ivar.array(),
        "wavelength": grid,
        "obsid": np.asarray(ids, dtype=np.int64),
    }
    return report, arrays


UNREADABLE_PREFIXES = ("no spectrum file", "unreadable")


def check_readable(report: pd.DataFrame, max_fraction: float, where: str = "") -> int:
    """Log every spectrum that could not be read and stop when their share is above the limit.

    Missing or unreadable files keep their row and reason in ``report``; past ``max_fraction``
    of all rows something is wrong with the inputs (an empty folder, a failed download), so the
    run stops with their names instead of going on with NaN rows. Returns how many there were.
    """
    problem = report["problem"].fillna("").astype(str)
    bad = report.loc[problem.str.startswith(UNREADABLE_PREFIXES), ["obsid", "problem"]]
    for obsid, reason in bad.head(20).itertuples(index=False):
        log.warning("spectrum %s: %s", obsid, reason)
    if len(bad) > 20:
        log.warning("... and %d more spectra that could not be read", len(bad) - 20)
    share = len(bad) / max(len(report), 1)
    if len(report) == 0 or share > max_fraction:
        examples = "; ".join(f"obsid {o}: {r}" for o, r in bad.head(5).itertuples(index=False))
        raise SpectraMissingError(
            f"{len(bad)} of {len(report)} spectra ({share:.1%}) could not be read, above "
            f"preprocess.max_unreadable_fraction = {max_fraction}{where}. E.g. {examples}. "
            "Check the spectra manifest and the files it names (for LAMOST, "
            "results/data/download_failures.csv; rerun with `snakemake --forcerun fetch_spectra`)."
        )
    return len(bad)


def read_npz_rows(path: PathLike, key: str, n_rows: int) -> np.ndarray:
    """The first ``n_rows`` rows of one array of an uncompressed ``.npz``, without the rest."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_{version[1]}")
        shape, fortran, dtype = read_header(fh)
        if fortran:
            raise ValueError(f"{path}: {key} is Fortran-ordered")
        n = min(n_rows, shape[0])
        row = math.prod(shape[1:])
        data = fh.read(n * row * dtype.itemsize)
    return np.frombuffer(data, dtype=dtype).reshape((n, *shape[1:]))


def template_from_npz(path: PathLike, max_rows: int = 1000) -> Template:
    """The population template (`spt.prep.anomalies.population_template`) of a ``spectra.npz``.

    Reads only the first ``max_rows`` spectra; rows that could not be preprocessed are skipped.
    """
    flux = read_npz_rows(path, "flux", max_rows)
    ivar = read_npz_rows(path, "ivar", max_rows)
    with np.load(path) as data:
        wavelength = data["wavelength"]
    usable = np.isfinite(flux).all(axis=1)
    return population_template(flux[usable], ivar[usable], wavelength)


def load_spectra(path: PathLike) -> dict[str, np.ndarray]:
    """Read a ``spectra.npz`` written by `preprocess_files` into a dict of arrays."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
