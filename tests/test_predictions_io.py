"""The predictions CSV reader refuses what no score can use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spt.io.predictions import PredictionFormatError, read_predictions


def predictions(**changes: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "obsid": [1, 2, 3],
            "kic": [10, 20, 30],
            "age": [3.0, 5.0, 8.0],
            "age_err": [0.5, 0.6, np.nan],  # no error estimate is allowed (std=None)
            "mass": [1.1, 1.3, 0.9],
            "mass_err": [0.1, 0.1, 0.1],
            "age_true": [3.2, 4.5, 9.0],
            "mass_true": [1.0, 1.4, 0.95],
        }
    )
    for col, values in changes.items():
        frame[col] = values
    return frame


def test_finite_predictions_read_back(tmp_path: Path) -> None:
    predictions().to_csv(tmp_path / "p.csv", index=False)
    frame = read_predictions(tmp_path / "p.csv")
    assert frame["age"].tolist() == [3.0, 5.0, 8.0] and frame["age_err"].isna().sum() == 1


@pytest.mark.parametrize(
    ("column", "values", "n_bad"),
    [
        ("age", [3.0, np.nan, 8.0], 1),
        ("mass", [np.inf, 1.3, -np.inf], 2),
        ("age", [np.nan, np.nan, np.nan], 3),
    ],
)
def test_non_finite_predictions_are_refused(
    tmp_path: Path, column: str, values: list[float], n_bad: int
) -> None:
    path = tmp_path / "p.csv"
    predictions(**{column: values}).to_csv(path, index=False)
    with pytest.raises(PredictionFormatError, match=rf"p\.csv: {n_bad} rows have non-finite"):
        read_predictions(path)
