"""A small model file that predicts from raw LAMOST spectra (the real wavelength grid), made
in seconds: constructed giants preprocessed like the pipeline's, a PCA, a tiny SPT, its trust
and the pipeline settings (`spt.catalog.predict.pipeline_extra`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from spt.catalog.predict import PIPELINE_KEY, pipeline_extra
from spt.model.store import save_model
from spt.model.train import TrainConfig, train_model
from spt.model.trust import TRUST_KEY, fit_trust
from spt.prep.anomalies import population_template
from spt.prep.spectra import common_grid, merge_config, preprocess_arrays
from tests.support.spectra import giant

N_STARS, N_COMP, PASSES, SEED = 240, 6, 8, 0


def tiny_predictor(folder: Path) -> Path:
    """Write ``folder/model.pt``: a trust-calibrated tiny SPT with its PCA and settings, trained
    on constructed giants whose Teff carries the "labels" (age falls and mass rises with it)."""
    rng = np.random.default_rng(SEED)
    teff = rng.uniform(4300, 5000, N_STARS)
    snr = rng.uniform(20, 150, N_STARS)
    pairs = enumerate(zip(snr, teff, strict=True))
    specs = [giant(seed=1000 + i, snr=s, teff=t) for i, (s, t) in pairs]
    cfg = merge_config({})
    grid = common_grid(cfg["wave_min"], cfg["wave_max"], cfg["log_step"])
    flux, ivar = _preprocessed(folder, specs, grid, cfg)
    age = 2.0 + 8.0 * (5000 - teff) / 700 + rng.normal(0, 0.3, N_STARS)
    mass = 1.0 + (teff - 4300) / 700 + rng.normal(0, 0.05, N_STARS)
    y = np.column_stack([np.clip(age, 0.5, None), mass])
    bundle = {"pca": PCA(N_COMP, random_state=SEED).fit(np.nan_to_num(flux[:160], nan=1.0)),
              "fill": np.ones(grid.size), "wavelength": grid, "projection": "plain"}  # fmt: skip
    X = bundle["pca"].transform(np.nan_to_num(flux, nan=1.0)).astype(np.float32)
    obsid = np.arange(N_STARS) + 1000
    tr, va = slice(0, 160), slice(160, N_STARS)
    train = {"X": X[tr], "y": y[tr], "y_err": 0.05 * y[tr], "obsid": obsid[tr]}
    val = {"X": X[va], "y": y[va], "y_err": 0.05 * y[va], "obsid": obsid[va]}
    table = pd.DataFrame({"obsid": obsid, "snrg": snr, "teff_lamost": teff,
                          "logg_lamost": rng.normal(2.5, 0.3, N_STARS),
                          "feh_lamost": rng.normal(0.0, 0.2, N_STARS),
                          "phase": np.where(mass > 1.5, 2, 1)})  # fmt: skip
    train_cfg = TrainConfig.tiny(epochs=3, seed=SEED)
    model, _ = train_model(train["X"], train["y"], val["X"], val["y"], train_cfg,
                           folder / "checkpoint.pt", progress=False)  # fmt: skip
    trust = fit_trust(model, train, val, table, {"flux": flux[va], "ivar": ivar[va]}, bundle,
                      passes=PASSES, seed=SEED, percentile=99.0)  # fmt: skip
    template = population_template(flux, ivar, grid)
    extra = {TRUST_KEY: trust.to_dict(),
             PIPELINE_KEY: pipeline_extra(bundle, template, {}, {}, PASSES, SEED)}  # fmt: skip
    save_model(folder / "model.pt", model, train_cfg, extra=extra)
    return folder / "model.pt"


def _preprocessed(
    folder: Path, specs: list, grid: np.ndarray, cfg: dict
) -> tuple[np.ndarray, np.ndarray]:
    """The spectra as the pipeline preprocesses them (written as files, then read back)."""
    from spt.io.lamost import write_spectrum

    paths = []
    for spec in specs:
        path = folder / f"train_{spec.obsid}.fits.gz"
        write_spectrum(path, spec)
        paths.append(str(path))
    _, arrays = preprocess_arrays(paths, [s.obsid for s in specs], grid, cfg)
    for path in paths:
        Path(path).unlink()
    return arrays["flux"], arrays["ivar"]
