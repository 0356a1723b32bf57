"""The paper's two tables, each written as CSV, LaTeX and Markdown with a provenance caption.

Table 1: every model (rows) against Delta_P, MAE and robust scatter for age and mass, with the
paper's published SPT figures in a separate, labelled row. Table 2: the loss ablation (MSE,
z-scored MSE, Mahalanobis) with the same scores and the MC-dropout calibration. Only the
labels the predictions carry get columns (``features.labels``: both by default).

Both tables also say how far their comparisons hold beyond one training seed (ours,
`spt.validation.compare`): each model may be given as several runs, the main run first and
then its replicates trained with other seeds. The score columns are the main run's; added are
``seeds`` (runs), per label Delta_P's mean and standard deviation over the seeds, and the paired
bootstrap difference of Delta_P to the reference model (SPT; in Table 2 the paper's loss) with
its interval and whether the interval excludes zero. The Markdown and LaTeX files show these as
``mean ± std`` and ``difference [low, high]`` with ``*`` when the interval excludes zero.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spt.io.files import atomic_path, write_csv
from spt.io.predictions import LABELS, frame_labels
from spt.model.loss import LOSS_TITLES
from spt.validation.compare import CompareConfig, compare_models
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


#: The paper's model in the loss ablation: Table 2's differences are taken to it.
ABLATION_REFERENCE = "mahalanobis"

#: One model's runs: its main predictions, or a sequence of them (main run first, then the
#: replicates trained with other seeds).
Runs = pd.DataFrame | Sequence[pd.DataFrame]


def _runs(value: Runs) -> list[pd.DataFrame]:
    """A model's runs as a list, main run first; none is an error."""
    runs = [value] if isinstance(value, pd.DataFrame) else list(value)
    if not runs:
        raise ValueError("a model has no predictions")
    return runs


def _mains(predictions: Mapping[str, Runs]) -> dict[str, pd.DataFrame]:
    """Each model's main run (the one its score columns come from)."""
    return {name: _runs(value)[0] for name, value in predictions.items()}


def _labels(predictions: Mapping[str, Runs]) -> tuple[str, ...]:
    """The labels any of the frames carries, in LABELS order (one model, one label set)."""
    present = {label for frame in _mains(predictions).values() for label in frame_labels(frame)}
    return tuple(label for label in LABELS if label in present)


def _star_order(predictions: Mapping[str, list[pd.DataFrame]]) -> pd.Index:
    """The test stars (obsids) of the first model's main run; duplicates are an error."""
    first = next(iter(predictions.values()))[0]
    order = pd.Index(first["obsid"].to_numpy())
    if not order.is_unique:
        raise ValueError("predictions have duplicate obsids: stars cannot be paired")
    return order


def _column(frame: pd.DataFrame, column: str, order: pd.Index) -> np.ndarray:
    """``column`` of ``frame`` in the stars' ``order`` (NaN for a star the frame lacks)."""
    values = frame.drop_duplicates("obsid").set_index("obsid")[column]
    return values.reindex(order).to_numpy(dtype=float)


