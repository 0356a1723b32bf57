"""Typed settings built from the validated config: one dataclass per stage, one home per default.

Each stage's dataclass lives beside its code (`spt.model.spt.SPTConfig`,
`spt.model.train.TrainConfig`, `spt.model.predict.PredictConfig`); the defaults of every
dataclass and of every module-level default table equal config/config.yaml, which
tests/test_settings.py checks, so the YAML file stays the one place a user reads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def from_mapping(cls: type[T], values: Mapping[str, Any], section: str) -> T:
    """``cls(**values)`` for a dataclass, naming the config section of an unknown key."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {section} setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return cls(**values)
