"""The training sample: matched stars minus every rejected spectrum and label outlier."""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)


class EmptySampleError(RuntimeError):
    """No star survives the cuts; the message gives the counts so the cause can be found."""


def select_sample(matched: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``matched`` whose spectrum (obsid) and star (kic) were not rejected."""
    bad_obsid = set(rejected["obsid"].dropna().astype("int64")) if "obsid" in rejected else set()
    bad_kic = set(rejected["kic"].dropna().astype("int64")) if "kic" in rejected else set()
    keep = ~matched["obsid"].isin(bad_obsid) & ~matched["kic"].isin(bad_kic)
    if not keep.any():
        raise EmptySampleError(
            f"all {len(matched)} matched stars were rejected ({len(rejected)} rejection rows): "
            "see results/data/anomalies.csv and loosen the anomaly or label-outlier thresholds"
        )
    log.info("sample: kept %d of %d matched stars", int(keep.sum()), len(matched))
    return matched.loc[keep].reset_index(drop=True)
