"""spt.prep.select: which stars the rejected spectra and labels take out of the sample.

Found by mutation testing (benchmarks/mutation.py) and the issue's outside review: a star
goes when its spectrum (obsid) or the star itself (kic) was rejected, a rejection table may
know only one of the two keys or have gaps in them, and the rejection table keeps every
reason of every rejected spectrum or star under the right stage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spt.prep.select import EmptySampleError, rejection_table, select_sample


def matched() -> pd.DataFrame:
    return pd.DataFrame({"kic": [1, 2, 3, 4, 5], "obsid": [11, 12, 13, 14, 15],
                         "age": [1.0, 2.0, 3.0, 4.0, 5.0]})  # fmt: skip


def test_rejected_spectra_and_stars_leave_the_sample() -> None:
    # spectrum 12 rejected, star 4 rejected, a row knowing neither key, an unknown spectrum
    rejected = pd.DataFrame({"kic": [np.nan, 4.0, np.nan, np.nan],
                             "obsid": [12.0, np.nan, np.nan, 99.0]})  # fmt: skip
    sample = select_sample(matched(), rejected)
    assert sample["kic"].tolist() == [1, 3, 5]
    assert sample.index.tolist() == [0, 1, 2] and list(sample.columns) == ["kic", "obsid", "age"]
    assert sample["age"].tolist() == [1.0, 3.0, 5.0]


def test_rejection_table_with_one_key_only() -> None:
    assert select_sample(matched(), pd.DataFrame({"kic": [2, 5]}))["kic"].tolist() == [1, 3, 4]
    by_obsid = select_sample(matched(), pd.DataFrame({"obsid": [11, 13]}))
    assert by_obsid["kic"].tolist() == [2, 4, 5]
    nothing = select_sample(matched(), pd.DataFrame(columns=["kic", "obsid"]))
    pd.testing.assert_frame_equal(nothing, matched())


def test_no_star_left_is_an_error_with_the_counts() -> None:
    rejected = pd.DataFrame({"kic": [1, 2, 3], "obsid": [14, 15, 15]})
    with pytest.raises(EmptySampleError, match=r"all 5 matched stars were rejected \(3 rejection"):
        select_sample(matched(), rejected)
    one = select_sample(matched(), rejected.iloc[:2])  # one star left is a sample
    assert one["kic"].tolist() == [3]


def spectra_report() -> pd.DataFrame:
    return pd.DataFrame({
        "obsid": [11, 12, 13, 14],
        "problem": [None, "unreadable: truncated", "no spectrum file", None],
        "reasons": ["", "", "spike", np.nan],
    })  # fmt: skip


def label_flags(with_obsid: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({
        "kic": [1, 3, 5], "obsid": [11, 13, 15], "rejected": [False, True, True],
        "reasons": ["", "age outside (0, 14] Gyr", "off the relation"],
    })  # fmt: skip
    return frame if with_obsid else frame.drop(columns="obsid")


def test_rejection_table_joins_spectrum_and_label_reasons() -> None:
    table = rejection_table(spectra_report(), label_flags()).sort_values("obsid")
    assert list(table.columns) == ["kic", "obsid", "stage", "reasons"]
    assert table["obsid"].tolist() == [12, 13, 15]  # 11 and 14 have no reason
    assert table["stage"].tolist() == ["spectrum", "both", "labels"]
    assert table["reasons"].tolist() == [
        "unreadable: truncated",
        "no spectrum file; spike; age outside (0, 14] Gyr",
        "off the relation",
    ]
    assert table["kic"].tolist()[1:] == [3, 5] and np.isnan(table["kic"].iloc[0])


def test_rejection_table_from_one_source() -> None:
    spectra_only = rejection_table(spectra_report(), None)
    assert list(spectra_only.columns) == ["obsid", "stage", "reasons"]
    assert spectra_only["obsid"].tolist() == [12, 13]
    assert set(spectra_only["stage"]) == {"spectrum"}
    labels_only = rejection_table(spectra_report().iloc[:0], label_flags())
    assert labels_only["obsid"].tolist() == [13, 15] and set(labels_only["stage"]) == {"labels"}
    assert labels_only["kic"].tolist() == [3, 5]
    no_problem_column = rejection_table(spectra_report().drop(columns="problem"), None)
    assert no_problem_column["reasons"].tolist() == ["spike"]
    no_reasons_column = rejection_table(spectra_report().drop(columns="reasons"), None)
    assert no_reasons_column["obsid"].tolist() == [12, 13]
    none = rejection_table(None, label_flags().assign(rejected=False))
    assert none.empty and list(none.columns) == ["kic", "obsid", "stage", "reasons"]
    nothing = rejection_table(None, None)
    assert nothing.empty and list(nothing.columns) == ["obsid", "stage", "reasons"]


def test_rejection_table_of_stars_known_by_kic_only() -> None:
    table = rejection_table(spectra_report(), label_flags(with_obsid=False))
    by_stage = table.groupby("stage").size().to_dict()
    assert by_stage == {"spectrum": 2, "labels": 2}
    labels = table[table["stage"] == "labels"]
    assert labels["kic"].tolist() == [3, 5] and labels["obsid"].isna().all()
    assert labels["reasons"].tolist() == ["age outside (0, 14] Gyr", "off the relation"]
    sample = select_sample(matched(), table)
    assert sample["kic"].tolist() == [1, 4]  # 12, 13 by spectrum; 3, 5 by star
