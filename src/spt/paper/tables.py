"""The paper's two tables, each written as CSV, LaTeX and Markdown with a provenance caption.

Table 1: every model (rows) against Delta_P, MAE and robust scatter for age and mass, with the
paper's published SPT figures in a separate, labelled row. Table 2: the loss ablation (MSE,
z-scored MSE, Mahalanobis) with the same scores and the MC-dropout calibration. Only the
labels the predictions carry get columns (``features.labels``: both by default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from spt.io.files import atomic_path, write_csv
from spt.io.predictions import LABELS, frame_labels
from spt.model.loss import LOSS_TITLES
from spt.validation.evaluate import calibration, scores

#: The paper's test-set scores of SPT on LAMOST DR9 (abstract of Zhang et al. 2024).
PAPER_SPT = {"age_delta_p": 17.64, "mass_delta_p": 6.61}
PAPER_ROW = "SPT, paper (LAMOST DR9, published)"
SCORE_COLUMNS = {
    "age_delta_p": "age Delta_P (%)",
    "age_mae": "age MAE (Gyr)",
    "age_robust_scatter": "age robust scatter (%)",
    "mass_delta_p": "mass Delta_P (%)",
    "mass_mae": "mass MAE (Msun)",
    "mass_robust_scatter": "mass robust scatter (%)",
}


def _labels(predictions: Mapping[str, pd.DataFrame]) -> tuple[str, ...]:
    """The labels any of the frames carries, in LABELS order (one model, one label set)."""
    present = {label for frame in predictions.values() for label in frame_labels(frame)}
    return tuple(label for label in LABELS if label in present)


def _score_columns(labels: tuple[str, ...]) -> dict[str, str]:
    """The SCORE_COLUMNS of the given labels, in their order."""
    return {k: v for k, v in SCORE_COLUMNS.items() if k.split("_", 1)[0] in labels}


def table1(predictions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Scores of every model on the same test split, plus the paper's published SPT row."""
    columns = _score_columns(_labels(predictions))
    rows = {name: scores(frame) for name, frame in predictions.items()}
    out = pd.DataFrame(rows).T.reindex(columns=list(columns))
    out.loc[PAPER_ROW] = [PAPER_SPT.get(c, np.nan) for c in columns]
    out.index.name = "model"
    return out.rename(columns=columns).reset_index()


def table2(predictions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Loss ablation: scores and 1/2-sigma coverage of the MC-dropout errors per loss."""
    labels = _labels(predictions)
    columns = _score_columns(labels)
    rows = []
    for loss, frame in predictions.items():
        row: dict[str, object] = {"loss": LOSS_TITLES.get(loss, loss)}
        row.update({columns[k]: v for k, v in scores(frame).items() if k in columns})
        cal = calibration(frame)
        cal = cal[cal["sigma"] == "combined"].set_index("label")
        for label in labels:
            row[f"{label} within 1 sigma"] = cal.loc[label, "within_1sigma"]
            row[f"{label} within 2 sigma"] = cal.loc[label, "within_2sigma"]
        rows.append(row)
    return pd.DataFrame(rows)


def caption(title: str, data_note: str, commit: str, config_md5: str) -> str:
    """One line saying what the numbers are and where they come from."""
    return f"{title}. Data: {data_note}. Pipeline commit {commit}, config md5 {config_md5}."


def write_table(frame: pd.DataFrame, stem: str | os.PathLike[str], caption_text: str) -> None:
    """Write ``<stem>.csv``, ``.tex`` and ``.md`` atomically; floats with two decimals."""
    stem = Path(stem)
    write_csv(frame, stem.with_suffix(".csv"), float_format="%.4f")
    shown = frame.copy()
    for col in shown.select_dtypes("number").columns:
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    with atomic_path(stem.with_suffix(".md")) as tmp:
        tmp.write_text(f"{caption_text}\n\n{shown.to_markdown(index=False)}\n", encoding="utf-8")
    latex = shown.to_latex(index=False, caption=caption_text, label=f"tab:{stem.name}")
    with atomic_path(stem.with_suffix(".tex")) as tmp:
        escaped = latex.replace("_", r"\_").replace("%", r"\%").replace(r"tab:\_", "tab:")
        tmp.write_text(escaped, encoding="utf-8")
