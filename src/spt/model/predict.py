"""Monte-Carlo-dropout prediction (the paper's uncertainty) and the ``predict`` settings."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from spt.model.attention import TokenDropout
from spt.model.spt import SpectralTransformer
from spt.model.train import _as_float32
from spt.model.uncertainty import ERROR_COVARIATES
from spt.settings import from_mapping


@dataclass(frozen=True)
class PredictConfig:
    """The config's ``predict`` section: MC-dropout passes T and the per-star error model (ours).

    ``flag_percentile`` sets the validation percentile of the quality flags' thresholds
    (`spt.model.flags`). ``calibration_folds`` >= 2 fits the per-star error model
    (`spt.model.uncertainty`) of the paper's model on that many cross-fitted folds of the
    training and validation stars (`spt.model.crossfit`); 0 on the validation split alone.
    ``error_covariates``: what the error model's variance is scaled by
    (`spt.model.uncertainty.ERROR_COVARIATES`); ``distance_by_state``: the distance from the
    training set counted among training stars of the star's own evolutionary state
    (`spt.model.trust.ParamDensity`).
    """

    mc_passes: int = 50
    flag_percentile: float = 99.0
    calibration_folds: int = 3
    error_covariates: list[str] = field(default_factory=lambda: list(ERROR_COVARIATES))
    distance_by_state: bool = True

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | PredictConfig) -> PredictConfig:
        """Build from the config's ``predict`` section (a PredictConfig is returned as is)."""
        if isinstance(values, PredictConfig):
            return values
        return from_mapping(cls, values, "predict")


DEFAULT_MC_PASSES = PredictConfig.mc_passes

# MC-dropout chunking: a bound on the largest activation of one batched forward pass. On one
# CPU thread (a catalogue job), chunks whose largest activation is 5-10 MB ran at 65-67 % of the
# matmul ceiling, 24 MB at 58 % and 40 MB or more below 50 % (they outgrow the cache); measured
# with benchmarks/bench_model.py --threads 1 --sweep. The chunk moves only the last bits
# (~1e-7 relative): the catalogue and `spt predict` use the same chunks.
MC_ACTIVATION_BYTES = {"cpu": 10 * 2**20, "cuda": 2 * 2**30}


def row_seeds(keys: np.ndarray, seed: int) -> list[int]:
    """One seed per row of ``keys`` (a spectrum's obsid, or its PCA vector): ``seed`` mixed
    with a checksum of the row's bytes, so a spectrum's MC-dropout passes depend on the
    spectrum and the seed, never on its batch."""
    rows = np.asarray(keys)
    rows = rows.astype(np.int64 if rows.dtype.kind in "iu" else np.float32).reshape(len(rows), -1)
    return [(int(seed) * 0x9E3779B1 + zlib.crc32(r.tobytes())) % 2**63 for r in rows]


class _RowDropout:
    """MC dropout whose masks come from one generator per spectrum (`row_seeds`).

    The model runs in eval mode; a forward hook on each dropout layer multiplies its output
    by a mask drawn, for the ``passes`` consecutive rows of each spectrum, from that
    spectrum's own generator (a `TokenDropout` one mask per pass and channel, shared by the
    tokens; a plain dropout one per element). So a catalogue row and a user's own call on the
    same spectrum give the same numbers whatever else is in the batch. Each spectrum's
    uniforms for all layers are drawn in one call (`draw`): the layers' mask sizes are
    learnt once from a one-row probe pass.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.sizes: list[tuple[int, ...]] = []  # mask shape per row, per hooked call
        self.uniforms: torch.Tensor | None = None  # (spectra, passes * total mask size)
        self.handles: list[Any] = []
        self.call = 0

    def __enter__(self) -> _RowDropout:
        self.modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        for m in self.model.modules():
            if isinstance(m, nn.Dropout) and m.p > 0:
                self.handles.append(m.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        for m, mode in self.modes.items():
            m.train(mode)

    def draw(self, x: torch.Tensor, seeds: Sequence[int], passes: int) -> None:
        """Draw the uniforms of the next forward pass of ``x`` (one generator per row)."""
        if not self.sizes and self.handles:
            self.uniforms = None
            self.model(x[:1])  # probe: the hooks record each layer's mask shape
        total = passes * sum(math.prod(shape) for shape in self.sizes)
        rows = [torch.rand(total, generator=torch.Generator().manual_seed(s)) for s in seeds]
        self.uniforms = torch.stack(rows) if rows else torch.empty(0, total)
        self.passes, self.call, self.offset = passes, 0, 0

    def _hook(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        token = isinstance(module, TokenDropout)
        shape = ((1,) * (output.ndim - 2) + output.shape[-1:]) if token else output.shape[1:]
        if self.uniforms is None:  # the probe pass
            self.sizes.append(tuple(shape))
            return output
        keep_p = 1.0 - float(module.p)
        size = self.passes * math.prod(shape)
        u = self.uniforms[:, self.offset : self.offset + size]
        self.offset += size
        keep = (u < keep_p).reshape(output.shape[0], *shape)
        return output * keep.to(device=output.device, dtype=output.dtype).div_(keep_p)


def _model_device(model: nn.Module) -> torch.device:
    """The device holding the model's parameters."""
    return next(model.parameters()).device


