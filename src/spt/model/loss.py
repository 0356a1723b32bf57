"""Losses on (age, mass) in physical units: Mahalanobis (the paper's), and MSE / z-score MSE.

The three are the three views of the paper's Fig. 3: raw Euclidean (age dominates because its
numbers are larger), per-label z-score (scales balanced, correlation ignored) and Mahalanobis
(scales and the age-mass correlation both accounted for by the label covariance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

#: Every loss by name (config ``train.loss``, ``ablation.losses``) with its title in tables and
#: figures; config/schema.yaml lists the same names (tests/test_settings.py checks it).
LOSS_TITLES: dict[str, str] = {
    "mse": "MSE",
    "zscore_mse": "z-scored MSE",
    "mahalanobis": "Mahalanobis",
}
LOSS_NAMES: tuple[str, ...] = tuple(LOSS_TITLES)


class MahalanobisLoss(nn.Module):
    """Mean Mahalanobis distance sqrt(r^T S^-1 r) over the batch, r = pred − target.

    ``cov`` is the label covariance S (k × k, from the training split); its inverse is kept as a
    buffer. ``squared=True`` gives the squared distance instead. The unsquared distance is
    computed as sqrt(d² + eps) − sqrt(eps): exactly 0 at the truth, with a finite gradient there.
    """

    def __init__(self, cov: Tensor | np.ndarray, squared: bool = False, eps: float = 1e-12) -> None:
        super().__init__()
        cov_t = torch.as_tensor(np.asarray(cov, dtype=np.float64))
        if cov_t.ndim != 2 or cov_t.shape[0] != cov_t.shape[1]:
            raise ValueError(f"covariance must be a square matrix, got shape {tuple(cov_t.shape)}")
        if not torch.allclose(cov_t, cov_t.T):
            raise ValueError("covariance must be symmetric")
        chol, info = torch.linalg.cholesky_ex(cov_t)
        if int(info) != 0:
            raise ValueError("covariance must be positive definite (are two labels collinear?)")
        self.squared = squared
        self.eps = eps
        self.register_buffer("precision", torch.cholesky_inverse(chol))

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Batch-mean (squared) Mahalanobis distance between ``pred`` and ``target`` (n, k)."""
        r = pred - target
        d2 = torch.einsum("ni,ij,nj->n", r, self.precision.to(r.dtype), r)
        if self.squared:
            return d2.mean()
        return (torch.sqrt(d2 + self.eps) - self.eps**0.5).mean()


class MSELoss(nn.Module):
    """Mean squared error over all elements, in physical units (the raw Euclidean view)."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Mean of (pred − target)² over batch and labels."""
        return torch.mean((pred - target) ** 2)


class ZScoreMSELoss(nn.Module):
    """Mean squared error of residuals divided by each label's training std (z-score view)."""

    def __init__(self, std: Tensor | np.ndarray) -> None:
        super().__init__()
        std_t = torch.as_tensor(np.asarray(std, dtype=np.float64))
        if torch.any(std_t <= 0):
            raise ValueError("label standard deviations must be positive")
        self.register_buffer("inv_std", 1.0 / std_t)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Mean of ((pred − target) / std)² over batch and labels."""
        return torch.mean(((pred - target) * self.inv_std.to(pred.dtype)) ** 2)


def make_loss(name: str, y_train: np.ndarray, **kwargs: Any) -> nn.Module:
    """Build loss ``name`` with the statistics it needs estimated from training labels (n, k).

    Extra keyword arguments go to the loss (e.g. ``squared``, ``eps`` for "mahalanobis").
    """
    y = np.asarray(y_train, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2:
        raise ValueError(f"y_train must be (n >= 2, k), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y_train contains NaN or infinite values")
    if name == "mahalanobis":
        return MahalanobisLoss(np.atleast_2d(np.cov(y, rowvar=False)), **kwargs)
    if name == "mse":
        return MSELoss(**kwargs)
    if name == "zscore_mse":
        return ZScoreMSELoss(y.std(axis=0, ddof=1), **kwargs)
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSS_NAMES}")
