"""How much does the PCA step cost? SPT's Delta_P with more principal components.

Usage: python benchmarks/pca_components.py RUN_DIR [--components 50 100 200] [--seeds 2]
       [--first-seed N] [--threads 1]

RUN_DIR is a finished default run (``results/data/spectra.npz``, ``results/data/sample.csv``
and its ``config/config.yaml``). For each number of components the script rebuilds the feature
splits exactly as the ``features`` rule does (same stars, same split, PCA fitted on the training
spectra only), trains SPT with the run's model and training settings for each seed and prints
the mean and spread of Delta_P (age, mass) on the validation split, where a choice is made, and
on the test split, with the explained variance. Several processes with different
``--first-seed`` run side by side.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from compare_variants import delta_p_cells  # this folder is on sys.path when run as a script

from spt.io.predictions import load_split, prediction_frame
from spt.model.predict import predict_mc
from spt.model.train import TrainConfig, train_model
from spt.prep.features import build_features
from spt.validation.evaluate import scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--components", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    config = yaml.safe_load((args.run / "config/config.yaml").read_text())
    feats = config["features"]
    torch.set_num_threads(args.threads)
    first = config["seed"] if args.first_seed is None else args.first_seed
    print(f"{'components':>10}{'variance':>10}{'val age':>14}{'val mass':>12}"
          f"{'test age':>14}{'test mass':>12}{'s/run':>7}", flush=True)  # fmt: skip
    for k in args.components:
        with tempfile.TemporaryDirectory() as tmp:
            summary = build_features(
                args.run / "results/data/spectra.npz", args.run / "results/data/sample.csv",
                feats["fractions"], k, config["seed"], tmp, feats["n_bins"], feats["labels"],
            )  # fmt: skip
            splits = {s: load_split(Path(tmp) / f"{s}.npz") for s in ("train", "val", "test")}
            found: dict[str, list[tuple[float, float]]] = {"val": [], "test": []}
            start = time.perf_counter()
            for seed in range(first, first + args.seeds):
                cfg = TrainConfig.from_dict(
                    {**config["train"], "model": config["model"], "seed": seed,
                     "num_threads": args.threads}
                )  # fmt: skip
                model, _ = train_model(
                    splits["train"]["X"], splits["train"]["y"], splits["val"]["X"],
                    splits["val"]["y"], cfg, Path(tmp) / f"spt_{seed}.pt", progress=False,
                )  # fmt: skip
                for name in found:
                    mean, std = predict_mc(
                        model, splits[name]["X"], passes=config["predict"]["mc_passes"], seed=seed
                    )
                    s = scores(prediction_frame(splits[name], mean, std))
                    found[name].append((s["age_delta_p"], s["mass_delta_p"]))
        wall = (time.perf_counter() - start) / args.seeds
        cells = delta_p_cells(found)
        variance = float(summary.get("explained_variance", np.nan))
        print(f"{k:>10d}{variance:>10.3f}{cells[0]:>14}{cells[1]:>12}{cells[2]:>14}"
              f"{cells[3]:>12}{wall:>7.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
