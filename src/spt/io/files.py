"""Atomic file writing: a failed step never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import gzip
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` atomically; gzip it reproducibly (no timestamp, no name) if path ends .gz."""
    if str(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], **kwargs: object) -> None:
    """Write a CSV atomically, without the index, with full float precision."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **kwargs)  # type: ignore[arg-type]
