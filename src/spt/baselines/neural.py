"""Neural-network baselines in torch: an MLP on the PCA features and a 1-D CNN on full spectra."""

from __future__ import annotations

import copy
import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spt.baselines.base import (
    Array,
    Split,
    _GridBaseline,
)


class _TorchBaseline(_GridBaseline):
    """Shared mini-batch training (AdamW, MSE on standardised labels, early stopping on val)."""

    torch_defaults: ClassVar[Mapping[str, Any]] = {
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "batch_size": 64,
        "epochs": 300,
        "patience": 20,
        "dropout": 0.1,
    }

    @abstractmethod
    def _module(self, s: Mapping[str, Any], x: np.ndarray, n_out: int) -> nn.Module:
        """The untrained network for training inputs ``x`` (built after the RNG is seeded)."""

    def _to_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32))

    @staticmethod
    def _forward(module: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        module.eval()
        with torch.inference_mode():
            return torch.cat([module(x[i : i + batch]) for i in range(0, len(x), batch)])

    def _fit_one(self, s: Mapping[str, Any], x: Any, z: Array, x_val: Any, z_val: Array) -> Any:
        torch.manual_seed(self.seed)  # every grid point starts from the same RNG state
        xt, zt = self._to_tensor(x), torch.as_tensor(z, dtype=torch.float32)
        xv, zv = self._to_tensor(x_val), torch.as_tensor(z_val, dtype=torch.float32)
        module = self._module(s, x, zt.shape[1])
        loader = DataLoader(
            TensorDataset(xt, zt),
            batch_size=int(s["batch_size"]),
            shuffle=True,
            drop_last=len(xt) > int(s["batch_size"]),
            generator=torch.Generator().manual_seed(self.seed),
        )
        opt = torch.optim.AdamW(
            module.parameters(), lr=float(s["lr"]), weight_decay=float(s["weight_decay"])
        )
        best, best_state, stale = math.inf, copy.deepcopy(module.state_dict()), 0
        for epoch in range(1, int(s["epochs"]) + 1):
            module.train()
            for xb, zb in loader:
                opt.zero_grad()
                nn.functional.mse_loss(module(xb), zb).backward()
                opt.step()
            loss = float(nn.functional.mse_loss(self._forward(module, xv), zv))
            if loss < best:
                best, best_state, stale = loss, copy.deepcopy(module.state_dict()), 0
                module.n_iter_ = epoch
            else:
                stale += 1
                if stale >= int(s["patience"]):
                    break
        module.load_state_dict(best_state)
        return module

    def _predict_one(self, model: nn.Module, x: Any) -> tuple[Array, None]:
        return self._forward(model, self._to_tensor(x)).double().numpy(), None


class _Standardise(nn.Module):
    """Fixed per-feature standardisation stored in the network (so it travels with it)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer(
            "std", torch.as_tensor(np.where(std > 0, std, 1.0), dtype=torch.float32)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MLPBaseline(_TorchBaseline):
    """Fully connected network (GELU, dropout) on the standardised PCA features."""

    name = "mlp"
    defaults: ClassVar[Mapping[str, Any]] = {
        **_TorchBaseline.torch_defaults,
        "hidden": [256, 128],
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {
        "hidden": [[128, 64], [256, 128]],
        "weight_decay": [1e-4, 1e-2],
    }

    def _module(self, s: Mapping[str, Any], x: np.ndarray, n_out: int) -> nn.Module:
        layers: list[nn.Module] = [_Standardise(x.mean(axis=0), x.std(axis=0))]
        width = x.shape[1]
        for h in s["hidden"]:
            layers += [nn.Linear(width, int(h)), nn.GELU(), nn.Dropout(float(s["dropout"]))]
            width = int(h)
        return nn.Sequential(*layers, nn.Linear(width, n_out))


class CNN1DBaseline(_TorchBaseline):
    """1-D CNN on the full normalised spectrum, in the style of StarNet and astroNN.

    Blocks of convolution ("same" padding, ReLU) and max-pooling, then dense layers. Input:
    flux − 1 clipped to [-1, 1], masked pixels 0 (the continuum), so bad pixels and spikes
    cannot dominate. Pooling after every block keeps a 3,600-pixel spectrum cheap on a CPU.
    """

    name = "cnn1d"
    inputs = "spectra"
    defaults: ClassVar[Mapping[str, Any]] = {
        **_TorchBaseline.torch_defaults,
        "epochs": 30,
        "patience": 5,
        "filters": [8, 16],
        "kernel_size": 7,
        "pool": 4,
        "dense": [128, 64],
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {"lr": [1e-3, 3e-3]}

    def _inputs(self, split: Split) -> NDArray[np.float32]:
        assert self.spectra is not None
        flux, ivar = self.spectra.rows(split["obsid"])
        return np.where(ivar > 0, np.clip(flux - 1.0, -1.0, 1.0), 0.0).astype(np.float32)

    def _module(self, s: Mapping[str, Any], x: np.ndarray, n_out: int) -> nn.Module:
        layers: list[nn.Module] = [nn.Unflatten(1, (1, x.shape[1]))]
        channels = 1
        for f in s["filters"]:
            layers += [
                nn.Conv1d(channels, int(f), int(s["kernel_size"]), padding="same"),
                nn.ReLU(),
                nn.MaxPool1d(int(s["pool"])),
            ]
            channels = int(f)
        layers.append(nn.Flatten())
        width = nn.Sequential(*layers)(torch.zeros(1, x.shape[1])).shape[1]
        for h in s["dense"]:
            layers += [nn.Linear(width, int(h)), nn.ReLU(), nn.Dropout(float(s["dropout"]))]
            width = int(h)
        return nn.Sequential(*layers, nn.Linear(width, n_out))


# --------------------------------------------------------------------------- The Cannon
