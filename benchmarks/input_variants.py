"""What SPT gains from the projection, the noise, the token layout and seed ensembles.

Usage: python benchmarks/input_variants.py RUN_DIR [--seeds 3] [--variants plain weighted ...]

RUN_DIR is a finished default run (``results/features``, ``results/data/spectra.npz`` and, for
the mock, ``resources/simulated/truth.csv``). Each variant's inputs are rebuilt from the run's
spectra and PCA components, and SPT is trained with the configured settings (same budget) for
the seeds of the main run and its replicates (`spt.validation.compare.replicate_seed`). The
script prints Delta_P (age / mass) on the validation split (where a choice is made) and the
test split, against the catalogue labels and, on the mock, the noise-free truth, per seed and
for the seed ensemble (geometric mean of the members' predictions). Variants:

- ``plain``: the usual projection onto the components, no augmentation;
- ``plain+noise``: the same with noise augmentation (`spt.prep.features.projected_noise`);
- ``weighted``: inverse-variance-weighted least squares onto the components
  (`spt.prep.features.weighted_projection`, through `transform_spectra`), no augmentation;
- ``weighted+noise``: both (the default); ``weighted+noise0.5`` and ``weighted+noise2``
  scale the noise draws;
- ``patches``: the normalised spectrum itself, cut into 40 wavelength segments, each a token
  with its own linear map (the ``components`` layout on pixels): attention across wavelength.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from spt.io.predictions import load_split
from spt.model.predict import predict
from spt.model.train import config_from_settings, train_model
from spt.model.trust import rows_of
from spt.prep.features import NOISE_STREAM, impute, load_pca, projected_noise, transform_spectra
from spt.prep.spectra import load_spectra
from spt.validation.compare import replicate_seed
from spt.validation.metrics import delta_p

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "plain+noise", "weighted", "weighted+noise", "weighted+noise0.5",
            "weighted+noise2", "patches")  # fmt: skip
PATCHES = 40


def inputs(
    variant: str,
    spectra: dict[str, np.ndarray],
    bundle: dict[str, Any],
    splits: dict[str, dict[str, np.ndarray]],
    draws: int,
) -> dict[str, Any]:
    """Train/val/test inputs (and the training noise draws) of one variant."""
    projection = "weighted" if variant.startswith("weighted") else "plain"
    X, own = {}, {}
    for name, split in splits.items():
        own[name] = rows_of(spectra, split["obsid"])
        flux, ivar = own[name]["flux"], own[name]["ivar"]
        if variant == "patches":
            X[name] = impute(flux, ivar, bundle["fill"])
        else:
            X[name] = transform_spectra({**bundle, "projection": projection}, flux, ivar)
    noise = None
    if "+noise" in variant:
        scale = float(variant.split("+noise")[1] or 1.0)
        seed = (bundle["seed"], NOISE_STREAM)
        ivar = own["train"]["ivar"]
        noise = scale * projected_noise(bundle["pca"], ivar, draws, seed, projection)
    return {"X": X, "noise": noise}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    torch.set_num_threads(args.threads)
    run = args.run_dir
    splits = {k: load_split(run / f"results/features/{k}.npz") for k in ("train", "val", "test")}
    truth_file = run / "resources/simulated/truth.csv"
    truth = None
    if truth_file.exists():
        truth = pd.read_csv(truth_file).drop_duplicates("obsid").set_index("obsid")
    refs = {"labels": {k: s["y"] for k, s in splits.items() if k != "train"}}
    if truth is not None:
        refs["truth"] = {
            k: truth.reindex(s["obsid"])[["age", "mass"]].to_numpy(float)
            for k, s in splits.items()
            if k != "train"
        }
    head = "".join(f"{f'{k} {r}':>22}" for k in ("val", "test") for r in refs)
    print(f"{'variant':<18}{'seed':<10}{head}{'s/run':>7}")
    spectra = load_spectra(run / "results/data/spectra.npz")
    bundle = load_pca(run / "results/features/pca.joblib")
    for variant in args.variants:
        data = inputs(variant, spectra, bundle, splits, config["features"]["noise_draws"])
        model_cfg = dict(config["model"])
        if variant == "patches":
            model_cfg |= {"token_layout": "components", "n_tokens": PATCHES}
        logs: dict[str, list[np.ndarray]] = {"val": [], "test": []}
        for r in range(args.seeds):
            seed = config["seed"] if r == 0 else replicate_seed(config["seed"], r)
            cfg = config_from_settings(config["train"], model_cfg, seed, args.threads)
            start = time.perf_counter()
            model, _ = train_model(
                data["X"]["train"], splits["train"]["y"], data["X"]["val"], splits["val"]["y"],
                cfg, f"/tmp/input_variants_{variant}_{seed}.pt", progress=False,
                X_noise=data["noise"],
            )  # fmt: skip
            wall = time.perf_counter() - start
            for name in logs:
                logs[name].append(np.log(predict(model, data["X"][name])))
            cells = _cells({k: np.exp(v[-1]) for k, v in logs.items()}, refs)
            print(f"{variant:<18}{seed:<10}{cells}{wall:>7.0f}", flush=True)
        ensemble = {k: np.exp(np.mean(v, axis=0)) for k, v in logs.items()}
        print(f"{variant:<18}{'ensemble':<10}{_cells(ensemble, refs)}", flush=True)


def _cells(pred: dict[str, np.ndarray], refs: dict[str, dict[str, np.ndarray]]) -> str:
    """ "age / mass" Delta_P cells for each split and reference."""
    out = ""
    for split in ("val", "test"):
        for ref in refs.values():
            age, mass = (delta_p(pred[split][:, j], ref[split][:, j]) for j in (0, 1))
            out += f"{age:>14.2f} / {mass:5.2f}"
    return out


if __name__ == "__main__":
    main()
