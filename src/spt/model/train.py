"""Training: seeded, resumable from a checkpoint, early-stopped on the validation loss.

Pure functions on arrays plus the checkpoint path; a thin Snakemake script calls
``train_model`` → ``spt.model.store.save_model``; ``spt.model.predict`` makes predictions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from spt.io.files import atomic_path
from spt.model.loss import make_loss
from spt.model.spt import TINY_MODEL, SpectralTransformer, SPTConfig
from spt.settings import from_mapping

CHECKPOINT_FORMAT = "spt-checkpoint/1"
HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "lr", "seconds"]
# TrainConfig fields that do not change the trained weights, so a checkpoint made with other
# values may be resumed
_NOT_FINGERPRINTED = ("device", "num_threads")


@dataclass
class TrainConfig:
    """Training settings; every value is ours (the paper states none).

    AdamW (decoupled weight decay, the standard transformer optimiser) with a per-epoch cosine
    decay to lr/100 ("cosine") or ReduceLROnPlateau on the validation loss ("plateau"); early
    stopping after ``patience`` epochs without a better validation loss; gradient-norm clipping.
    ``loss`` is a ``make_loss`` name and ``loss_options`` its keyword arguments (e.g.
    {"squared": True}); ``model`` holds SpectralTransformer keyword arguments (n_features and
    n_outputs come from the data).
    ``num_threads`` 0 leaves torch's thread count alone. Defaults equal config/config.yaml's
    ``train`` section (tests/test_settings.py).
    """

    epochs: int = 150
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 20
    seed: int = 0
    device: str = "auto"
    loss: str = "mahalanobis"
    loss_options: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    num_threads: int = 0
    scheduler: str = "cosine"
    grad_clip: float | None = 1.0
    eval_batch_size: int = 1024
    ema_decay: float = 0.99

    @classmethod
    def tiny(cls, **overrides: Any) -> TrainConfig:
        """A seconds-long setting for tests: 2 epochs of the tiny model on the CPU."""
        base: dict[str, Any] = {
            "epochs": 2,
            "batch_size": 32,
            "lr": 1e-2,
            "patience": 5,
            "device": "cpu",
            "model": dict(TINY_MODEL),
            "num_threads": 1,
            "ema_decay": 0.0,  # two epochs are too few steps for an average to forget the start
        }
        return cls(**(base | overrides))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping (e.g. the YAML config); unknown keys raise."""
        return from_mapping(cls, values, "train")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON/YAML/torch.save safe)."""
        return dataclasses.asdict(self)


def config_from_settings(
    train: Mapping[str, Any], model: Mapping[str, Any], seed: int, threads: int, **overrides: Any
) -> TrainConfig:
    """TrainConfig from the config's ``train`` and ``model`` sections (0 threads: the rule's)."""
    architecture = SPTConfig.from_mapping(model).to_dict()
    cfg = TrainConfig.from_dict({**train, "model": architecture, "seed": seed, **overrides})
    if cfg.num_threads == 0:
        cfg.num_threads = threads
    return cfg


def pick_device(requested: str | torch.device = "auto") -> torch.device:
    """Device for ``requested``: "auto" is CUDA when available, else CPU; absent CUDA raises."""
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if requested == "auto" else requested
    )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {requested!r} requested but CUDA is not available "
            f"(torch {torch.__version__}); use device 'cpu' or 'auto'"
        )
    return device


def _as_float32(name: str, a: np.ndarray, ndim: int = 2) -> np.ndarray:
    """Validate an input array (shape, finiteness) and return it as contiguous float32."""
    out = np.ascontiguousarray(a, dtype=np.float32)
    if out.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return out


def _fingerprint(cfg: TrainConfig, arrays: list[np.ndarray]) -> str:
    """Hash of everything that determines the trained weights: config and data."""
    digest = hashlib.sha256()
    settings = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_FINGERPRINTED}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for a in arrays:
        digest.update(str(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _reproducible(device: torch.device, num_threads: int) -> Iterator[None]:
    """Fork the torch RNGs, set threads and (on CPU) deterministic algorithms.

    Everything is restored on exit so training does not leak global state into the caller.
    Training draws all its randomness from torch (no numpy RNG is used, so none is seeded).
    """
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    cuda = [device.index or 0] if device.type == "cuda" else []
    try:
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _rng_state(device: torch.device, shuffle: torch.Generator) -> dict[str, Any]:
    """All RNG states training consumes, as tensors and plain values (weights_only-loadable)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device, shuffle: torch.Generator) -> None:
    """Inverse of ``_rng_state``."""
    torch.set_rng_state(state["torch"].cpu())
    shuffle.set_state(state["shuffle"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _make_scheduler(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau:
    """Per-epoch learning-rate schedule named by ``cfg.scheduler``."""
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.epochs, eta_min=cfg.lr / 100
        )
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, cfg.patience // 4)
        )
    raise ValueError(f"unknown scheduler {cfg.scheduler!r}; choose 'cosine' or 'plateau'")


def _cpu_state(module: nn.Module) -> dict[str, Tensor]:
    """A detached CPU copy of a module's state dict (for best-weights snapshots and files)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[Tensor]:
    """Index batches over n rows, shuffled if a generator is given.

    A trailing batch of a single row is merged into the previous one: BatchNorm in training
    mode needs more than one row per channel when there is a single token.
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    parts = list(order.split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def _train_epoch(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: Tensor,
    y: Tensor,
    cfg: TrainConfig,
    shuffle: torch.Generator,
    noise: Tensor | None = None,
    ema: AveragedModel | None = None,
) -> float:
    """One pass over shuffled mini-batches; returns the mean training loss (train mode).

    With ``noise`` (n, draws, k), each row gets one of its noise realisations added, drawn
    with the shuffle generator (so a resumed run draws the same ones). ``ema`` is updated after
    every step.
    """
    model.train()
    total = torch.zeros((), device=X.device)
    for idx in _batches(len(X), cfg.batch_size, shuffle):
        pick = (
            None if noise is None else torch.randint(noise.shape[1], idx.shape, generator=shuffle)
        )
        idx = idx.to(X.device)
        xb = X[idx] if pick is None else X[idx] + noise[idx, pick.to(X.device)]
        loss = loss_fn(model(xb, encoded=True), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        total += loss.detach() * len(idx)
    return float(total) / len(X)


@torch.no_grad()
def _mean_loss(model: nn.Module, loss_fn: nn.Module, X: Tensor, y: Tensor, batch: int) -> float:
    """Loss over a whole split in eval mode (dropout off, BatchNorm running statistics)."""
    model.eval()
    total = 0.0
    for idx in _batches(len(X), batch, None):
        total += float(loss_fn(model(X[idx], encoded=True), y[idx])) * len(idx)
    return total / len(X)


def train_model(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    cfg: TrainConfig,
    checkpoint_path: str | os.PathLike[str],
    progress: bool = True,
    callback: Callable[[int, pd.DataFrame], None] | None = None,
    X_noise: np.ndarray | None = None,
    stop_epoch: int | None = None,
) -> tuple[SpectralTransformer, pd.DataFrame]:
    """Train an SPT with early stopping; resume from ``checkpoint_path`` if it matches.

    Inputs are PCA vectors (n, k) and physical labels (n, 2). Standardisation statistics and the
    label covariance come from the training split only and live in the model's buffers. A
    checkpoint (model, optimiser, scheduler, RNG states, history, best weights) is written
    atomically after every epoch; a checkpoint made from the same config and data is resumed
    and, on the CPU, gives bit-identical weights to an uninterrupted run. ``callback(epoch,
    history)`` runs after each checkpoint (raising from it interrupts training). Returns the
    best-validation model in eval mode and the per-epoch history (HISTORY_COLUMNS).
    ``X_noise`` (n_train, draws, k; `spt.prep.features.projected_noise`) turns on noise
    augmentation: every epoch each training vector gets one of its own noise draws added.
    ``stop_epoch`` trains for exactly that many epochs (the schedule still spans
    ``cfg.epochs``) and returns the last weights, not the best-validation ones: a cross-fitted
    fold model (`spt.model.crossfit`) trained as long as the main one, whose validation rows
    are then only reported, never used to choose.
    """
    if stop_epoch is not None and not 1 <= stop_epoch <= cfg.epochs:
        raise ValueError(f"stop_epoch must be in [1, {cfg.epochs}], got {stop_epoch}")
    Xt, Xv = _as_float32("X_train", X_train), _as_float32("X_val", X_val)
    yt, yv = _as_float32("y_train", y_train), _as_float32("y_val", y_val)
    if len(Xt) != len(yt) or len(Xv) != len(yv) or Xt.shape[1] != Xv.shape[1]:
        raise ValueError("X/y lengths or feature counts do not match between the splits")
    noise = None if X_noise is None else _as_float32("X_noise", X_noise, ndim=3)
    if noise is not None and (noise.shape[0] != len(Xt) or noise.shape[2] != Xt.shape[1]):
        raise ValueError(
            f"X_noise {noise.shape} must be (n_train, draws, n_features) = "
            f"({len(Xt)}, draws, {Xt.shape[1]})"
        )
    if len(Xt) < 2 or len(Xv) < 1:
        raise ValueError("need at least 2 training and 1 validation rows")
    device = pick_device(cfg.device)
    path = Path(checkpoint_path)
    arrays = [Xt, yt, Xv, yv] + ([] if noise is None else [noise])
    if stop_epoch is not None:
        arrays.append(np.array([stop_epoch]))
    fingerprint = _fingerprint(cfg, arrays)

    with _reproducible(device, cfg.num_threads):
        torch.manual_seed(cfg.seed)
        shuffle = torch.Generator().manual_seed(cfg.seed)
        model = SpectralTransformer(Xt.shape[1], n_outputs=yt.shape[1], **cfg.model)
        model.set_data_stats(Xt, yt)
        model.to(device)
        # The loss compares labels in the head's space (log age and mass with log_labels).
        yt, yv = (model.encode_labels(a).astype(np.float32) for a in (yt, yv))
        loss_fn = make_loss(cfg.loss, yt, **cfg.loss_options).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = _make_scheduler(cfg, optimizer)
        ema = None
        if cfg.ema_decay > 0:
            decay = get_ema_multi_avg_fn(cfg.ema_decay)
            ema = AveragedModel(model, multi_avg_fn=decay, use_buffers=True)
        scored = model if ema is None else ema.module
        history: list[dict[str, float]] = []
        best = {"loss": math.inf, "epoch": 0, "state": _cpu_state(scored)}
        bad_epochs, done, start = 0, False, 0

        ckpt = _read_checkpoint(path, fingerprint, device)
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            _set_rng_state(ckpt["rng"], device, shuffle)
            if ema is not None:
                ema.load_state_dict(ckpt["ema"])
            history = [dict(zip(HISTORY_COLUMNS, row, strict=True)) for row in ckpt["history"]]
            best = {"loss": ckpt["best_loss"], "epoch": ckpt["best_epoch"], "state": ckpt["best"]}
            bad_epochs, done, start = ckpt["bad_epochs"], ckpt["done"], ckpt["epoch"]
            logging.getLogger(__name__).info(
                "resuming from checkpoint %s at epoch %d of %d (best so far: epoch %d)%s",
                path, start, cfg.epochs, best["epoch"], ", already finished" if done else "",
            )  # fmt: skip

        X_t, y_t = torch.from_numpy(Xt).to(device), torch.from_numpy(yt).to(device)
        X_v, y_v = torch.from_numpy(Xv).to(device), torch.from_numpy(yv).to(device)
        noise_t = None if noise is None else torch.from_numpy(noise).to(device)
        bar = tqdm(total=cfg.epochs, initial=start, disable=not progress, desc="train SPT")
        for epoch in range(start + 1, cfg.epochs + 1):
            if done:
                break
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            train_loss = _train_epoch(
                model, loss_fn, optimizer, X_t, y_t, cfg, shuffle, noise_t, ema
            )
            val_loss = _mean_loss(scored, loss_fn, X_v, y_v, cfg.eval_batch_size)
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss)
            else:
                scheduler.step()
            if stop_epoch is not None:
                done = epoch >= stop_epoch
                if done:
                    best = {"loss": val_loss, "epoch": epoch, "state": _cpu_state(scored)}
            elif val_loss < best["loss"]:
                best = {"loss": val_loss, "epoch": epoch, "state": _cpu_state(scored)}
                bad_epochs = 0
            else:
                bad_epochs += 1
            done = done or bad_epochs >= cfg.patience or epoch == cfg.epochs
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "lr": lr,
                    "seconds": time.perf_counter() - t0,
                }
            )
            _write_checkpoint(
                path,
                {
                    "format": CHECKPOINT_FORMAT,
                    "fingerprint": fingerprint,
                    "config": cfg.to_dict(),
                    "epoch": epoch,
                    "done": done,
                    "model": _cpu_state(model),
                    "ema": None if ema is None else ema.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(device, shuffle),
                    "history": [[row[c] for c in HISTORY_COLUMNS] for row in history],
                    "best": best["state"],
                    "best_loss": best["loss"],
                    "best_epoch": best["epoch"],
                    "bad_epochs": bad_epochs,
                },
            )
            bar.update(1)
            bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}", best=best["epoch"])
            if callback is not None:
                callback(epoch, _history_frame(history))
        bar.close()

    model.load_state_dict(best["state"])
    model.eval()
    return model, _history_frame(history)


def _history_frame(rows: list[dict[str, float]]) -> pd.DataFrame:
    """History rows as a DataFrame with integer epochs."""
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    return frame.astype({"epoch": "int64"})


def _write_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temporary file beside ``path``, then rename it into place."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _read_checkpoint(path: Path, fingerprint: str, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it exists and was made from the same config and data."""
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # unreadable: start afresh rather than fail the run
        warnings.warn(f"ignoring unreadable checkpoint {path}: {err}", stacklevel=3)
        return None
    if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("fingerprint") != fingerprint:
        warnings.warn(
            f"checkpoint {path} was made from another config or data; starting afresh",
            stacklevel=3,
        )
        return None
    return ckpt
