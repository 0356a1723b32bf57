"""Quality flags: every bit fires on its constructed case and stays silent on clean stars."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from spt.model.flags import (
    BAD_BITS,
    DESCRIPTIONS,
    DomainModel,
    Flag,
    describe,
    fit_domain_model,
    header_cards,
    quality_flags,
    reconstruction_chi2,
)

N_TRAIN, N_VAL, K = 3000, 600, 6


@pytest.fixture(scope="module")
def domain() -> DomainModel:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_TRAIN, K)) * np.arange(1, K + 1)
    params = np.c_[rng.uniform(4200, 5200, N_TRAIN), rng.uniform(1.5, 3.4, N_TRAIN),
                   rng.uniform(-1.0, 0.5, N_TRAIN)]  # fmt: skip
    y = np.c_[rng.uniform(0.5, 14.0, N_TRAIN), rng.uniform(0.8, 3.0, N_TRAIN)]
    Xv = rng.normal(size=(N_VAL, K)) * np.arange(1, K + 1)
    mean_v = rng.uniform(1, 10, (N_VAL, 2))
    std_v = mean_v * rng.uniform(0.01, 0.05, (N_VAL, 2))
    chi2_v = rng.uniform(0.8, 1.5, N_VAL)
    return fit_domain_model(
        X, rng.uniform(10, 300, N_TRAIN), params, y, Xv, mean_v, std_v, chi2_v, percentile=99.0
    )


def clean(n: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "readable": np.ones(n, bool),
        "anomalies": pd.DataFrame({k: np.zeros(n, bool) for k in
                                   ("oscillation", "missing", "outlier", "negative")}),
        "snr": np.full(n, 50.0),
        "features": rng.normal(size=(n, K)) * np.arange(1, K + 1) * 0.5,
        "params": np.tile([4700.0, 2.5, 0.0], (n, 1)),
        "mean": np.tile([5.0, 1.2], (n, 1)),
        "std_mc": np.tile([0.1, 0.02], (n, 1)),
        "chi2": np.ones(n),
        "sigma": np.tile([1.0, 0.1], (n, 1)),
    }  # fmt: skip


def test_domain_thresholds(domain) -> None:
    assert domain.snr_min >= 10 and domain.snr_min < 10.5
    assert np.all(np.abs(domain.param_lo - [4200, 1.5, -1.0]) < [2, 0.01, 0.01])
    # Mahalanobis of K-dim Gaussian: 99th percentile of chi(K=6) is ~4.1
    assert domain.mahalanobis_max == pytest.approx(4.1, abs=0.4)
    assert 0.04 < domain.rel_mc_max[0] <= 0.05
    assert 1.45 < domain.chi2_max <= 1.5


def test_clean_stars_carry_no_flag(domain) -> None:
    out = quality_flags(domain, 200, **clean(200))
    assert list(out.columns) == ["flag", "flag_warn", "flag_bad"]
    assert (out["flag"] == 0).all() and not out["flag_warn"].any() and not out["flag_bad"].any()


@pytest.mark.parametrize(
    ("bit", "key", "index", "value"),
    [
        (Flag.UNREADABLE, "readable", 0, False),
        (Flag.ANOMALY_OSCILLATION, "anomalies", (0, "oscillation"), True),
        (Flag.ANOMALY_MISSING, "anomalies", (0, "missing"), True),
        (Flag.ANOMALY_OUTLIER, "anomalies", (0, "outlier"), True),
        (Flag.ANOMALY_NEGATIVE, "anomalies", (0, "negative"), True),
        (Flag.LOW_SNR, "snr", 0, 5.0),
        (Flag.FAR_FROM_TRAINING, "features", 0, 8.0),
        (Flag.PARAMS_OUTSIDE_TRAINING, "params", (0, 1), 4.3),
        (Flag.PREDICTION_OUT_OF_RANGE, "mean", (0, 0), 16.0),
        (Flag.LARGE_MC_SPREAD, "std_mc", (0, 1), 0.2),
        (Flag.POOR_RECONSTRUCTION, "chi2", 0, 3.0),
        (Flag.PARAMS_UNKNOWN, "params", (0, 2), np.nan),
        (Flag.NO_ERROR, "sigma", (0, 1), np.nan),
    ],
)
def test_each_bit_fires_alone(domain, bit, key, index, value) -> None:
    case = clean(5)
    target = case[key].loc if key == "anomalies" else case[key]
    target[index] = value
    out = quality_flags(domain, 5, **case)
    assert out["flag"].iloc[0] == int(bit)
    assert (out["flag"].iloc[1:] == 0).all()
    assert out["flag_warn"].iloc[0]
    assert out["flag_bad"].iloc[0] == bool(bit & BAD_BITS)
    assert describe(out["flag"].iloc[0]) == [bit.name]


def test_unknowns_set_no_bit_and_bits_combine(domain) -> None:
    """An unknown S/N or readability sets no bit; unknown LAMOST parameters set PARAMS_UNKNOWN
    (the domain check was not made), never a silent 0."""
    case = clean(3)
    case["params"][0] = [-9999.0, -9999.0, -9999.0]  # LAMOST "no value"
    case["snr"][1] = np.nan
    case["readable"] = np.array([True, None, False], dtype=object)  # None: unknown = readable
    case["snr"][2] = 2.0
    out = quality_flags(domain, 3, **case)
    assert out["flag"].tolist() == [
        int(Flag.PARAMS_UNKNOWN),
        0,
        int(Flag.UNREADABLE | Flag.LOW_SNR),
    ]
    assert not out["flag_bad"].iloc[0]  # unknown parameters warn
    assert quality_flags(domain, 3)["flag"].tolist() == [0, 0, 0]  # nothing known, nothing set
    # A non-finite prediction of a usable spectrum is out of range; an anomalous spectrum's
    # NaN prediction (by design) only keeps its anomaly bit.
    case = clean(3)
    case["mean"][0, 0] = np.inf
    case["mean"][1] = np.nan
    case["anomalies"].loc[1, "negative"] = True
    out = quality_flags(domain, 3, **case)
    assert out["flag"].tolist() == [
        int(Flag.PREDICTION_OUT_OF_RANGE | Flag.PREDICTION_UNPHYSICAL),
        int(Flag.ANOMALY_NEGATIVE),
        0,
    ]
    # No calibrated error: bad only where there is a prediction to use
    case = clean(3)
    case["sigma"][0, 0] = np.inf
    case["sigma"][1] = np.nan
    case["mean"][1] = np.nan
    case["anomalies"].loc[1, "missing"] = True
    out = quality_flags(domain, 3, **case)
    assert out["flag"].tolist() == [int(Flag.NO_ERROR), int(Flag.ANOMALY_MISSING), 0]
    assert out["flag_bad"].tolist() == [True, True, False]
    with pytest.raises(ValueError, match="LOW_SNR"):
        quality_flags(domain, 3, snr=np.ones(4))


def test_a_prediction_far_beyond_the_training_labels_is_bad(domain) -> None:
    case = clean(4)
    case["mean"][0, 0] = 16.0  # just above the training ages (14 Gyr): use with care
    case["mean"][1, 0] = 40.0  # no giant is that old: the network blew up
    case["mean"][2, 1] = 0.3  # no giant is that light
    case["std_mc"][:3] = case["mean"][:3] * [0.02, 0.01]
    out = quality_flags(domain, 4, **case)
    both = int(Flag.PREDICTION_OUT_OF_RANGE | Flag.PREDICTION_UNPHYSICAL)
    assert out["flag"].tolist() == [int(Flag.PREDICTION_OUT_OF_RANGE), both, both, 0]
    assert out["flag_bad"].tolist() == [False, True, True, False]


def test_every_bit_is_described_and_round_trips(domain) -> None:
    assert set(DESCRIPTIONS) == set(Flag)
    cards = header_cards()
    assert cards[0] == ("FLAG00", 1, "UNREADABLE: " + DESCRIPTIONS[Flag.UNREADABLE])
    assert len({c[0] for c in cards}) == len(Flag)
    back = DomainModel.from_dict(json.loads(json.dumps(domain.to_dict())))
    feats = clean(50)["features"] * 3
    np.testing.assert_allclose(back.mahalanobis(feats), domain.mahalanobis(feats))
    assert back.mahalanobis_max == domain.mahalanobis_max


def test_reconstruction_chi2_separates_foreign_spectra() -> None:
    rng = np.random.default_rng(3)
    wave = np.linspace(0, 1, 300)
    basis = np.stack([np.sin(2 * np.pi * (k + 1) * wave) for k in range(3)])
    train = 1 + rng.normal(size=(500, 3)) @ basis * 0.05 + 0.01 * rng.normal(size=(500, 300))
    pca = PCA(3).fit(train)
    ivar = np.full((2, 300), 1e4)  # sigma 0.01
    own = 1 + rng.normal(size=(1, 3)) @ basis * 0.05 + 0.01 * rng.normal(size=(1, 300))
    foreign = own + 0.05 * np.cos(2 * np.pi * 9 * wave)
    ivar[1, :10] = 0  # masked pixels are filled and do not count
    chi2 = reconstruction_chi2(pca, np.ones(300), np.r_[own, foreign], ivar)
    assert chi2[0] == pytest.approx(1.0, abs=0.2)
    assert chi2[1] > 10
