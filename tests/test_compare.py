"""Comparisons beyond one seed (spt.validation.compare): seed spread and the paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from spt.baselines import BASELINES, make_baseline
from spt.validation.compare import (
    SEEDED_BASELINES,
    CompareConfig,
    compare_models,
    paired_bootstrap,
    replicate_seed,
    seed_delta_p,
)
from spt.validation.metrics import delta_p


def errors_of(rel: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Predictions whose signed relative errors are ``rel`` (fractions)."""
    return true * (1.0 + rel)


def test_seed_spread_uses_ddof_1_and_one_seed_has_no_std() -> None:
    true = np.full(50, 10.0)
    preds = np.stack([errors_of(np.full(50, r), true) for r in (0.10, 0.12, 0.14)])
    spread = seed_delta_p(preds, true)
    assert spread.values == pytest.approx((10.0, 12.0, 14.0))
    assert spread.mean == pytest.approx(12.0)
    assert spread.std == pytest.approx(2.0)  # ddof 0 would give 1.633
    assert (spread.n, spread.n_stars) == (3, 50)
    one = seed_delta_p(preds[0], true)
    assert one.n == 1 and one.mean == pytest.approx(10.0) and np.isnan(one.std)


def test_identical_errors_give_a_zero_width_interval() -> None:
    """Two models with the same large, star-dependent errors: paired resampling cancels them
    exactly; resampling the models' stars independently would give an interval of many points."""
    rng = np.random.default_rng(1)
    true = rng.uniform(1.0, 12.0, 500)
    pred = errors_of(rng.normal(0.0, 0.6, 500), true)
    pair = paired_bootstrap(pred, pred.copy(), true, n_boot=500, seed=3)
    assert pair.difference == 0.0 and pair.low == 0.0 and pair.high == 0.0
    assert not pair.excludes_zero


def test_sign_is_model_minus_reference_and_interval_holds_the_known_difference() -> None:
    """A model whose every star is 3 points worse than the reference, on top of a large
    shared star-to-star scatter: the difference is +3 with a narrow interval around it."""
    rng = np.random.default_rng(2)
    true = rng.uniform(1.0, 12.0, 400)
    shared = np.abs(rng.normal(0.0, 0.4, 400))
    extra = 0.03 + rng.normal(0.0, 0.01, 400)
    ref, worse = errors_of(shared, true), errors_of(shared + extra, true)
    known = delta_p(worse, true) - delta_p(ref, true)
    pair = paired_bootstrap(worse, ref, true, n_boot=2000, seed=4)
    assert pair.difference == pytest.approx(known)
    assert pair.low < known < pair.high
    assert 2.8 < pair.low and pair.high < 3.2 and pair.excludes_zero
    flipped = paired_bootstrap(ref, worse, true, n_boot=2000, seed=4)
    assert flipped.median == pytest.approx(-pair.median, abs=0.02)
    assert flipped.high < 0.0 and flipped.excludes_zero


def test_interval_covers_the_true_difference_at_its_level() -> None:
    """Over many test sets drawn from one population, the 90 % interval holds the population's
    difference about 90 % of the time (an interval off by a shift or a factor would not)."""
    rng = np.random.default_rng(5)
    hits, trials = 0, 200
    for k in range(trials):
        true = np.full(150, 5.0)
        ref = 0.3 + np.abs(rng.normal(0.0, 0.2, 150))  # errors > 0: |ref + delta| = ref + delta
        model = ref + rng.normal(0.01, 0.05, 150)  # per-star difference: mean 1 point
        d = paired_bootstrap(
            errors_of(model, true), errors_of(ref, true), true, n_boot=400, ci=0.9, seed=k
        )
        hits += d.low <= 1.0 <= d.high
    assert 0.82 <= hits / trials <= 0.97


