"""spt.validation.evaluate: the calibration tables' numbers, computed by hand.

Found by mutation testing (benchmarks/mutation.py): the combination of a prediction's error
with the label's own error (in quadrature, none when the table has no label error), the
1- and 2-sigma boundaries, which rows enter a group's Delta_P, and the binned tables' edges,
counts and scores. Every expected number below is worked out in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spt.validation.evaluate import (
    bias_by_bin,
    calibration,
    calibration_by_group,
    error_bins,
    noise_floor,
    trust_groups,
)


def four_stars(**extra: object) -> pd.DataFrame:
    """Age 4 predicted for four stars whose labels are 0.5, 1, 1.5 and 0.25 Gyr away (exact
    binary fractions, so z lands exactly on 1 and 2); quoted sigma 0.5, dropout sigma 0.25."""
    return pd.DataFrame({
        "obsid": [1, 2, 3, 4], "age": 4.0, "age_true": [4.5, 5.0, 5.5, 3.75],
        "age_err": 0.5, "age_err_mc": 0.25, **extra,
    })  # fmt: skip


def test_calibration_rows_combine_the_label_error_in_quadrature() -> None:
    table = calibration(four_stars(e_age_true=1.2)).set_index("sigma")
    assert list(table.index) == ["dropout", "prediction", "combined"]
    # dropout: z = 2, 4, 6, 1 -> within 1: 1 of 4 (z = 1 counts), within 2: 2 of 4
    assert table.loc["dropout", ["within_1sigma", "within_2sigma", "median_z"]].tolist() == [
        0.25,
        0.5,
        3.0,  # the median of 1, 2, 4, 6 (their mean is 3.25)
    ]
    # prediction: z = 1, 2, 3, 0.5
    assert table.loc["prediction", ["within_1sigma", "within_2sigma", "median_z"]].tolist() == [
        0.5,
        0.75,
        1.5,
    ]
    # combined: sigma = hypot(0.5, 1.2) = 1.3, z = 0.38, 0.77, 1.15, 0.19
    combined = table.loc["combined"]
    assert (combined["within_1sigma"], combined["within_2sigma"]) == (0.75, 1.0)
    assert combined["median_z"] == pytest.approx((0.5 + 1.0) / 2 / 1.3)
    assert (table["ideal_1sigma"] == 0.683).all() and (table["ideal_2sigma"] == 0.954).all()
    assert (table["n"] == 4).all() and (table["label"] == "age").all()


def test_calibration_without_label_errors_combines_nothing() -> None:
    table = calibration(four_stars().drop(columns="age_err_mc")).set_index("sigma")
    assert list(table.index) == ["prediction", "combined"]
    cols = ["within_1sigma", "within_2sigma", "median_z"]
    assert table.loc["combined", cols].tolist() == table.loc["prediction", cols].tolist()


def eight_stars() -> pd.DataFrame:
    """True age 4; relative errors 5, 10, 20, 40 % twice (above, then below); S/N 1..8 puts
    two stars in each quartile; star 3's sigma is unknown."""
    pred = 4.0 + np.array([0.2, 0.4, 0.8, 1.6, -0.2, -0.4, -0.8, -1.6])
    sigma = np.array([0.5, 0.5, 0.5, np.nan, 0.5, 0.5, 0.5, 0.5])
    return pd.DataFrame({"obsid": np.arange(8), "age": pred, "age_true": 4.0, "age_err": sigma})


def test_group_delta_p_uses_the_groups_stars_with_known_sigma() -> None:
    table = calibration_by_group(eight_stars(), np.arange(1.0, 9.0)).set_index("group")
    q = {k[:8]: k for k in table.index if k.startswith("S/N Q")}
    # all: the 7 stars with a sigma: (5 + 10 + 20 + 5 + 10 + 20 + 40) / 7
    assert table.loc["all", "delta_p"] == pytest.approx(110 / 7)
    assert table.loc["all", "n"] == 7
    assert table.loc[q["S/N Q1 ["], "delta_p"] == pytest.approx(7.5)  # stars 0, 1
    assert table.loc[q["S/N Q2 ["], "delta_p"] == pytest.approx(20.0)  # star 2 (3: no sigma)
    assert table.loc[q["S/N Q4 ["], "delta_p"] == pytest.approx(30.0)  # stars 6, 7
    assert table.loc[q["S/N Q2 ["], "n"] == 1


