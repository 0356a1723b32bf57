"""Mahalanobis, MSE and z-score MSE losses and their factory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spt.model import MahalanobisLoss, MSELoss, ZScoreMSELoss, make_loss

torch.set_num_threads(1)


@pytest.fixture
def labels() -> np.ndarray:
    """Correlated (age in Gyr, mass in Msun) labels like a red-giant sample."""
    rng = np.random.default_rng(0)
    mass = rng.uniform(0.9, 2.2, 300)
    age = 10.0 * mass**-2.5 * np.exp(rng.normal(0, 0.15, 300))
    return np.c_[age, mass]


def test_mahalanobis_matches_numpy(labels: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    pred = labels + rng.normal(0, [1.0, 0.1], labels.shape)
    cov = np.cov(labels, rowvar=False)
    r = pred - labels
    d2 = np.einsum("ni,ij,nj->n", r, np.linalg.inv(cov), r)
    p, t = torch.as_tensor(pred), torch.as_tensor(labels)
    assert float(MahalanobisLoss(cov, squared=True)(p, t)) == pytest.approx(d2.mean(), rel=1e-10)
    assert float(MahalanobisLoss(cov, eps=0.0)(p, t)) == pytest.approx(
        np.sqrt(d2).mean(), rel=1e-10
    )
    # the default eps shifts the distance by at most sqrt(eps) = 1e-6
    assert float(MahalanobisLoss(cov)(p, t)) == pytest.approx(np.sqrt(d2).mean(), abs=1e-6)
    # make_loss estimates the same covariance from the training labels
    assert float(make_loss("mahalanobis", labels, squared=True)(p, t)) == pytest.approx(d2.mean())


def test_mahalanobis_zero_at_truth_with_finite_gradient(labels: np.ndarray) -> None:
    loss = make_loss("mahalanobis", labels)
    t = torch.as_tensor(labels[:10])
    p = t.clone().requires_grad_(True)
    value = loss(p, t)
    value.backward()
    assert value.item() == 0.0
    assert p.grad is not None and torch.all(torch.isfinite(p.grad))
    assert float(p.grad.abs().max()) == 0.0


def test_mahalanobis_invariant_to_label_units(labels: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    pred = labels + rng.normal(0, [1.0, 0.1], labels.shape)
    to_myr = np.array([1000.0, 1.0])  # age in Myr instead of Gyr
    gyr = make_loss("mahalanobis", labels)(torch.as_tensor(pred), torch.as_tensor(labels))
    myr = make_loss("mahalanobis", labels * to_myr)(
        torch.as_tensor(pred * to_myr), torch.as_tensor(labels * to_myr)
    )
    assert float(myr) == pytest.approx(float(gyr), rel=1e-9)
    # the raw MSE is not invariant: it is dominated by whichever label has the larger numbers
    mse_gyr = MSELoss()(torch.as_tensor(pred), torch.as_tensor(labels))
    mse_myr = MSELoss()(torch.as_tensor(pred * to_myr), torch.as_tensor(labels * to_myr))
    assert float(mse_myr) > 1e5 * float(mse_gyr)


def test_mahalanobis_with_diagonal_cov_is_zscore(labels: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    pred = torch.as_tensor(labels + rng.normal(0, [1.0, 0.1], labels.shape))
    t = torch.as_tensor(labels)
    std = labels.std(axis=0, ddof=1)
    maha = MahalanobisLoss(np.diag(std**2), squared=True)(pred, t)
    # squared Mahalanobis sums over the k = 2 labels, the z-score MSE averages them
    assert float(maha) == pytest.approx(2 * float(ZScoreMSELoss(std)(pred, t)), rel=1e-12)
    assert float(make_loss("zscore_mse", labels)(pred, t)) == pytest.approx(
        float(ZScoreMSELoss(std)(pred, t))
    )


def test_mse_and_zscore_match_numpy() -> None:
    pred = np.array([[1.0, 2.0], [3.0, 5.0]])
    true = np.array([[2.0, 2.0], [3.0, 3.0]])
    p, t = torch.as_tensor(pred), torch.as_tensor(true)
    assert float(MSELoss()(p, t)) == pytest.approx((1 + 0 + 0 + 4) / 4)
    assert float(ZScoreMSELoss(np.array([1.0, 2.0]))(p, t)) == pytest.approx((1 + 0 + 0 + 1) / 4)


@pytest.mark.parametrize("squared", [False, True])
def test_mahalanobis_gradcheck(squared: bool) -> None:
    cov = np.array([[4.0, -0.6], [-0.6, 0.25]])
    loss = MahalanobisLoss(cov, squared=squared)
    torch.manual_seed(0)
    pred = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    target = torch.randn(5, 2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: loss(p, target), (pred,))


def test_invalid_inputs_raise(labels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="positive definite"):
        MahalanobisLoss(np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(ValueError, match="symmetric"):
        MahalanobisLoss(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        MahalanobisLoss(np.ones(2))
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("huber", labels)
    with pytest.raises(ValueError, match="NaN"):
        make_loss("mse", np.array([[1.0, np.nan], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="positive"):
        ZScoreMSELoss(np.array([1.0, 0.0]))
