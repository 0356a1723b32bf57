"""Compare SPT token layouts, softmax variants and label spaces on the pipeline's feature splits.

Usage: python benchmarks/compare_variants.py [results/features] [--epochs 150] [--seeds 3]

Trains each variant with the configured settings (same budget) for several seeds and prints
the mean and spread of Delta_P for age and mass on the validation split (what a choice should
be made on) and on the test split. Single runs scatter by 1-2 points in age Delta_P from the
seed alone, hence the seeds. The README's comparison table comes from this script.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from spt.io.predictions import load_split, prediction_frame
from spt.model.predict import predict_mc
from spt.model.train import TrainConfig, train_model
from spt.validation.evaluate import scores

REPO = Path(__file__).resolve().parents[1]
#: (token layout, softmax, log labels); the first is the default configuration.
VARIANTS = [
    ("chunks", "temperature", True),
    ("chunks", "temperature", False),
    ("chunks", "standard", True),
    ("chunks", "plus_one", True),
    ("components", "temperature", True),
    ("components", "standard", True),
]


def delta_p_cells(found: dict[str, list[tuple[float, float]]]) -> list[str]:
    """ "mean±spread" over seeds of age and mass Delta_P, validation then test."""
    cells = []
    for name in ("val", "test"):
        a = np.array(found[name])
        cells += [f"{a[:, j].mean():6.2f}±{a[:, j].std():4.2f}" for j in (0, 1)]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("features", nargs="?", default="results/features")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    splits = {k: load_split(Path(args.features) / f"{k}.npz") for k in ("train", "val", "test")}
    torch.set_num_threads(args.threads)
    print(f"{'layout':<12}{'softmax':<13}{'labels':<8}{'val age':>13}{'val mass':>12}"
          f"{'test age':>13}{'test mass':>12}{'s/run':>7}")  # fmt: skip
    for layout, softmax, log_labels in VARIANTS:
        model_cfg = {**config["model"], "token_layout": layout, "softmax": softmax,
                     "log_labels": log_labels}  # fmt: skip
        found = {"val": [], "test": []}
        start = time.perf_counter()
        for seed in range(config["seed"], config["seed"] + args.seeds):
            cfg = TrainConfig.from_dict(
                {**config["train"], "model": model_cfg, "seed": seed, "epochs": args.epochs,
                 "num_threads": args.threads}
            )  # fmt: skip
            model, _ = train_model(
                splits["train"]["X"], splits["train"]["y"], splits["val"]["X"], splits["val"]["y"],
                cfg, f"/tmp/compare_{layout}_{softmax}_{log_labels}_{seed}.pt", progress=False,
            )  # fmt: skip
            for name in found:
                mean, std = predict_mc(model, splits[name]["X"], passes=20, seed=seed)
                s = scores(prediction_frame(splits[name], mean, std))
                found[name].append((s["age_delta_p"], s["mass_delta_p"]))
        wall = (time.perf_counter() - start) / args.seeds
        cells = delta_p_cells(found)
        label = "log" if log_labels else "linear"
        print(f"{layout:<12}{softmax:<13}{label:<8}{cells[0]:>13}{cells[1]:>12}{cells[2]:>13}"
              f"{cells[3]:>12}{wall:>7.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