def test_trust_groups_state_and_quartile_edges() -> None:
    groups = trust_groups(np.arange(1.0, 5.0), np.array([1, 1, 1, 1]))
    assert "RGB" in groups and "RC" not in groups  # no clump star: no empty RC group
    quartiles = [k for k in groups if k.startswith("S/N Q")]
    assert quartiles == ["S/N Q1 [1, 1]", "S/N Q2 [2, 2]", "S/N Q3 [3, 3]", "S/N Q4 [4, 4]"]
    assert not any(k.startswith("S/N Q") for k in trust_groups(np.array([1.0, 2.0, 3.0])))


def test_error_bins_edges_counts_and_rms() -> None:
    sigma = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, np.nan])
    err = np.array([0.1, -0.4, 0.3, 0.8, -0.5, 1.2, 0.3])
    frame = pd.DataFrame({"obsid": np.arange(7), "age": 4.0 + err, "age_true": 4.0,
                          "age_err": sigma})  # fmt: skip
    bins = error_bins(frame, n_bins=3)  # the NaN-sigma star is in no bin
    assert bins["bin"].tolist() == [1, 2, 3] and bins["n"].tolist() == [2, 2, 2]
    assert bins["sigma_lo"].tolist() == pytest.approx([0.1, 0.3, 0.5])
    assert bins["sigma_hi"].tolist() == pytest.approx([0.2, 0.4, 0.6])
    assert bins["mean_sigma"].tolist() == pytest.approx([0.15, 0.35, 0.55])
    rms = [math.sqrt((0.01 + 0.16) / 2), math.sqrt((0.09 + 0.64) / 2), math.sqrt((0.25 + 1.44) / 2)]
    assert bins["rms_error"].tolist() == pytest.approx(rms)
    assert bins["rms_over_sigma"].tolist() == pytest.approx(np.array(rms) / [0.15, 0.35, 0.55])
    six = error_bins(frame)  # default: 6 bins, one star each (6 stars have a sigma)
    assert six["bin"].tolist() == [1, 2, 3, 4, 5, 6] and six["n"].tolist() == [1] * 6
    assert error_bins(frame.iloc[:5]).empty  # fewer stars than bins: no bin


def test_bias_by_bin_scores_each_bin_of_the_reference() -> None:
    frame = pd.DataFrame({
        "obsid": np.arange(7), "age": [1.1, 1.8, 3.3, 4.4, 1.0, 2.0, np.nan],
        "age_true": [1.0, 2.0, 3.0, 4.0, 0.0, np.nan, 5.0], "age_err": 0.1,
    })  # fmt: skip
    bins = bias_by_bin(frame, n_bins=2)  # rows 4-6: zero label, no label, no prediction
    assert bins["bin"].tolist() == [1, 2] and bins["n"].tolist() == [2, 2]
    assert bins["ref_lo"].tolist() == [1.0, 3.0] and bins["ref_hi"].tolist() == [2.0, 4.0]
    # bin 1: relative residuals +10 %, -10 %; bin 2: +10 %, +10 %
    assert bins["median_rel_residual"].tolist() == pytest.approx([0.0, 10.0], abs=1e-9)
    assert bins["robust_scatter"].tolist() == pytest.approx([1.4826 * 10.0, 0.0], abs=1e-9)
    assert bins["delta_p"].tolist() == pytest.approx([10.0, 10.0])
    six = pd.DataFrame({"obsid": np.arange(6), "age": np.arange(1.0, 7.0) * 1.1,
                        "age_true": np.arange(1.0, 7.0), "age_err": 0.1})  # fmt: skip
    assert bias_by_bin(six)["bin"].tolist() == [1, 2, 3, 4, 5, 6]  # default: 6 bins


def test_noise_floor_scores_each_pair_the_right_way_round() -> None:
    pred = pd.DataFrame({"obsid": [7], "age": [2.2], "age_true": [2.0], "age_err": [0.1]})
    table = noise_floor(pred, pd.DataFrame({"obsid": [7], "age": [2.5]}))
    assert table["delta_p"].tolist() == pytest.approx([10.0, 12.0, 20.0])
    assert table["n"].tolist() == [1, 1, 1]
