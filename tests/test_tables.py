"""Prediction tables, scores, calibration and the paper's two tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spt.io.predictions import PredictionFormatError, prediction_frame, read_predictions
from spt.paper.tables import PAPER_ROW, caption, table1, table2, write_table
from spt.validation.evaluate import calibration, noise_floor, scores


def fake_predictions(n: int = 400, age_scatter: float = 0.2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.c_[rng.uniform(1, 10, n), rng.uniform(0.9, 2.5, n)].astype(np.float32)
    split = {"y": y, "y_err": 0.1 * y, "obsid": np.arange(n), "kic": np.arange(n) + 10**6}
    err = np.c_[age_scatter * y[:, 0], 0.05 * y[:, 1]]
    mean = y + err * rng.standard_normal((n, 2))
    return prediction_frame(split, mean, err)


def test_scores_and_calibration_on_known_errors():
    pred = fake_predictions(20000)
    s = scores(pred)
    # |N(0, s)| has mean s*sqrt(2/pi): 20 % relative scatter gives Delta_P = 15.96 %.
    assert s["age_delta_p"] == pytest.approx(20 * np.sqrt(2 / np.pi), rel=0.03)
    assert s["mass_delta_p"] == pytest.approx(5 * np.sqrt(2 / np.pi), rel=0.03)
    cal = calibration(pred).set_index(["label", "sigma"])
    assert cal.loc[("age", "prediction"), "within_1sigma"] == pytest.approx(0.683, abs=0.01)
    assert cal.loc[("mass", "prediction"), "within_2sigma"] == pytest.approx(0.954, abs=0.01)
    # Adding the label error in quadrature can only widen the interval.
    assert cal.loc[("age", "combined"), "within_1sigma"] > 0.683


def test_table1_has_every_model_and_the_paper_row():
    t = table1({"SPT": fake_predictions(seed=1), "ridge": fake_predictions(age_scatter=0.4)})
    assert list(t["model"]) == ["SPT", "ridge", PAPER_ROW]
    paper = t.set_index("model").loc[PAPER_ROW]
    assert paper["age Delta_P (%)"] == 17.64 and paper["mass Delta_P (%)"] == 6.61
    assert np.isnan(paper["age MAE (Gyr)"])
    rows = t.set_index("model")
    assert rows.loc["ridge", "age Delta_P (%)"] > rows.loc["SPT", "age Delta_P (%)"]


def test_table2_rows_and_coverage():
    t = table2({"mse": fake_predictions(seed=2), "mahalanobis": fake_predictions(seed=3)})
    assert list(t["loss"]) == ["MSE", "Mahalanobis"]
    assert t["age within 2 sigma"].ge(t["age within 1 sigma"]).all()


def test_write_table_is_reproducible_and_escaped(tmp_path):
    t = table1({"SPT": fake_predictions(seed=4)})
    text = caption("Table 1", "simulated survey", "abc123", "0123")
    write_table(t, tmp_path / "a" / "table1", text)
    write_table(t, tmp_path / "b" / "table1", text)
    for ext in ("csv", "tex", "md"):
        a = (tmp_path / "a" / f"table1.{ext}").read_bytes()
        assert a == (tmp_path / "b" / f"table1.{ext}").read_bytes()
    tex = (tmp_path / "a" / "table1.tex").read_text()
    assert r"Delta\_P (\%)" in tex and "abc123" in tex
    assert (tmp_path / "a" / "table1.md").read_text().startswith("Table 1. Data: simulated")


def test_missing_column_is_a_clear_error(tmp_path):
    fake_predictions().drop(columns=["mass_true"]).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(PredictionFormatError, match=r"p\.csv.*mass_true"):
        read_predictions(tmp_path / "p.csv")


def test_noise_floor_against_truth():
    pred = fake_predictions(1000, seed=5)
    truth = pd.DataFrame(
        {"obsid": pred["obsid"], "age": pred["age_true"] * 1.1, "mass": pred["mass_true"]}
    )
    floor = noise_floor(pred, truth).set_index(["label", "comparison"])["delta_p"]
    assert floor[("age", "catalogue vs noise-free labels (floor)")] == pytest.approx(100 / 11)
    assert floor[("mass", "catalogue vs noise-free labels (floor)")] == pytest.approx(0.0)
