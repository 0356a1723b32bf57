"""Model files: one self-contained .pt per trained SPT, read back for prediction.

A file that cannot be read (empty, truncated, corrupt, not ours) or written raises one error,
``ModelFileError``, naming the path and the way out, instead of torch's zip-reader messages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from spt.io.files import atomic_path
from spt.model.spt import SpectralTransformer
from spt.model.train import TrainConfig, _cpu_state, pick_device

MODEL_FORMAT = "spt-model/1"
RERUN = "rerun with `snakemake --forcerun train_spt`"


class ModelFileError(ValueError):
    """A model file cannot be read or written; the message names the file and what to do."""


def _unwritable(path: Path) -> str:
    """Why ``path`` cannot be created, in words (for a fault torch reports by its C++ source)."""
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            if not folder.is_dir():
                return f"{folder} is a file, not a folder"
            if folder != path.parent:
                return f"the folder {path.parent} does not exist and cannot be created"
            return f"the folder {folder} does not accept new files"
    return f"the folder {path.parent} does not exist"  # pragma: no cover


def save_model(
    path: str | os.PathLike[str],
    model: SpectralTransformer,
    train_config: TrainConfig | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write one self-contained .pt file (atomically) from which ``load_model`` rebuilds the model.

    It holds the architecture config, the state dict (which includes the standardisation
    buffers), the standardisation statistics and label covariance again as plain lists for
    readers without the model class, the training config and any ``extra`` plain values.
    """
    payload = {
        "format": MODEL_FORMAT,
        "model_config": model.config_dict(),
        "state_dict": _cpu_state(model),
        "standardisation": {
            name: getattr(model, name).tolist() for name in ("x_mean", "x_std", "y_mean", "y_std")
        },
        "label_cov": model.y_cov.tolist(),
        "train_config": None if train_config is None else train_config.to_dict(),
        "extra": extra or {},
    }
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except (OSError, RuntimeError) as exc:  # torch: "[enforce fail at inline_container.cc..."
        raise ModelFileError(
            f"cannot write model file {path}: {_unwritable(Path(path))}"
            + (f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else "")
        ) from None


def _read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The payload written by ``save_model``, checked for its format tag.

    Raises FileNotFoundError for a missing file and ModelFileError for an empty, truncated,
    corrupt or foreign one.
    """
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise ModelFileError(f"{path}: empty model file; {RERUN}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{path}: truncated or corrupt model file ({type(exc).__name__}: {first[:200]}); "
            + RERUN
        ) from None
    fmt = payload.get("format") if isinstance(payload, dict) else None
    if fmt != MODEL_FORMAT:
        raise ModelFileError(f"{path} is not an SPT model file (format {fmt!r}); {RERUN}")
    return payload


def load_model(
    path: str | os.PathLike[str], device: str | torch.device = "auto"
) -> SpectralTransformer:
    """Rebuild a model saved by ``save_model`` on ``device`` (see ``pick_device``), in eval mode."""
    payload = _read_model_file(path)
    try:
        model = SpectralTransformer.from_config(payload["model_config"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path}: model file does not match this version of the model "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); {RERUN}"
        ) from None
    return model.to(pick_device(device)).eval()


def load_train_config(path: str | os.PathLike[str]) -> TrainConfig | None:
    """The TrainConfig stored in a model file (None if it was saved without one)."""
    values = _read_model_file(path)["train_config"]
    return None if values is None else TrainConfig.from_dict(values)


def read_extra(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The plain values saved with a model (``save_model(..., extra=...)``), e.g. its trust."""
    return dict(_read_model_file(path).get("extra") or {})
