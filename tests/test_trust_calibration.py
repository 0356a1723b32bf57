"""Coverage by S/N quartile and state, RMS against sigma, and what the flags catch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spt.catalog.accuracy import flag_capture
from spt.model.flags import Flag
from spt.validation.evaluate import (
    bias_by_bin,
    calibration_by_group,
    error_bins,
    trust_calibration,
    trust_groups,
)


def _frame(n: int = 8) -> pd.DataFrame:
    """Predictions of n stars: age error 0.5, 1.5, ... sigma against the truth (age 5)."""
    k = np.arange(n)
    z = np.where(k % 2 == 0, 0.5, 1.5)  # half within 1 sigma, all within 2
    return pd.DataFrame({
        "obsid": 100 + k, "age": 5.0 + z * 0.4, "age_err": 0.4, "age_err_mc": 0.1,
        "age_true": 5.0 + z * 0.4 + 0.3, "e_age_true": 0.5,
    })  # fmt: skip


def test_trust_groups_split_quartiles_and_states() -> None:
    snr = np.arange(1, 9, dtype=float)
    groups = trust_groups(snr, np.array([1, 1, 2, 2, 1, 0, 2, 1]))
    quartiles = [k for k in groups if k.startswith("S/N Q")]
    assert quartiles == ["S/N Q1 [1, 2]", "S/N Q2 [3, 4]", "S/N Q3 [5, 6]", "S/N Q4 [7, 8]"]
    assert sum(groups[k].sum() for k in quartiles) == 8  # a partition
    assert groups["RGB"].sum() == 4 and groups["RC"].sum() == 3  # phase 0 is in neither
    assert not any(k.startswith("[Fe/H]") for k in groups)  # no [Fe/H] given: no terciles


def test_trust_groups_split_metallicity_terciles_of_known_values() -> None:
    feh = np.array([0.3, -0.5, 0.0, -9999.0, 0.1, -0.2, np.nan, -0.1, 0.2])
    groups = trust_groups(np.full(9, 50.0), None, feh)
    terciles = {k: np.flatnonzero(v).tolist() for k, v in groups.items() if k.startswith("[Fe")}
    assert terciles == {
        "[Fe/H] T1 [-0.50, -0.20]": [1, 5],
        "[Fe/H] T2 [-0.10, 0.00]": [2, 7],
        "[Fe/H] T3 [0.10, 0.30]": [0, 4, 8],
    }  # the -9999 marker and NaN are in none


def test_trust_groups_bin_the_clump_probability_at_fixed_edges() -> None:
    p = np.array([0.0, 0.005, 0.01, 0.3, 0.5, 0.98, 0.99, 1.0, np.nan])
    groups = trust_groups(np.full(9, 50.0), p_clump=p)
    bins = {k: np.flatnonzero(v).tolist() for k, v in groups.items() if k.startswith("P(RC)")}
    assert bins == {
        "P(RC) B1 [0, 0.01)": [0, 1],
        "P(RC) B2 [0.01, 0.5)": [2, 3],
        "P(RC) B3 [0.5, 0.99)": [4, 5],
        "P(RC) B4 [0.99, 1]": [6, 7],
    }  # each edge opens the bin above it, 1 closes the last; NaN is in none
    assert not any(k.startswith("P(RC)") for k in trust_groups(np.full(9, 50.0)))


def test_calibration_groups_by_the_predictions_own_clump_probability() -> None:
    # even stars lie 0.5 sigma from the truth, odd ones 1.5 sigma: odd ones are clump-like
    frame = _frame().assign(p_red_clump=[0.0, 1.0, 0.002, 0.995, 0.0, 1.0, 0.0, 0.6])
    truth = pd.DataFrame({"obsid": frame["obsid"], "age": 5.0})
    table = calibration_by_group(frame, np.arange(8.0), None, truth).set_index("group")
    branch, clump = table.loc["P(RC) B1 [0, 0.01)"], table.loc["P(RC) B4 [0.99, 1]"]
    assert (branch["n"], branch["within_1sigma"]) == (4, 1.0)
    assert (clump["n"], clump["within_1sigma"]) == (3, 0.0)
    assert table.loc["P(RC) B3 [0.5, 0.99)", "n"] == 1
    empty = table.loc["P(RC) B2 [0.01, 0.5)"]  # a bin keeps its row, empty
    assert empty["n"] == 0 and np.isnan(empty["within_1sigma"])
    without = calibration_by_group(frame.drop(columns="p_red_clump"), np.arange(8.0))
    assert not without["group"].str.startswith("P(RC)").any()


def test_calibration_against_truth_joins_by_obsid_and_uses_sigma_alone() -> None:
    frame = _frame()
    truth = pd.DataFrame({"obsid": frame["obsid"][::-1], "age": 5.0})  # shuffled order
    table = calibration_by_group(frame, np.arange(8.0), np.ones(8), truth).set_index("group")
    assert (table["reference"] == "noise-free truth").all()
    assert table.loc["all", "within_1sigma"] == pytest.approx(0.5)
    assert table.loc["all", "within_2sigma"] == pytest.approx(1.0)
    # Q1 holds stars 0 and 1: one at 0.5 sigma, one at 1.5 sigma
    q1 = next(k for k in table.index if k.startswith("S/N Q1"))
    assert table.loc[q1, "n"] == 2 and table.loc[q1, "within_1sigma"] == pytest.approx(0.5)


def test_calibration_against_labels_adds_their_errors() -> None:
    frame = _frame()
    table = calibration_by_group(frame, np.arange(8.0)).set_index("group")
    # |pred - label| = 0.3 for every star: within sigma = 0.4 with or without the label error
    assert table.loc["all", "reference"] == "catalogue label"
    assert table.loc["all", "within_1sigma"] == pytest.approx(1.0)
    without = calibration_by_group(frame.drop(columns="e_age_true"), np.arange(8.0))
    assert without.set_index("group").loc["all", "within_1sigma"] == pytest.approx(1.0)
    far = frame.assign(age_true=frame["age"] + 0.6)  # 0.6 > 0.4 but < hypot(0.4, 0.5)
    assert calibration_by_group(far, np.arange(8.0)).iloc[0]["within_1sigma"] == 1.0
    bare = calibration_by_group(far.drop(columns="e_age_true"), np.arange(8.0))
    assert bare.iloc[0]["within_1sigma"] == 0.0


def test_error_bins_sort_by_sigma_and_give_rms_over_sigma() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    sigma = rng.permutation(np.repeat([0.1, 1.0], n // 2))
    truth = rng.uniform(2, 8, n)
    pred = truth + sigma * rng.standard_normal(n) * np.where(sigma > 0.5, 2.0, 1.0)
    frame = pd.DataFrame({"obsid": np.arange(n), "age": pred, "age_err": sigma,
                          "age_true": truth})  # fmt: skip
    bins = error_bins(frame, pd.DataFrame({"obsid": np.arange(n), "age": truth}), n_bins=2)
    assert list(bins["mean_sigma"]) == pytest.approx([0.1, 1.0])
    # small-sigma stars are calibrated, large-sigma stars err twice their sigma
    assert list(bins["rms_over_sigma"]) == pytest.approx([1.0, 2.0], rel=0.05)
    assert bins["n"].sum() == n


def test_trust_calibration_takes_snr_and_phase_from_the_sample_by_obsid() -> None:
    frame = _frame()
    sample = pd.DataFrame({"obsid": frame["obsid"][::-1], "snrg": np.arange(8.0)[::-1],
                           "phase": [2] * 4 + [1] * 4})  # fmt: skip
    groups, bins, bias = trust_calibration(frame, sample)
    assert set(bias["reference"]) == {"catalogue label"}  # no truth given
    g = groups.set_index("group")
    assert g.loc["RGB", "n"] == 4 and g.loc["RC", "n"] == 4
    assert "S/N Q4 [6, 7]" in g.index and not bins.empty


def test_flag_capture_precision_recall_and_kinds() -> None:
    flags = [int(Flag.LOW_SNR), 0, int(Flag.FAR_FROM_TRAINING), int(Flag.LOW_SNR), 0, 0]
    catalog = pd.DataFrame({"obsid": np.arange(6), "flag": flags})
    catalog["flag_warn"] = catalog["flag"] != 0
    catalog["flag_bad"] = catalog["flag"] == int(Flag.FAR_FROM_TRAINING)
    truth = pd.DataFrame({"obsid": np.arange(6),
                          "domain": ["low_snr", "dwarf", "dwarf", "in", "in", "in"]})  # fmt: skip
    table = flag_capture(catalog, truth)
    bits = table.loc[table["kind"] == "bit"].set_index("name")
    assert bits.loc["LOW_SNR", "n"] == 2
    assert bits.loc["LOW_SNR", "precision"] == pytest.approx(0.5)  # one of two is in-domain
    assert bits.loc["LOW_SNR", "recall"] == pytest.approx(1 / 3)
    assert bits.loc["LOW_SNR", "in_domain_rate"] == pytest.approx(1 / 3)
    assert bits.loc["flag_warn", "recall"] == pytest.approx(2 / 3)
    assert bits.loc["flag_bad", "precision"] == pytest.approx(1.0)
    kinds = table.loc[table["kind"] == "domain"].set_index("name")
    assert kinds.loc["dwarf", "warn_fraction"] == pytest.approx(0.5)
    assert kinds.loc["dwarf", "bad_fraction"] == pytest.approx(0.5)
    assert kinds.loc["in", "warn_fraction"] == pytest.approx(1 / 3)


def test_flag_capture_figure_draws_each_kind_and_fired_bit(tmp_path) -> None:
    from spt.paper.plots.catalog import plot_flag_capture

    catalog = pd.DataFrame({"obsid": np.arange(4), "flag": [int(Flag.LOW_SNR), 0, 0, 0]})
    catalog["flag_warn"] = catalog["flag"] != 0
    catalog["flag_bad"] = False
    truth = pd.DataFrame({"obsid": np.arange(4), "domain": ["low_snr", "in", "in", "old"]})
    table = flag_capture(catalog, truth)
    domains = table[table["kind"] == "domain"].set_index("name")
    assert domains.loc["low_snr", "warn_fraction"] == 1.0
    assert domains.loc["old", "warn_fraction"] == 0.0
    bit = table[(table["kind"] == "bit") & (table["name"] == "LOW_SNR")].iloc[0]
    assert (bit["n"], bit["precision"], bit["recall"]) == (1, 1.0, 0.5)
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    pdf = plot_flag_capture(table, tmp_path / "f.pdf", note="mock")
    assert pdf.exists() and pdf.with_suffix(".png").exists()
    assert plt.get_fignums() == before  # the function closed its own figure


def test_fig07_gains_a_coverage_row_by_snr_and_state(tmp_path) -> None:
    from matplotlib.image import imread

    from spt.paper.plots.results import plot_uncertainties

    rng = np.random.default_rng(5)
    n = 200
    truth = rng.uniform(1, 10, n)
    frame = pd.DataFrame({"obsid": np.arange(n), "age": truth * 1.1, "age_err": 0.2 * truth,
                          "age_err_mc": 0.02 * truth, "age_true": truth})  # fmt: skip
    groups = calibration_by_group(frame, rng.uniform(10, 100, n), rng.integers(1, 3, n))
    plain = plot_uncertainties(frame, tmp_path / "a.pdf")
    full = plot_uncertainties(frame, tmp_path / "b.pdf", groups=groups)
    h_plain = imread(plain.with_suffix(".png")).shape[0]
    h_full = imread(full.with_suffix(".png")).shape[0]
    assert h_full == pytest.approx(1.5 * h_plain, rel=0.02)  # a third row of panels


def test_bias_by_bin_shows_a_pull_towards_the_mean() -> None:
    truth = np.linspace(1.0, 13.0, 600)
    pred = 7.0 + 0.5 * (truth - 7.0)  # shrunk halfway to the mean
    frame = pd.DataFrame({"obsid": np.arange(600), "age": pred, "age_err": 1.0,
                          "age_true": truth * 1.05})  # fmt: skip
    table = bias_by_bin(frame, pd.DataFrame({"obsid": np.arange(600), "age": truth}), n_bins=3)
    clean = table.loc[table["reference"] == "noise-free truth"]
    assert list(clean["n"]) == [200, 200, 200]
    med = clean["median_rel_residual"].to_numpy()
    assert med[0] > 20 and med[-1] < -10 and np.all(np.diff(med) < 0)
    # the youngest third (true ages 1-5 Gyr) is biased by +0.5 (7 - t) / t at its median t = 3
    assert med[0] == pytest.approx(100 * 0.5 * (7 - 3) / 3, rel=0.05)
    labels = table.loc[table["reference"] == "catalogue label"]
    assert labels["ref_lo"].iloc[0] == pytest.approx(1.05)  # binned in the catalogue label
