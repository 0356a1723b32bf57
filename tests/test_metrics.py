"""Delta_P and the other scores on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spt.validation.metrics import (
    delta_p,
    mae,
    median_rel_residual,
    r2,
    rmse,
    robust_scatter,
    score_table,
)

PRED = np.array([1.1, 1.8, 3.0])
TRUE = np.array([1.0, 2.0, 3.0])
# relative residuals: +0.1, -0.1, 0; absolute residuals: 0.1, 0.2, 0


def test_scores_on_hand_computed_example() -> None:
    assert delta_p(PRED, TRUE) == pytest.approx(100 * 0.2 / 3)
    assert mae(PRED, TRUE) == pytest.approx(0.1)
    assert rmse(PRED, TRUE) == pytest.approx(math.sqrt(0.05 / 3))
    assert r2(PRED, TRUE) == pytest.approx(1 - 0.05 / 2.0)
    assert median_rel_residual(PRED, TRUE) == pytest.approx(0.0, abs=1e-12)
    # MAD of (+0.1, -0.1, 0) about its median 0 is 0.1
    assert robust_scatter(PRED, TRUE) == pytest.approx(1.4826 * 10.0)


def test_score_table_has_every_score_as_floats() -> None:
    table = score_table(list(PRED), TRUE)
    assert table == {
        "delta_p": pytest.approx(100 * 0.2 / 3),
        "mae": pytest.approx(0.1),
        "rmse": pytest.approx(math.sqrt(0.05 / 3)),
        "r2": pytest.approx(0.975),
        "median_rel_residual": pytest.approx(0.0, abs=1e-12),
        "robust_scatter": pytest.approx(14.826),
    }
    assert all(type(v) is float for v in table.values())


def test_bias_and_perfect_prediction() -> None:
    true = np.array([2.0, 4.0, 5.0, 10.0])
    assert median_rel_residual(1.1 * true, true) == pytest.approx(10.0)
    assert robust_scatter(1.1 * true, true) == pytest.approx(0.0, abs=1e-9)
    assert delta_p(true, true) == 0.0
    assert r2(true, true) == 1.0


@pytest.mark.parametrize(
    ("pred", "true", "match"),
    [
        ([1.0, np.nan], [1.0, 2.0], "NaN"),
        ([1.0, 2.0], [1.0, np.inf], "NaN"),
        ([1.0, 2.0], [1.0], "1-D of equal length"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "1-D of equal length"),
        ([], [], "empty"),
    ],
)
def test_invalid_inputs_raise(pred: list[float], true: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        score_table(np.array(pred), np.array(true))


def test_zero_truth_and_constant_truth_raise() -> None:
    with pytest.raises(ValueError, match="zeros"):
        delta_p(np.array([1.0, 2.0]), np.array([0.0, 2.0]))
    # absolute scores are fine with a zero truth
    assert mae(np.array([1.0, 2.0]), np.array([0.0, 2.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="constant"):
        r2(np.array([1.0, 2.0]), np.array([2.0, 2.0]))


def test_median_rel_residual_is_a_median_not_a_mean() -> None:
    """Skewed residuals 0, 0, +90 %: the median bias is 0 (the mean would be 30 %), and one
    outlier cannot move it."""
    true = np.array([1.0, 2.0, 4.0])
    pred = np.array([1.0, 2.0, 7.6])
    assert median_rel_residual(pred, true) == pytest.approx(0.0, abs=1e-12)
    # Even count: the mean of the two middle values, (-10 % + 20 %) / 2.
    true4 = np.array([1.0, 1.0, 1.0, 1.0])
    assert median_rel_residual(np.array([0.5, 0.9, 1.2, 5.0]), true4) == pytest.approx(5.0)
    assert score_table(pred, true)["median_rel_residual"] == pytest.approx(0.0, abs=1e-12)
