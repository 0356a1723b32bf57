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


def one_label(label: str, n: int = 400, seed: int = 0, mc: bool = False) -> pd.DataFrame:
    """fake_predictions of a model trained on ``label`` alone (split with a ``labels`` array)."""
    rng = np.random.default_rng(seed)
    lo, hi, rel = (1.0, 10.0, 0.2) if label == "age" else (0.9, 2.5, 0.05)
    y = rng.uniform(lo, hi, (n, 1)).astype(np.float32)
    split = {"y": y, "y_err": 0.1 * y, "obsid": np.arange(n), "kic": np.arange(n) + 10**6,
             "labels": np.array([label])}  # fmt: skip
    err = rel * y
    mean = y + err * rng.standard_normal((n, 1))
    return prediction_frame(split, mean, err, 0.5 * err if mc else None)


def test_prediction_frame_columns_follow_the_labels():
    both = fake_predictions(10)
    assert list(both.columns) == [
        "obsid", "kic", "age", "age_err", "mass", "mass_err",
        "age_true", "e_age_true", "mass_true", "e_mass_true",
    ]  # fmt: skip
    mass = one_label("mass", 10, mc=True)
    assert list(mass.columns) == [
        "obsid", "kic", "mass", "mass_err", "mass_err_mc", "mass_true", "e_mass_true",
    ]  # fmt: skip
    assert np.allclose(mass["mass_err_mc"], 0.5 * mass["mass_err"])
    # A split without names is read as (age, mass): one column cannot be that.
    split = {"y": np.ones((3, 1)), "y_err": np.ones((3, 1)), "obsid": np.arange(3),
             "kic": np.arange(3)}  # fmt: skip
    with pytest.raises(ValueError, match="do not match the labels"):
        prediction_frame(split, np.ones((3, 1)))


def test_one_label_predictions_read_and_score(tmp_path):
    pred = one_label("mass", 20000, seed=4)
    pred.to_csv(tmp_path / "p.csv", index=False)
    back = read_predictions(tmp_path / "p.csv")
    assert "age" not in back.columns
    s = scores(back)
    assert set(s) == {k for k in s if k.startswith("mass_")} and "mass_delta_p" in s
    assert s["mass_delta_p"] == pytest.approx(5 * np.sqrt(2 / np.pi), rel=0.03)
    cal = calibration(back)
    assert set(cal["label"]) == {"mass"}
    assert cal.set_index("sigma").loc["prediction", "within_1sigma"] == pytest.approx(
        0.683, abs=0.01
    )
    pred.drop(columns=["mass_true"]).to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(PredictionFormatError, match="mass_true"):
        read_predictions(tmp_path / "q.csv")
    pred.drop(columns=["mass"]).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(PredictionFormatError, match="lack a label column"):
        read_predictions(tmp_path / "r.csv")


def test_tables_of_one_label_have_its_columns_only():
    t1 = table1({"SPT": one_label("mass", seed=1), "ridge": one_label("mass", seed=2)})
    assert list(t1.columns) == [
        "model", "mass Delta_P (%)", "mass MAE (Msun)", "mass robust scatter (%)",
    ]  # fmt: skip
    assert t1.set_index("model").loc[PAPER_ROW, "mass Delta_P (%)"] == 6.61
    t2 = table2({"mse": one_label("age", seed=2), "mahalanobis": one_label("age", seed=3)})
    assert [c for c in t2.columns if "mass" in c] == []
    assert {"age Delta_P (%)", "age within 1 sigma", "age within 2 sigma"} <= set(t2.columns)
    both = table1({"SPT": fake_predictions(seed=1)})
    assert len([c for c in both.columns if c != "model"]) == 6


def test_noise_floor_of_one_label():
    pred = one_label("mass", 500, seed=5)
    truth = pd.DataFrame({"obsid": pred["obsid"], "mass": pred["mass_true"] * 1.25})
    floor = noise_floor(pred, truth)
    assert set(floor["label"]) == {"mass"} and len(floor) == 3
    by = floor.set_index("comparison")["delta_p"]
    assert by["catalogue vs noise-free labels (floor)"] == pytest.approx(20.0)
