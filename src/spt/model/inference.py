"""Predict ages and masses of stars outside the training splits (e.g. cluster members).

The spectra go through exactly the training path: the same preprocessing (resampling,
normalisation, anomaly flags), the saved PCA, then the saved model with MC dropout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spt.model.predict import predict_with_errors
from spt.model.store import load_model
from spt.model.train import pick_device
from spt.prep.anomalies import ANOMALY_TYPES
from spt.prep.features import load_pca, transform_spectra
from spt.prep.spectra import (
    common_grid,
    merge_config,
    preprocess_arrays,
    template_from_npz,
)

PathLike = str | os.PathLike[str]


def predict_files(
    paths: Sequence[PathLike],
    obsids: Sequence[int],
    model_path: PathLike,
    pca_path: PathLike,
    preprocess_cfg: Mapping[str, Any],
    anomaly_cfg: Mapping[str, Any],
    passes: int,
    seed: int,
    workers: int = 1,
    template_npz: PathLike | None = None,
    labels: Sequence[str] = ("age", "mass"),
) -> pd.DataFrame:
    """MC-dropout predictions of each spectrum file, with its preprocessing verdict.

    Returns one row per input: ``obsid, ok, problem, anomalous`` and ``<label>, <label>_err``
    for each of the model's ``labels`` (`spt.io.predictions.split_labels`);
    spectra that cannot be used (unreadable, or flagged by an anomaly detector) get NaN
    predictions and the reason, never a silent drop. ``template_npz`` (the training run's
    spectra.npz) supplies the outlier detector's population template, which a handful of
    spectra cannot build on their own.
    """
    cfg = merge_config(preprocess_cfg)
    grid = common_grid(cfg["wave_min"], cfg["wave_max"], cfg["log_step"])
    report, spectra = preprocess_arrays(
        [str(p) for p in paths], list(obsids), grid, cfg, workers=workers,
        anomaly_cfg=anomaly_cfg,
        template=None if template_npz is None else template_from_npz(template_npz),
    )  # fmt: skip
    flagged = [c for c in ANOMALY_TYPES if c in report.columns]
    anomalous = report[flagged].fillna(False).astype(bool).any(axis=1).to_numpy()
    usable = report["ok"].to_numpy(dtype=bool) & ~anomalous
    out = pd.DataFrame(
        {
            "obsid": np.asarray(obsids, dtype=np.int64),
            "ok": report["ok"].to_numpy(dtype=bool),
            "problem": report["problem"].fillna("").to_numpy(),
            "anomalous": anomalous,
        }
    )
    for label in labels:
        out[label] = out[f"{label}_err"] = np.nan
    if usable.any():
        features = transform_spectra(
            load_pca(pca_path), spectra["flux"][usable], spectra["ivar"][usable]
        )
        model = load_model(model_path, pick_device("auto"))
        mean, std, _ = predict_with_errors(model, features, passes=passes, seed=seed)
        out.loc[usable, list(labels)] = mean
        out.loc[usable, [f"{label}_err" for label in labels]] = std
    return out