def seed_columns(
    predictions: Mapping[str, Runs],
    reference: str | None,
    reference_title: str,
    compare: Mapping[str, Any] | CompareConfig | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model: ``seeds`` and, per label, Delta_P over seeds and the paired
    difference to ``reference`` (`spt.validation.compare`; stars matched by obsid).

    Column names: ``<label> Delta_P seed mean (%)``, ``... seed std (%)``, ``<label> Delta_P
    minus <reference_title> (%)`` (bootstrap median), ``... <ci>% low (%)``, ``... high (%)``
    and ``<label> differs from <reference_title>`` (the interval excludes zero).
    """
    cfg = CompareConfig.from_mapping(compare)
    runs = {name: _runs(value) for name, value in predictions.items()}
    order = _star_order(runs)
    pct = f"{100 * cfg.ci:g}"
    out = pd.DataFrame(index=pd.Index(list(runs), name="model"))
    out["seeds"] = pd.array([len(r) for r in runs.values()], dtype="Int64")
    first = next(iter(runs.values()))[0]
    for label in _labels(predictions):
        true = _column(first, f"{label}_true", order)
        for name, frames in runs.items():
            for frame in frames:
                other = _column(frame, f"{label}_true", order)
                both = np.isfinite(true) & np.isfinite(other)
                if not np.allclose(other[both], true[both], rtol=1e-6, atol=0.0):
                    raise ValueError(
                        f"{name}: {label}_true differs from the first model's for the same "
                        "obsids: the predictions are not of the same test split"
                    )
        arrays = {
            name: np.stack([_column(frame, label, order) for frame in frames])
            for name, frames in runs.items()
        }
        result = compare_models(arrays, true, reference, cfg.bootstrap, cfg.ci, seed)
        minus = f"{label} Delta_P minus {reference_title}"
        spread = {name: r[0] for name, r in result.items()}
        pairs = {name: r[1] for name, r in result.items()}
        out[f"{label} Delta_P seed mean (%)"] = [spread[n].mean for n in out.index]
        out[f"{label} Delta_P seed std (%)"] = [spread[n].std for n in out.index]
        out[f"{minus} (%)"] = [p.median if p else np.nan for p in pairs.values()]
        out[f"{minus} {pct}% low (%)"] = [p.low if p else np.nan for p in pairs.values()]
        out[f"{minus} {pct}% high (%)"] = [p.high if p else np.nan for p in pairs.values()]
        out[f"{label} differs from {reference_title}"] = pd.array(
            [p.excludes_zero if p else pd.NA for p in pairs.values()], dtype="boolean"
        )
    return out


def _score_columns(labels: tuple[str, ...]) -> dict[str, str]:
    """The SCORE_COLUMNS of the given labels, in their order."""
    return {k: v for k, v in SCORE_COLUMNS.items() if k.split("_", 1)[0] in labels}


def table1(
    predictions: Mapping[str, Runs],
    compare: Mapping[str, Any] | CompareConfig | None = None,
    seed: int = 0,
    reference: str = "SPT",
) -> pd.DataFrame:
    """Scores of every model on the same test split, plus the paper's published SPT row.

    ``predictions``: per model its main run or its runs over seeds (main run first); the
    score columns are the main run's, followed by `seed_columns` against ``reference``.
    """
    mains = _mains(predictions)
    columns = _score_columns(_labels(mains))
    rows = {name: scores(frame) for name, frame in mains.items()}
    out = pd.DataFrame(rows).T.reindex(columns=list(columns))
    out = out.rename(columns=columns)
    out = pd.concat([out, seed_columns(predictions, reference, reference, compare, seed)], axis=1)
    paper = pd.DataFrame([{columns[k]: v for k, v in PAPER_SPT.items() if k in columns}])
    out = pd.concat([out, paper.set_axis([PAPER_ROW])])
    out.index.name = "model"
    return out.reset_index()


def table2(
    predictions: Mapping[str, Runs],
    compare: Mapping[str, Any] | CompareConfig | None = None,
    seed: int = 0,
    reference: str = ABLATION_REFERENCE,
) -> pd.DataFrame:
    """Loss ablation: scores and 1/2-sigma coverage of the MC-dropout errors per loss (main
    run), then `seed_columns` against the loss ``reference`` (the paper's, Mahalanobis)."""
    mains = _mains(predictions)
    labels = _labels(mains)
    columns = _score_columns(labels)
    rows = []
    for loss, frame in mains.items():
        row: dict[str, object] = {"loss": LOSS_TITLES.get(loss, loss)}
        row.update({columns[k]: v for k, v in scores(frame).items() if k in columns})
        cal = calibration(frame)
        cal = cal[cal["sigma"] == "combined"].set_index("label")
        for label in labels:
            row[f"{label} within 1 sigma"] = cal.loc[label, "within_1sigma"]
            row[f"{label} within 2 sigma"] = cal.loc[label, "within_2sigma"]
        rows.append(row)
    title = LOSS_TITLES.get(reference, reference)
    seeds = seed_columns(predictions, reference, title, compare, seed)
    return pd.concat([pd.DataFrame(rows), seeds.reset_index(drop=True)], axis=1)


def caption(title: str, data_note: str, commit: str, config_md5: str) -> str:
    """One line saying what the numbers are and where they come from."""
    return f"{title}. Data: {data_note}. Pipeline commit {commit}, config md5 {config_md5}."


_SEED_MEAN = re.compile(r"^(?P<label>\w+) Delta_P seed mean \(%\)$")
_DIFFERS = re.compile(r"^(?P<label>\w+) differs from (?P<ref>.+)$")
_LOW = re.compile(r"^(?P<stem>.+) (?P<pct>[\d.]+)% low \(%\)$")


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the Markdown and LaTeX files show it: ``seeds`` as integers, Delta_P over
    seeds as ``mean ± std`` and each paired difference as ``median [low, high]`` with ``*``
    when its interval excludes zero; other numbers with two decimals, missing ones empty."""
    shown = frame.copy()
    for col in list(shown.columns):
        match = _SEED_MEAN.match(str(col))
        if not match:
            continue
        std = f"{match['label']} Delta_P seed std (%)"
        shown[col] = [
            "" if pd.isna(m) else f"{m:.2f}" + ("" if pd.isna(s) else f" ± {s:.2f}")
            for m, s in zip(frame[col], frame[std], strict=True)
        ]
        shown = shown.drop(columns=std).rename(
            columns={col: f"{match['label']} Delta_P over seeds (%)"}
        )
    for flag in [c for c in frame.columns if _DIFFERS.match(str(c))]:
        match = _DIFFERS.match(flag)
        stem = f"{match['label']} Delta_P minus {match['ref']}"  # type: ignore[index]
        low = next(c for c in frame.columns if (m := _LOW.match(str(c))) and m["stem"] == stem)
        pct = _LOW.match(low)["pct"]  # type: ignore[index]
        mid, high = f"{stem} (%)", f"{stem} {pct}% high (%)"
        shown[mid] = [
            "" if pd.isna(d) else f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]" + (" *" if f is True else "")
            for d, lo, hi, f in zip(
                frame[mid], frame[low], frame[high], frame[flag].astype(object), strict=True
            )
        ]
        shown = shown.drop(columns=[low, high, flag]).rename(
            columns={mid: f"{stem} [{pct}% interval] (%)"}
        )
    if "seeds" in shown.columns:
        shown["seeds"] = [
            "" if pd.isna(v) else f"{int(v)}" for v in pd.to_numeric(frame["seeds"]).tolist()
        ]
    for col in shown.select_dtypes("number").columns:
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return shown


def write_table(frame: pd.DataFrame, stem: str | os.PathLike[str], caption_text: str) -> None:
    """Write ``<stem>.csv`` (every column, floats with four decimals) and ``.tex`` and ``.md``
    (as `_shown`: two decimals, seed spreads and intervals collapsed) atomically."""
    stem = Path(stem)
    write_csv(frame, stem.with_suffix(".csv"), float_format="%.4f")
    shown = _shown(frame)
    with atomic_path(stem.with_suffix(".md")) as tmp:
        tmp.write_text(f"{caption_text}\n\n{shown.to_markdown(index=False)}\n", encoding="utf-8")
    latex = shown.to_latex(index=False, caption=caption_text, label=f"tab:{stem.name}")
    with atomic_path(stem.with_suffix(".tex")) as tmp:
        escaped = latex.replace("_", r"\_").replace("%", r"\%").replace(r"tab:\_", "tab:")
        tmp.write_text(escaped.replace("±", r"$\pm$"), encoding="utf-8")
