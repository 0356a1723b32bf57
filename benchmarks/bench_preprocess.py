"""Benchmark: wall time and peak memory of preprocessing (with the four detectors) vs N.

Goal: preprocessing memory set by the chunk size, not the number of spectra (survey scale).
Run: ``python benchmarks/bench_preprocess.py``.

Usage: python benchmarks/bench_preprocess.py [--sizes 4000 40000] [--workers 2]
       [--chunk-sizes 500 2000] [--distinct 300]
Writes ``--distinct`` synthetic LAMOST DR9-layout files into a temporary folder and hard-links
them under as many obsids as the largest size needs, then preprocesses each size in a fresh
process (so that each peak RSS is its own) and prints the figures. Memory should follow the
chunk size, not N: the flux matrix is streamed to disk, never held whole.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spt.io.lamost import LamostSpectrum, spectrum_path, write_spectrum


def synthetic(seed: int) -> LamostSpectrum:
    """A simple LAMOST-like giant: Planck continuum, a few hundred Gaussian lines, noise."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3880, 3910))
    wave = 10 ** (3.5682 + 1e-4 * np.arange(n))
    teff = rng.uniform(4000, 5200)
    cont = wave**-5 / np.expm1(1.4388e8 / (wave * teff))
    centres = rng.uniform(3700, 9100, 300)
    depth = np.zeros(n)
    for c, d in zip(centres, 0.3 * rng.random(300) ** 2, strict=True):
        near = np.abs(wave - c) < 12
        depth[near] += d * np.exp(-0.5 * ((wave[near] - c) / (c / 4240)) ** 2)
    model = 1000 * cont / np.median(cont) * (1 - np.clip(depth, 0, 0.9))
    snr = 10 ** rng.uniform(1, 2.5)
    sigma = np.sqrt(model * np.median(model)) / snr
    flux = (model + sigma * rng.standard_normal(n)).astype(np.float32)
    ivar = (1 / sigma**2).astype(np.float32)
    mask = np.zeros(n, dtype=np.int32)
    mask[rng.random(n) < 0.005] = 1 << 23
    ivar[mask != 0] = 0
    return LamostSpectrum(seed, wave, flux, ivar, mask, mask.copy(), {"OBSID": seed})


def generate(folder: Path, n_max: int, distinct: int) -> float:
    """Write ``distinct`` files and hard-link them up to ``n_max`` obsids; returns seconds."""
    start = time.perf_counter()
    for i in range(distinct):
        write_spectrum(spectrum_path(folder, i), synthetic(i))
    for i in range(distinct, n_max):
        os.link(spectrum_path(folder, i % distinct), spectrum_path(folder, i))
    return time.perf_counter() - start


def run_one(folder: Path, n: int, workers: int, chunk: int) -> dict[str, float]:
    """Preprocess ``n`` files in this process; the parent reads the printed JSON."""
    from spt.prep.spectra import common_grid, preprocess_files

    ids = list(range(n))
    paths = [spectrum_path(folder, i) for i in ids]
    out = folder.parent / f"spectra_{n}_{chunk}.npz"
    start = time.perf_counter()
    report = preprocess_files(
        paths, ids, common_grid(), None, workers, chunk, out, anomaly_cfg={}, progress=False
    )
    wall = time.perf_counter() - start
    size = out.stat().st_size
    out.unlink()
    return {
        "n": n,
        "chunk": chunk,
        "wall_s": wall,
        "ok": int(report["ok"].sum()),
        "npz_mib": size / 2**20,
        "rss_main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 40000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[500])
    parser.add_argument("--distinct", type=int, default=300)
    parser.add_argument("--_run", nargs=4, help=argparse.SUPPRESS)  # folder n workers chunk
    args = parser.parse_args()
    if args._run:
        folder, n, workers, chunk = args._run
        print(json.dumps(run_one(Path(folder), int(n), int(workers), int(chunk))))
        return
    with tempfile.TemporaryDirectory(prefix="bench_preprocess_") as tmp:
        folder = Path(tmp) / "spectra"
        folder.mkdir()
        gen = generate(folder, max(args.sizes), args.distinct)
        print(f"generated {args.distinct} distinct files, linked to {max(args.sizes)} obsids "
              f"in {gen:.1f} s")  # fmt: skip
        print(f"{'N':>7} {'chunk':>6} {'wall (s)':>9} {'spec/s':>7} {'npz (MiB)':>10} "
              f"{'RSS main':>9} {'RSS worker':>11}  (MiB; workers = {args.workers})")  # fmt: skip
        for n in args.sizes:
            for chunk in args.chunk_sizes:
                cmd = [sys.executable, __file__, "--_run", str(folder), str(n),
                       str(args.workers), str(chunk)]  # fmt: skip
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                rate = r["n"] / r["wall_s"]
                print(
                    f"{r['n']:>7} {r['chunk']:>6} {r['wall_s']:>9.1f} {rate:>7.0f} "
                    f"{r['npz_mib']:>10.0f} {r['rss_main_mib']:>9.0f} {r['rss_worker_mib']:>11.0f}"
                )


if __name__ == "__main__":
    main()
