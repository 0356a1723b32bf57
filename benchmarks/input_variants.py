"""What SPT gains from the noise, the projection, the token layout and seed ensembles.

Usage: python benchmarks/input_variants.py RUN_DIR [--seeds 3] [--variants plain noise ...]

RUN_DIR is a finished default run (``results/features``, ``results/data/spectra.npz`` and, for
the mock, ``resources/simulated/truth.csv``). Each variant is trained with the configured
settings (same budget) for the seeds of the main run and its replicates
(`spt.validation.compare.replicate_seed`), and the script prints Delta_P (age, mass) on the
validation split (where a choice is made) and the test split, against the catalogue labels
and, on the mock, the noise-free truth, per seed and for the seed ensemble (geometric mean of
the members' predictions). Variants:

- ``plain``: the PCA vectors, no augmentation (the default before noise augmentation);
- ``noise``: noise augmentation with the run's ``X_noise`` (`features.noise_draws`);
  ``noise0.5`` and ``noise2`` scale those draws;
- ``ivar``: an inverse-variance-weighted projection onto the components (weighted least
  squares per star) instead of the plain projection;
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
from spt.prep.features import DEFAULTS, NOISE_STREAM, impute, load_pca, projected_noise
from spt.prep.spectra import load_spectra
from spt.validation.compare import replicate_seed
from spt.validation.metrics import delta_p

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "noise", "noise0.5", "noise2", "ivar", "patches")
PATCHES = 40


def weighted_projection(bundle: dict[str, Any], flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """PCA coefficients by inverse-variance-weighted least squares, one star at a time."""
    pca = bundle["pca"]
    P = pca.components_.astype(np.float64)
    resid = impute(flux, ivar, bundle["fill"]).astype(np.float64) - pca.mean_
    out = np.empty((len(flux), len(P)), dtype=np.float32)
    for i in range(len(flux)):
        w = ivar[i] / np.median(ivar[i][ivar[i] > 0])
        out[i] = np.linalg.solve((P * w) @ P.T + 1e-6 * np.eye(len(P)), (P * w) @ resid[i])
    return out


def inputs(variant: str, run: Path, splits: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Train/val/test inputs (and noise draws) of one variant."""
    X = {name: s["X"] for name, s in splits.items()}
    noise = None
    spectra = load_spectra(run / "results/data/spectra.npz")
    bundle = load_pca(run / "results/features/pca.joblib")
    if variant.startswith("noise"):
        scale = float(variant[5:] or 1.0)
        noise = splits["train"].get("X_noise")
        if noise is None:  # a run made before noise augmentation: draw as the features rule does
            own = rows_of(spectra, splits["train"]["obsid"])
            noise = projected_noise(
                bundle["pca"], own["flux"], own["ivar"], bundle["fill"],
                DEFAULTS["noise_draws"], (bundle["seed"], NOISE_STREAM),
            )  # fmt: skip
        noise = scale * noise
    elif variant in ("ivar", "patches"):
        for name, s in splits.items():
            own = rows_of(spectra, s["obsid"])
            if variant == "ivar":
                X[name] = weighted_projection(bundle, own["flux"], own["ivar"])
            else:
                X[name] = impute(own["flux"], own["ivar"], bundle["fill"])
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
    print(f"{'variant':<10}{'seed':<10}{head}{'s/run':>7}")
    for variant in args.variants:
        data = inputs(variant, run, splits)
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
            print(f"{variant:<10}{seed:<10}{cells}{wall:>7.0f}", flush=True)
        ensemble = {k: np.exp(np.mean(v, axis=0)) for k, v in logs.items()}
        print(f"{variant:<10}{'ensemble':<10}{_cells(ensemble, refs)}", flush=True)


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
