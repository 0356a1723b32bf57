"""The training sample: matched stars minus every rejected spectrum and label outlier."""

from __future__ import annotations

import logging

import numpy as np
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


def rejection_table(
    spectra: pd.DataFrame | None = None, labels: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every rejected spectrum or star with all its reasons (one row per obsid or kic).

    ``spectra`` is the report of `spt.prep.spectra.preprocess_files` (``ok``/``problem`` and the
    anomaly columns) or the output of `flag_spectra`; ``labels`` that of `flag_label_outliers`.
    Columns: ``kic`` and ``obsid`` where known, ``stage`` (spectrum, labels or both) and
    ``reasons``.
    """
    parts = []
    if spectra is not None and len(spectra):
        s = spectra.copy()
        problem = s["problem"].fillna("") if "problem" in s else pd.Series("", index=s.index)
        anomalies = s["reasons"].fillna("") if "reasons" in s else pd.Series("", index=s.index)
        s["spec_reasons"] = [
            "; ".join(x for x in pair if x) for pair in zip(problem, anomalies, strict=True)
        ]
        parts.append(s.loc[s["spec_reasons"] != "", ["obsid", "spec_reasons"]])
    spec_part = parts[0] if parts else pd.DataFrame(columns=["obsid", "spec_reasons"])
    if labels is not None and len(labels):
        lab = labels.loc[labels["rejected"], [c for c in ("kic", "obsid") if c in labels]].copy()
        lab["label_reasons"] = labels.loc[labels["rejected"], "reasons"]
    else:
        lab = pd.DataFrame(columns=["obsid", "label_reasons"])
    if "obsid" in lab.columns:
        table = spec_part.merge(lab, on="obsid", how="outer")
    else:
        table = pd.concat([spec_part, lab], ignore_index=True)
    table["spec_reasons"] = table["spec_reasons"].fillna("")
    table["label_reasons"] = table["label_reasons"].fillna("")
    table["stage"] = np.select(
        [
            (table["spec_reasons"] != "") & (table["label_reasons"] != ""),
            table["spec_reasons"] != "",
        ],
        ["both", "spectrum"],
        default="labels",
    )
    table["reasons"] = [
        "; ".join(x for x in pair if x)
        for pair in zip(table["spec_reasons"], table["label_reasons"], strict=True)
    ]
    cols = [c for c in ("kic", "obsid") if c in table.columns]
    return table[[*cols, "stage", "reasons"]].reset_index(drop=True)
