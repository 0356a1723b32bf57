"""The one way to predict: LAMOST spectrum files in, the catalogue's rows out.

A trust-calibrated model file (`spt.model.trust`, rule ``trust_spt``) carries everything the
chain needs besides the weights: the PCA, the preprocessing and anomaly settings, the outlier
detector's population template, the per-star error model and the flags' domain
(``extra["pipeline"]``, `pipeline_extra`). `predict_targets` turns a table of targets
(`spt.catalog.targets.TARGET_COLUMNS`) into rows with age, mass, the calibrated error, the
68.3 % interval, the flags and the reasons; the catalogue's shard jobs and `predict_spectra`
(files or folders, with or without a LAMOST catalogue; the ``spt predict`` command) both call
it. Every input keeps its row: a file that cannot be read gets its flag bits and reason.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from spt.catalog.targets import TARGET_COLUMNS
from spt.io.lamost import LamostFormatError, read_catalog, read_spectrum
from spt.model.spt import SpectralTransformer
from spt.model.store import ModelFileError, load_model, read_extra
from spt.model.train import pick_device
from spt.model.trust import TRUST_KEY, Trust, predict_trusted
from spt.prep.anomalies import Template
from spt.prep.features import pca_from_arrays, pca_to_arrays
from spt.prep.spectra import common_grid, merge_config, preprocess_arrays

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
PIPELINE_KEY = "pipeline"
#: File names `predict_spectra` takes from a folder (LAMOST LRS spectra, gzipped or not).
SPECTRUM_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fit.gz", ".fts", ".fts.gz")
#: What a spectrum's own header tells when no catalogue does: header keyword -> column.
HEADER_COLUMNS = {"DESIG": "designation", "RA": "ra", "DEC": "dec", "SNRG": "snrg"}
_RERUN = "rerun `snakemake --forcerun trust_spt` to write a model file that carries it"


def pipeline_extra(
    pca_bundle: Mapping[str, Any],
    template: Template,
    preprocess: Mapping[str, Any],
    anomalies: Mapping[str, Any],
    mc_passes: int,
    seed: int,
) -> dict[str, Any]:
    """What a model file must carry, besides its weights and trust, to predict from raw
    spectra alone: the PCA, the population template, the preprocessing and anomaly settings,
    and the MC-dropout passes and seed of the run (so a user's call repeats its catalogue)."""
    wavelength, flux = (np.asarray(a, dtype=np.float64) for a in template)
    return {
        "pca": _tensors(pca_to_arrays(pca_bundle)),
        "template": _tensors({"wavelength": wavelength, "flux": flux}),
        "preprocess": dict(preprocess),
        "anomalies": dict(anomalies),
        "mc_passes": int(mc_passes),
        "seed": int(seed),
    }


def _tensors(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in values.items()}


def _arrays(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in values.items()}


@dataclass
class Predictor:
    """A model file read once: the network, its trust and the chain's settings."""

    model: SpectralTransformer
    trust: Trust
    pca: dict[str, Any]
    template: Template
    preprocess: dict[str, Any]
    anomalies: dict[str, Any]
    mc_passes: int
    seed: int

    @classmethod
    def load(cls, path: PathLike, device: str = "auto") -> Predictor:
        """Read a model file written by rule ``trust_spt``; ModelFileError names what it lacks."""
        extra = read_extra(path)
        if extra.get(TRUST_KEY) is None:
            raise ModelFileError(f"{path} holds no error model and flag domain; {_RERUN}")
        pipe = extra.get(PIPELINE_KEY)
        if pipe is None:
            raise ModelFileError(
                f"{path} holds no PCA and preprocessing settings (a model file from before they "
                f"were stored, or a trained-only file of results/models/trained/); {_RERUN}"
            )
        template = _arrays(pipe["template"])
        return cls(
            model=load_model(path, pick_device(device)),
            trust=Trust.from_dict(extra[TRUST_KEY]),
            pca=pca_from_arrays(_arrays(pipe["pca"])),
            template=(template["wavelength"], template["flux"]),
            preprocess=merge_config(pipe["preprocess"]),
            anomalies=dict(pipe["anomalies"]),
            mc_passes=int(pipe["mc_passes"]),
            seed=int(pipe["seed"]),
        )


def predict_targets(
    predictor: Predictor,
    targets: pd.DataFrame,
    passes: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    chunk_size: int = 256,
) -> pd.DataFrame:
    """One row per target (``TARGET_COLUMNS``; ``path`` "" when there is no file): its columns
    but the path, then age and mass with the calibrated error and interval, the flags and the
    reasons. ``passes`` and ``seed`` default to the model file's run. The targets go through
    in chunks of ``chunk_size``, so memory does not grow with their number."""
    passes = predictor.mc_passes if passes is None else int(passes)
    seed = predictor.seed if seed is None else int(seed)
    cfg = predictor.preprocess
    grid = common_grid(cfg["wave_min"], cfg["wave_max"], cfg["log_step"])
    parts = []
    for start in range(0, len(targets), chunk_size):  # memory set by chunk_size
        part = targets.iloc[start : start + chunk_size].reset_index(drop=True)
        parts.append(_predict_chunk(predictor, part, grid, passes, seed, workers))
        log.info("predicted %d of %d spectra", start + len(part), len(targets))
    if not parts:
        raise ValueError("no targets to predict")
    return pd.concat(parts, ignore_index=True)


def _predict_chunk(
    p: Predictor, targets: pd.DataFrame, grid: np.ndarray, passes: int, seed: int, workers: int
) -> pd.DataFrame:
    """`predict_targets` on one chunk held in memory."""
    report, arrays = preprocess_arrays(
        targets["path"].tolist(), targets["obsid"].tolist(), grid, p.preprocess, workers=workers,
        anomaly_cfg=p.anomalies, template=p.template,
    )  # fmt: skip
    pred = predict_trusted(
        p.model, p.trust, arrays["flux"], arrays["ivar"], p.pca,
        targets["snrg"].to_numpy(float), targets[["teff", "logg", "feh"]].to_numpy(float),
        report, passes, seed, ids=targets["obsid"].to_numpy(np.int64),
    )  # fmt: skip
    reasons = [
        "; ".join(x for x in (str(p or ""), str(r or "")) if x and x != "nan")
        for p, r in zip(report["problem"], report.get("reasons", [""] * len(report)), strict=True)
    ]
    out = targets.loc[:, [c for c in TARGET_COLUMNS if c != "path"]].reset_index(drop=True)
    out = pd.concat([out, pred.reset_index(drop=True)], axis=1)
    out["reasons"] = reasons
    return out


def spectrum_files(paths: Iterable[PathLike]) -> list[Path]:
    """The spectrum files named: each path a file, or a folder searched (recursively, sorted)
    for `SPECTRUM_SUFFIXES`. FileNotFoundError names a path that does not exist or a folder
    without spectra."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file()
                           and f.name.lower().endswith(SPECTRUM_SUFFIXES))  # fmt: skip
            if not found:
                raise FileNotFoundError(
                    f"{path}: folder holds no spectrum file ({', '.join(SPECTRUM_SUFFIXES)})"
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return files


def header_targets(files: Iterable[PathLike]) -> pd.DataFrame:
    """Targets from the spectra's own headers: obsid (OBSID; else the file name's digits when
    it is one number; else -1), designation, position, g-band S/N (SNRG, or DR1's SN_G, whose
    99.00 means none) and LAMOST class; the parameters unknown. A file that cannot be read keeps
    its row (its prediction then says why)."""
    rows = []
    for path in map(Path, files):
        row: dict[str, Any] = {"path": str(path), "teff": np.nan, "logg": np.nan, "feh": np.nan}
        try:
            spec = read_spectrum(path)
            header, obsid = spec.header, spec.obsid
        except (LamostFormatError, OSError):
            header, obsid = {}, None
        if obsid is None:
            stem = path.name.split(".")[0]
            obsid = int(stem) if re.fullmatch(r"\d{1,18}", stem) else -1
        row["obsid"] = obsid
        for key, column in HEADER_COLUMNS.items():
            value = header.get(key)
            row[column] = np.nan if value is None and column != "designation" else value
        row["designation"] = str(header.get("DESIG") or "")
        row["lamost_class"] = str(header.get("CLASS") or "")
        row["_dr1"] = bool(header) and "DATA_V" not in header and "OBSID" not in header
        rows.append(row)
    frame = pd.DataFrame(rows)
    dr1 = frame.pop("_dr1").to_numpy(bool)
    for column in ("ra", "dec", "snrg"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame.loc[frame["snrg"] <= -9990, "snrg"] = np.nan  # LAMOST's no-value marker
    frame.loc[dr1 & (frame["snrg"] == 99.0), "snrg"] = np.nan  # DR1's no-value marker
    return frame


def predict_spectra(
    paths: Iterable[PathLike],
    model: PathLike | Predictor,
    catalog: PathLike | pd.DataFrame | None = None,
    passes: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    chunk_size: int = 256,
) -> pd.DataFrame:
    """The catalogue's rows for spectrum files (or folders of them; `spectrum_files`), one per
    file in the order given, with its ``path`` and LAMOST ``lamost_class``.

    ``catalog`` (a LAMOST catalogue file or frame with ``obsid`` and any of ``designation, ra,
    dec, snrg, teff, logg, feh``) gives each obsid's S/N and parameters; without it, or where
    it has no value, the file's header gives S/N and position (`header_targets`) and unknown
    parameters set PARAMS_UNKNOWN. ``passes`` and ``seed`` default to the model file's run,
    so a spectrum of the catalogue gets its catalogue row.
    """
    predictor = model if isinstance(model, Predictor) else Predictor.load(model)
    targets = header_targets(spectrum_files(paths))
    if catalog is not None:
        table = read_catalog(catalog) if not isinstance(catalog, pd.DataFrame) else catalog
        known = table.drop_duplicates("obsid").set_index("obsid")
        rows = known.reindex(targets["obsid"].to_numpy())
        for column in ("designation", "ra", "dec", "snrg", "teff", "logg", "feh"):
            if column in rows:
                values = rows[column].to_numpy()
                if column == "designation":
                    given = pd.Series(values).fillna("").astype(str).to_numpy()
                    targets[column] = np.where(given != "", given, targets[column])
                else:
                    values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
                    targets[column] = np.where(np.isfinite(values), values, targets[column])
    rows = predict_targets(predictor, targets, passes, seed, workers, chunk_size)
    rows.insert(1, "path", targets["path"].to_numpy())
    rows.insert(2, "lamost_class", targets["lamost_class"].to_numpy())
    return rows
