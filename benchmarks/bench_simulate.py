"""Benchmark: wall time and peak memory of generating the default mock survey.

Usage: python benchmarks/bench_simulate.py [--workers 2] [--scale 1.0]
Prints the figures; writes the survey into a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import yaml

from spt.sources.simulate import simulate_survey

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the survey size")
    args = parser.parse_args()
    full = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg = {**full["simulate"], "clusters": full["clusters"]}
    for key in ("n_stars", "n_seismic_only", "n_lamost_only", "n_neighbours"):
        cfg[key] = int(cfg[key] * args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        counts = simulate_survey(cfg, full["seed"], tmp, workers=args.workers)
        wall = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"spectra written      : {counts['spectra']}")
    print(f"workers              : {args.workers}")
    print(f"wall time            : {wall:.1f} s ({counts['spectra'] / wall:.1f} spectra/s)")
    print(f"disk                 : {size / 2**20:.0f} MiB")
    print(f"peak RSS main/worker : {peak_self:.0f} / {peak_children:.0f} MiB")


if __name__ == "__main__":
    main()
