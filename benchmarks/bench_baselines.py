"""Fit every baseline on the pipeline's features and spectra; print wall time and test Delta_P.

Run after the features exist, e.g. ``python benchmarks/bench_baselines.py`` in a finished run
directory, or ``--features /tmp/bl/results/features --spectra /tmp/bl/results/data/spectra.npz``.
Settings are each baseline's defaults (``--params`` takes a YAML file shaped like the config's
``baselines:`` section to override them). Numbers from the mock survey are not the paper's.
On a CPU shared with other jobs, run with ``OMP_WAIT_POLICY=PASSIVE``: spinning OpenMP threads
made 2-thread torch and gradient boosting 5-10x slower than 1 thread on an oversubscribed box.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from spt.baselines import BASELINES, make_baseline
from spt.io.predictions import load_split, prediction_frame
from spt.prep.spectra import load_spectra
from spt.validation.evaluate import scores


def main() -> None:
    """Parse arguments, fit and score each baseline in turn, print one line per baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=Path, default=Path("results/features"))
    parser.add_argument("--spectra", type=Path, default=Path("results/data/spectra.npz"))
    parser.add_argument("--only", nargs="+", choices=sorted(BASELINES), help="these baselines")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", type=Path, help="YAML {name: params} overriding defaults")
    parser.add_argument("--tuning", action="store_true", help="also print each tuning table")
    args = parser.parse_args()

    splits = {s: load_split(args.features / f"{s}.npz") for s in ("train", "val", "test")}
    overrides = yaml.safe_load(args.params.read_text()) if args.params else {}
    names = args.only or list(BASELINES)
    spectra = None
    if any(BASELINES[n].inputs == "spectra" for n in names):
        spectra = load_spectra(args.spectra)
    print(
        f"train {len(splits['train']['y'])}, val {len(splits['val']['y'])}, "
        f"test {len(splits['test']['y'])} stars; {splits['train']['X'].shape[1]} features; "
        f"{args.threads} threads"
    )
    print(f"{'baseline':<18} {'seconds':>8} {'age Delta_P %':>14} {'mass Delta_P %':>15}  chosen")
    for name in names:
        params = {**overrides.get(name, {}), "threads": args.threads}
        t0 = time.perf_counter()
        model = make_baseline(name, params, seed=args.seed, spectra=spectra)
        model.fit(splits["train"], splits["val"])
        mean, std = model.predict(splits["test"])
        seconds = time.perf_counter() - t0
        s = scores(prediction_frame(splits["test"], mean, std))
        tuning = model.tuning
        chosen = ""
        if not tuning.empty:
            best = tuning.loc[tuning.groupby("labels")["val_delta_p"].idxmin()]
            chosen = "; ".join(
                f"{row['labels']}: " + ", ".join(f"{k}={row[k]}" for k in model.grid)
                for _, row in best.iterrows()
            )
        print(
            f"{name:<18} {seconds:8.1f} {s['age_delta_p']:14.2f} {s['mass_delta_p']:15.2f}  "
            f"{chosen}",
            flush=True,
        )
        if args.tuning and not tuning.empty:
            print(tuning.to_string(index=False))


if __name__ == "__main__":
    main()
