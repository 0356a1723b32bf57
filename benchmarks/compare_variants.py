"""Compare SPT token layouts and softmax variants on the pipeline's feature splits.

Usage: python benchmarks/compare_variants.py [results/features] [--epochs 60]
Trains each variant with the configured settings (same seed and budget) and prints the test
Delta_P for age and mass; the README's comparison table comes from this script.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from spt.evaluate import load_split, prediction_frame, scores
from spt.train import TrainConfig, predict_mc, train_model

REPO = Path(__file__).resolve().parents[1]
VARIANTS = [
    ("chunks", "temperature"),
    ("chunks", "standard"),
    ("chunks", "plus_one"),
    ("components", "temperature"),
    ("components", "standard"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("features", nargs="?", default="results/features")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    splits = {k: load_split(Path(args.features) / f"{k}.npz") for k in ("train", "val", "test")}
    torch.set_num_threads(args.threads)
    print(f"{'layout':<12}{'softmax':<13}{'age dP %':>9}{'mass dP %':>10}{'epochs':>7}{'s':>7}")
    for layout, softmax in VARIANTS:
        model_cfg = {**config["model"], "token_layout": layout, "softmax": softmax}
        cfg = TrainConfig.from_dict(
            {**config["train"], "model": model_cfg, "seed": config["seed"],
             "epochs": args.epochs, "num_threads": args.threads}
        )  # fmt: skip
        start = time.perf_counter()
        model, history = train_model(
            splits["train"]["X"], splits["train"]["y"], splits["val"]["X"], splits["val"]["y"],
            cfg, f"/tmp/compare_{layout}_{softmax}.pt", progress=False,
        )  # fmt: skip
        mean, std = predict_mc(model, splits["test"]["X"], passes=20, seed=config["seed"])
        s = scores(prediction_frame(splits["test"], mean, std))
        wall = time.perf_counter() - start
        print(
            f"{layout:<12}{softmax:<13}{s['age_delta_p']:>9.2f}{s['mass_delta_p']:>10.2f}"
            f"{len(history):>7}{wall:>7.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
