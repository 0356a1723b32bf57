"""One shard of the catalogue: its spectra preprocessed, projected and predicted, with flags.

The chain is the training chain (`spt.prep.spectra`, the saved PCA, the saved model) and the
trust stored with the model (`spt.model.trust`): every target keeps its row, with NaN
predictions and its flag bits and reasons where the spectrum cannot be used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from spt.catalog.stars import star_key
from spt.catalog.targets import TARGET_COLUMNS
from spt.model.predict import PredictConfig
from spt.model.store import ModelFileError, load_model
from spt.model.train import pick_device
from spt.model.trust import load_trust, predict_trusted
from spt.prep.features import load_pca
from spt.prep.spectra import common_grid, merge_config, preprocess_arrays, template_from_npz

PathLike = str | os.PathLike[str]


def predict_shard(
    targets: pd.DataFrame,
    model_path: PathLike,
    pca_path: PathLike,
    template_npz: PathLike,
    preprocess_cfg: Mapping[str, Any],
    anomaly_cfg: Mapping[str, Any],
    predict: Mapping[str, Any] | PredictConfig,
    seed: int,
    workers: int = 1,
    chunk_size: int = 256,
) -> pd.DataFrame:
    """One row per target: its catalogue columns, age and mass with errors, flags and reasons.

    The targets go through in chunks of ``chunk_size`` spectra, so a shard job's memory does
    not grow with the shard.
    """
    cfg = merge_config(preprocess_cfg)
    pc = PredictConfig.from_mapping(predict)
    trust = load_trust(model_path)
    if trust is None:
        raise ModelFileError(
            f"{model_path} holds no error model and flag domain (made before they existed); "
            "rerun with `snakemake --forcerun train_spt`"
        )
    grid = common_grid(cfg["wave_min"], cfg["wave_max"], cfg["log_step"])
    model = load_model(model_path, pick_device("auto"))
    template, bundle = template_from_npz(template_npz), load_pca(pca_path)
    parts = []
    for start in range(0, len(targets), chunk_size):  # memory set by chunk_size, not the shard
        part = targets.iloc[start : start + chunk_size].reset_index(drop=True)
        parts.append(_predict_chunk(part, model, trust, bundle, grid, cfg, anomaly_cfg,
                                    template, pc, seed, workers))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _predict_chunk(
    targets: pd.DataFrame,
    model: Any,
    trust: Any,
    bundle: Mapping[str, Any],
    grid: np.ndarray,
    cfg: Mapping[str, Any],
    anomaly_cfg: Mapping[str, Any],
    template: Any,
    pc: PredictConfig,
    seed: int,
    workers: int,
) -> pd.DataFrame:
    """`predict_shard` on one chunk of targets held in memory."""
    report, arrays = preprocess_arrays(
        targets["path"].tolist(), targets["obsid"].tolist(), grid, cfg, workers=workers,
        anomaly_cfg=anomaly_cfg, template=template,
    )  # fmt: skip
    snr = targets["snrg"].to_numpy(float)
    params = targets[["teff", "logg", "feh"]].to_numpy(float)
    pred = predict_trusted(
        model, trust, arrays["flux"], arrays["ivar"], bundle, snr, params, report,
        pc.mc_passes, seed, pc.errors,
    )  # fmt: skip
    reasons = [
        "; ".join(x for x in (str(p or ""), str(r or "")) if x and x != "nan")
        for p, r in zip(report["problem"], report.get("reasons", [""] * len(report)), strict=True)
    ]
    out = targets.loc[:, [c for c in TARGET_COLUMNS if c != "path"]].reset_index(drop=True)
    out = pd.concat([out, pred.reset_index(drop=True)], axis=1)
    out["reasons"] = reasons
    return out


def mark_primary(frame: pd.DataFrame) -> pd.Series:
    """True on the best spectrum of each star (same LAMOST designation): not flagged bad, then
    highest S/N, then lowest obsid; a spectrum without a designation is its own star."""
    order = frame.assign(
        _bad=frame["flag_bad"].astype(bool),
        _snr=-frame["snrg"].fillna(-np.inf),
        _star=star_key(frame),
    ).sort_values(["_star", "_bad", "_snr", "obsid"], kind="stable")  # fmt: skip
    first = ~order["_star"].duplicated()
    return first.reindex(frame.index)
