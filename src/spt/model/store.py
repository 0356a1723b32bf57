"""Model files: one self-contained .pt per trained SPT, read back for prediction."""

from __future__ import annotations

import os
from typing import Any

import torch

from spt.io.files import atomic_path
from spt.model.spt import SpectralTransformer
from spt.model.train import TrainConfig, _cpu_state, pick_device

MODEL_FORMAT = "spt-model/1"


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
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The payload written by ``save_model``, checked for its format tag."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not an SPT model file (format {payload.get('format')!r})")
    return payload


def load_model(
    path: str | os.PathLike[str], device: str | torch.device = "auto"
) -> SpectralTransformer:
    """Rebuild a model saved by ``save_model`` on ``device`` (see ``pick_device``), in eval mode."""
    payload = _read_model_file(path)
    model = SpectralTransformer.from_config(payload["model_config"])
    model.load_state_dict(payload["state_dict"])
    return model.to(pick_device(device)).eval()


def load_train_config(path: str | os.PathLike[str]) -> TrainConfig | None:
    """The TrainConfig stored in a model file (None if it was saved without one)."""
    values = _read_model_file(path)["train_config"]
    return None if values is None else TrainConfig.from_dict(values)