def test_seeds_are_averaged_in_delta_p_not_in_predictions() -> None:
    """Two seeds with opposite errors: an ensemble would be perfect (Delta_P 0), each run has
    Delta_P 20 %; the difference to a 10 % reference is +10 points, not −10."""
    true = np.full(100, 4.0)
    seeds = np.stack([errors_of(np.full(100, 0.2), true), errors_of(np.full(100, -0.2), true)])
    ref = errors_of(np.full(100, 0.1), true)
    pair = paired_bootstrap(seeds, ref, true, n_boot=100)
    assert pair.difference == pytest.approx(10.0) and pair.median == pytest.approx(10.0)


def test_nan_rows_are_left_out_of_both_models() -> None:
    rng = np.random.default_rng(6)
    true = rng.uniform(1.0, 10.0, 300)
    a = errors_of(rng.normal(0.0, 0.3, (2, 300)), true)
    b = errors_of(rng.normal(0.0, 0.2, 300), true)
    clean = paired_bootstrap(a[:, 5:], b[5:], true[5:], n_boot=300, seed=7)
    a_nan, b_nan, t_nan = a.copy(), b.copy(), true.copy()
    a_nan[1, 0], b_nan[1], t_nan[2] = np.nan, np.inf, np.nan
    a_nan[0, 3:5] = np.nan
    dirty = paired_bootstrap(a_nan, b_nan, t_nan, n_boot=300, seed=7)
    assert dirty == clean and dirty.n_stars == 295
    spread = seed_delta_p(a_nan, true)
    assert spread.n_stars == 297 and np.isfinite(spread.mean)
    with pytest.raises(ValueError, match="no star"):
        paired_bootstrap(np.full(3, np.nan), np.ones(3), np.ones(3))


def test_compare_models_pairs_every_model_with_the_reference() -> None:
    rng = np.random.default_rng(8)
    true = rng.uniform(1.0, 10.0, 200)
    models = {
        "SPT": errors_of(rng.normal(0.0, 0.15, (3, 200)), true),
        "ridge": errors_of(rng.normal(0.0, 0.30, 200), true),
    }
    out = compare_models(models, true, "SPT", n_boot=200, seed=1)
    assert out["SPT"][1] is None and out["SPT"][0].n == 3
    pair = out["ridge"][1]
    assert pair is not None and pair.low > 0.0
    assert compare_models(models, true, "absent", n_boot=10)["ridge"][1] is None


def test_replicate_seeds() -> None:
    assert replicate_seed(20240110, 0) == 20240110
    seeds = [replicate_seed(20240110, r) for r in range(1, 6)]
    assert len(set(seeds)) == 5 and all(0 <= s < 2**31 for s in seeds)
    assert seeds == [replicate_seed(20240110, r) for r in range(1, 6)]
    assert replicate_seed(7, 1) != replicate_seed(8, 1)
    with pytest.raises(ValueError):
        replicate_seed(1, -1)


def test_config_is_checked() -> None:
    assert CompareConfig.from_mapping({"seeds": 2}) == CompareConfig(seeds=2)
    with pytest.raises(ValueError, match="unknown compare"):
        CompareConfig.from_mapping({"seed": 2})
    with pytest.raises(ValueError, match="ci"):
        CompareConfig(ci=95)


def test_seeded_baselines_are_exactly_those_whose_fit_uses_the_seed() -> None:
    """Replicates are trained for SEEDED_BASELINES only: every other baseline must give the same
    predictions whatever its seed (else its seed scatter would be hidden)."""
    from tests.test_baselines import FAST, synthetic

    splits, spectra = synthetic()
    fast = {**FAST, "mlp": {**FAST["mlp"], "epochs": 20}, "cnn1d": {**FAST["cnn1d"], "epochs": 5}}
    seeded = set()
    for name in BASELINES:
        runs = [
            make_baseline(name, fast[name], seed=s, spectra=spectra)
            .fit(splits["train"], splits["val"])
            .predict(splits["test"])[0]
            for s in (0, 1)
        ]
        if not np.array_equal(*runs):
            seeded.add(name)
    assert seeded == set(SEEDED_BASELINES)
