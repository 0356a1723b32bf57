"""One age and mass per star from its spectra: the floor is shared, the noise averages down."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spt.catalog.stars import combine_spectra, star_buckets, star_key


def _rows(**extra) -> pd.DataFrame:
    """Star A observed three times (the third flagged), star B once, a spectrum without a
    designation; errors as relative variances: floor 0.01, noise 0.03 (A1), 0.03 (A2)."""
    age = np.array([4.0, 5.0, 9.0, 2.0, 3.0])
    rel_floor = np.array([0.1, 0.1, 0.1, 0.2, 0.1])
    rel = np.sqrt(rel_floor**2 + np.array([0.03, 0.03, 0.03, 0.0, 0.01]))
    frame = pd.DataFrame({
        "obsid": [11, 12, 13, 21, 31], "designation": ["A", "A", "A", "B", ""],
        "snrg": [40.0, 60.0, 90.0, 30.0, 20.0],
        "flag_warn": [False, False, True, False, False],
        "age": age, "age_err": age * rel, "age_err_floor": age * rel_floor,
    })  # fmt: skip
    return frame.assign(**extra)


def test_the_floor_is_shared_and_the_noise_averages_down() -> None:
    stars = combine_spectra(_rows()).set_index("star")
    assert list(stars.index) == ["A", "B", "obsid:31"]
    a = stars.loc["A"]
    assert a["n_spectra"] == 2 and a["obsid"] == 12  # the flagged 13 is left out; 12 has more S/N
    assert a["age"] == pytest.approx(np.sqrt(4.0 * 5.0))  # equal noise: the geometric mean
    # relative variance: the floor 0.01 once, the noise 0.03 halved
    assert a["age_err"] / a["age"] == pytest.approx(np.sqrt(0.01 + 0.015))
    assert a["age_p84"] / a["age"] == pytest.approx(np.exp(np.sqrt(0.025)))
    # one spectrum: its own value and error
    b = stars.loc["B"]
    assert b["n_spectra"] == 1 and b["age"] == 2.0 and b["age_err"] == pytest.approx(0.4)


def test_a_noisier_spectrum_weighs_less_and_the_floor_does_not_shrink() -> None:
    frame = _rows()
    frame.loc[1, "age_err"] = 5.0 * np.sqrt(0.01 + 0.27)  # 9x the noise of spectrum 11
    a = combine_spectra(frame).set_index("star").loc["A"]
    weights = np.array([1 / 0.03, 1 / 0.27])
    assert np.log(a["age"]) == pytest.approx(weights @ np.log([4.0, 5.0]) / weights.sum())
    assert (a["age_err"] / a["age"]) ** 2 == pytest.approx(0.01 + 1 / weights.sum())
    # however many spectra, the error stays above the floor
    many = pd.concat([_rows().iloc[:1].assign(obsid=100 + i) for i in range(50)])
    one = combine_spectra(many).iloc[0]
    assert one["n_spectra"] == 50
    assert one["age_err"] / one["age"] == pytest.approx(np.sqrt(0.01 + 0.03 / 50))  # not 0.1/7


def test_without_a_floor_a_star_keeps_its_best_spectrum_alone() -> None:
    a = combine_spectra(_rows(age_err_floor=np.nan)).set_index("star").loc["A"]
    assert a["n_spectra"] == 1 and a["obsid"] == 12 and a["age"] == pytest.approx(5.0)
    assert a["age_err"] == pytest.approx(5.0 * np.sqrt(0.04))


def test_rows_without_a_prediction_or_flagged_make_no_star() -> None:
    frame = _rows()
    frame.loc[3, "age"] = np.nan  # star B: no prediction
    frame.loc[4, "flag_warn"] = True
    stars = combine_spectra(frame)
    assert stars["star"].tolist() == ["A"]
    assert star_key(_rows()).tolist() == ["A", "A", "A", "B", "obsid:31"]


def test_a_star_is_combined_whole_in_its_bucket() -> None:
    # the catalogue gather combines one bucket of stars at a time: every spectrum of a star
    # must share its bucket, and the buckets together give the whole table
    frame = pd.concat([_rows().assign(obsid=lambda f, i=i: f["obsid"] + 100 * i,
                                      designation=lambda f, i=i: f["designation"] + f"{i % 7}")
                       for i in range(40)], ignore_index=True)  # fmt: skip
    bucket = star_buckets(frame, 5)
    assert set(bucket) == {0, 1, 2, 3, 4}
    assert (pd.Series(bucket).groupby(star_key(frame).to_numpy()).nunique() == 1).all()
    assert star_buckets(frame, 5).tolist() == bucket.tolist()  # the same on every call
    assert (star_buckets(frame, 1) == 0).all()
    parts = [combine_spectra(frame.loc[bucket == b]) for b in range(5)]
    merged = pd.concat(parts).sort_values("star").reset_index(drop=True)
    pd.testing.assert_frame_equal(merged, combine_spectra(frame))
    assert merged["n_spectra"].max() == 12  # star A0: 2 usable spectra in each of 6 copies