def predict(
    model: SpectralTransformer, X: np.ndarray, batch_size: int = 4096
) -> NDArray[np.float64]:
    """Deterministic prediction (dropout off), (n, n_outputs) in physical units."""
    Xf = _as_float32("X", X)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, len(Xf), batch_size):
                xb = torch.from_numpy(Xf[start : start + batch_size]).to(device)
                out.append(model(xb).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.float64)


def mc_batch_size(model: SpectralTransformer, passes: int, device: torch.device) -> int:
    """Spectra per MC-dropout forward pass so that the widest activation fits MC_ACTIVATION_BYTES.

    The widest activation is the fused Q/K/V projection (or the FFN hidden layer): one row of
    that width per token of each of the batch × passes sequences.
    """
    cfg = model.config_dict()
    width = max(3 * cfg["n_heads"] * cfg["d_head"], cfg["ffn_dim"], cfg["d_model"])
    budget = MC_ACTIVATION_BYTES.get(device.type, MC_ACTIVATION_BYTES["cpu"])
    return max(1, budget // (4 * width * cfg["n_tokens"] * passes))


def predict_mc(
    model: SpectralTransformer,
    X: np.ndarray,
    passes: int = DEFAULT_MC_PASSES,
    batch_size: int | None = None,
    seed: int = 0,
    ids: np.ndarray | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Monte-Carlo-dropout mean and std (n, n_outputs), physical units, for PCA vectors X.

    Each chunk of ``batch_size`` spectra (default: ``mc_batch_size``) is replicated ``passes``
    times along the batch axis (after the deterministic embedding) and run as ONE forward
    pass, so memory is bounded by batch_size × passes sequences. Dropout is on, BatchNorm uses
    its running statistics. The std is the sample std over passes (ddof 1; zero when passes is
    1). Both are taken in the head's space and converted: with ``log_labels`` the mean is the
    geometric mean of the passes and the std its first-order image, mean × std(log).
    Each spectrum's dropout masks come from its own generator (`row_seeds` of its ``ids``
    entry, its obsid; without ids, of its row of X): a row's result depends on the row,
    ``seed`` and ``passes`` only, not on the batch or its neighbours; the caller's RNG is
    untouched. Give ids where the spectra have them: X's last bits vary with the BLAS thread
    count, and a checksum of X turns that into other masks.
    """
    if passes < 1:
        raise ValueError("passes must be >= 1")
    Xf = _as_float32("X", X)
    device = _model_device(model)
    batch_size = batch_size or mc_batch_size(model, passes, device)
    if ids is not None and len(ids) != len(Xf):
        raise ValueError(f"ids has {len(ids)} rows, X {len(Xf)}")
    seeds = row_seeds(Xf if ids is None else np.asarray(ids, np.int64), seed)
    means, stds = [], []
    with _RowDropout(model) as dropout, torch.inference_mode():
        for start in range(0, len(Xf), batch_size):
            xb = torch.from_numpy(Xf[start : start + batch_size]).to(device)
            dropout.draw(xb, seeds[start : start + batch_size], passes)
            samples = model(xb, repeats=passes, encoded=True).view(len(xb), passes, -1).double()
            spread = samples.std(dim=1) if passes > 1 else torch.zeros_like(samples[:, 0])
            mean, spread = model.decode_moments(samples.mean(dim=1), spread)
            means.append(mean.cpu())
            stds.append(spread.cpu())
    if not means:
        k = int(model.y_mean.shape[0])
        return np.zeros((0, k)), np.zeros((0, k))
    return torch.cat(means).numpy(), torch.cat(stds).numpy()
