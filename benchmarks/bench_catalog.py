"""Benchmark: the catalogue's per-shard chain, stage by stage, against the I/O floor.

Goal: the shard chain at >= 100 spectra/s/core with flat memory (docs/scale.md), and where
its time goes when it is not.

Usage: python benchmarks/bench_catalog.py --run RUN_DIR [--n 400] [--sizes 200 2000]
RUN_DIR is a finished default run (``snakemake all``): its model (with trust), PCA, training
spectra (the outlier template) and mock field survey are used. Prints, on this machine:
spectra per second per core of the raw read-and-gunzip of the files (the I/O floor), of each
stage (parse with read_spectrum, i.e. the numpy FITS reader, and with the astropy reader beside
it for the record, not part of the chain; resample and continuum, the four anomaly detectors,
PCA, MC dropout with the configured passes) and of the whole shard chain with 1 and 2 workers;
the peak RSS of a shard job at two shard sizes (each in a fresh process); and the projection to
11.1 million spectra.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
N_SURVEY = 11_100_139  # LAMOST DR10 v2.0 stellar low-resolution spectra
NODES, CORES = 100, 32


def _config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _targets(run: Path, n: int) -> pd.DataFrame:
    from spt.catalog.targets import targets_from_catalog

    field = run / "resources/simulated/field"
    targets = targets_from_catalog(field / "lamost_catalog.csv", None, field / "spectra.csv")
    targets["path"] = [str(run / p) for p in targets["path"]]  # the manifest is run-relative
    reps = -(-n // len(targets))
    many = pd.concat([targets] * reps, ignore_index=True).iloc[:n].copy()
    many["obsid"] = np.arange(len(many)) + 10**9  # distinct obsids over repeated files
    return many.reset_index(drop=True)


def _predict_shard(run: Path, targets: pd.DataFrame, workers: int) -> pd.DataFrame:
    """The catalog_shard job's chain on ``targets``, model loading included (the package's one
    prediction path, spt.catalog.predict, on the run's self-contained model file)."""
    from spt.catalog.predict import Predictor, predict_targets

    cfg = _config()
    model = run / f"results/models/spt_{cfg['train']['loss']}.pt"
    return predict_targets(Predictor.load(model), targets, workers=workers,
                           chunk_size=cfg["preprocess"]["chunk_size"])  # fmt: skip


def _shard_run(run: Path, n: int, workers: int) -> dict[str, float]:
    """The whole shard chain on ``n`` spectra in this process (the parent reads the JSON)."""
    import torch

    torch.set_num_threads(workers)
    targets = _targets(run, n)
    start = time.perf_counter()
    rows = _predict_shard(run, targets, workers)
    wall = time.perf_counter() - start
    return {
        "n": n,
        "workers": workers,
        "wall_s": wall,
        "rows": len(rows),
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_children_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _in_fresh_process(run: Path, n: int, workers: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--run", str(run), "--_shard", str(n), str(workers)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stages(run: Path, n: int) -> dict[str, float]:
    """Seconds per stage for ``n`` spectra on one core, each stage timed on its own."""
    import torch
    from threadpoolctl import threadpool_limits

    from spt.io.lamost import _read_astropy, _read_fast, read_spectrum
    from spt.model.predict import predict_mc
    from spt.model.store import load_model
    from spt.prep.anomalies import detect_all
    from spt.prep.features import load_pca, transform_spectra
    from spt.prep.spectra import common_grid, merge_config, preprocess_one

    cfg = _config()
    paths = _targets(run, n)["path"].tolist()
    out: dict[str, float] = {}
    torch.set_num_threads(1)
    with threadpool_limits(1):
        t = time.perf_counter()
        for p in paths:
            gzip.decompress(Path(p).read_bytes())
        out["read + gunzip (I/O floor)"] = time.perf_counter() - t
        t = time.perf_counter()
        specs = [read_spectrum(p) for p in paths]
        out["parse (read_spectrum)"] = time.perf_counter() - t
        t = time.perf_counter()
        for p in paths:
            _read_astropy(p)
        out["parse (astropy, for record)"] = time.perf_counter() - t
        declined = sum(_read_fast(p) is None for p in dict.fromkeys(paths))
        if declined:
            print(f"note: the fast FITS reader left {declined} file(s) to astropy")
        c = merge_config(cfg["preprocess"]["spectra"])
        grid = common_grid(c["wave_min"], c["wave_max"], c["log_step"])
        t = time.perf_counter()
        results = [preprocess_one(s, grid, c) for s in specs]
        out["resample + continuum"] = time.perf_counter() - t
        t = time.perf_counter()
        with np.errstate(all="ignore"):
            for s in specs:
                detect_all(s.wavelength, s.flux, np.where(s.andmask == 0, s.ivar, 0.0),
                           cfg["anomalies"])  # fmt: skip
        out["anomaly detectors"] = time.perf_counter() - t
        flux = np.vstack([r[0] for r in results])
        ivar = np.vstack([r[1] for r in results])
        bundle = load_pca(run / "results/features/pca.joblib")
        t = time.perf_counter()
        X = transform_spectra(bundle, flux, ivar)
        out["PCA"] = time.perf_counter() - t
        model = load_model(run / f"results/models/spt_{cfg['train']['loss']}.pt", device="cpu")
        t = time.perf_counter()
        predict_mc(model, X, passes=cfg["predict"]["mc_passes"], seed=0)
        out[f"MC dropout (T = {cfg['predict']['mc_passes']})"] = time.perf_counter() - t
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="a finished default run")
    parser.add_argument("--n", type=int, default=400, help="spectra for the stage timings")
    parser.add_argument("--sizes", type=int, nargs=2, default=[200, 2000], help="shard sizes")
    parser.add_argument("--_shard", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._shard:
        print(json.dumps(_shard_run(args.run, *args._shard)))
        return
    stages = _stages(args.run, args.n)
    floor = args.n / stages["read + gunzip (I/O floor)"]
    print(f"stages on one core, {args.n} mock field spectra (spectra per second per core):")
    for name, seconds in stages.items():
        print(f"  {name:<28} {args.n / seconds:>9.0f}")
    print("whole shard chain (preprocess, detectors, PCA, MC dropout, flags; model load included):")
    chain = {}
    for workers in (1, 2):
        r = _in_fresh_process(args.run, args.sizes[0], workers)
        chain[workers] = r["n"] / r["wall_s"] / workers
        ratio = chain[workers] / floor
        print(f"  {workers} worker(s): {r['n'] / r['wall_s']:.1f} spectra/s, "
              f"{chain[workers]:.1f} per core; ratio to the I/O floor {ratio:.3f}")  # fmt: skip
    print("peak RSS of a shard job (1 worker, fresh process each):")
    rss = {}
    for n in args.sizes:
        r = _in_fresh_process(args.run, n, 1)
        rss[n] = r["rss_mib"]
        print(f"  shard of {n:>6} spectra: {r['rss_mib']:.0f} MiB")
    print(
        f"  ratio {args.sizes[1]} / {args.sizes[0]}: {rss[args.sizes[1]] / rss[args.sizes[0]]:.2f}"
    )
    per_core = chain[1]
    core_hours = N_SURVEY / per_core / 3600
    print(f"projection to {N_SURVEY:,} spectra at {per_core:.1f} spectra/s per core: "
          f"{core_hours:,.0f} core-hours; {60 * core_hours / (NODES * CORES):.1f} min wall on "
          f"{NODES} nodes x {CORES} cores")  # fmt: skip


if __name__ == "__main__":
    main()
