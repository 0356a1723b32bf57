"""The methods SPT is compared with, behind one interface; see ``spt.baselines.base``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spt.baselines.base import (
    Baseline,
    BaselineConfigError,
    LabelScaler,
    SpectraLookup,
    TrainingMean,
    attach_columns,
    mean_delta_p,
    predict_mean_baseline,
)
from spt.baselines.cannon import CannonBaseline, CannonModel
from spt.baselines.classic import (
    GradientBoostingBaseline,
    RandomForestBaseline,
    RidgeBaseline,
    SVRBaseline,
)
from spt.baselines.neural import CNN1DBaseline, MLPBaseline

# --------------------------------------------------------------------------- registry
BASELINES: dict[str, type[Baseline]] = {
    cls.name: cls
    for cls in (
        TrainingMean,
        RidgeBaseline,
        SVRBaseline,
        RandomForestBaseline,
        GradientBoostingBaseline,
        MLPBaseline,
        CNN1DBaseline,
        CannonBaseline,
    )
}


def make_baseline(
    name: str,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    spectra: Mapping[str, np.ndarray] | None = None,
) -> Baseline:
    """An unfitted baseline by registry name; spectra are required by cnn1d and cannon only."""
    if name not in BASELINES:
        raise BaselineConfigError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    return BASELINES[name](params, seed=seed, spectra=spectra)


def default_params() -> dict[str, dict[str, Any]]:
    """Every baseline's default settings and grid, as a config fragment would hold them.

    Tuned settings appear only in the grid (a fixed value would replace the grid).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, cls in BASELINES.items():
        fixed = {**cls.common, **cls.defaults}
        entry = {k: v for k, v in fixed.items() if k not in cls.default_grid}
        if cls.default_grid:
            entry["grid"] = {k: list(v) for k, v in cls.default_grid.items()}
        out[name] = entry
    return out


__all__ = [
    "BASELINES",
    "Baseline",
    "BaselineConfigError",
    "CannonModel",
    "LabelScaler",
    "SpectraLookup",
    "attach_columns",
    "default_params",
    "make_baseline",
    "mean_delta_p",
    "predict_mean_baseline",
]
