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
    base = fake_predictions(seed=1)
    t = table1({"SPT": base, "ridge": rerun(base, age_scatter=0.4, seed=2)})
    assert list(t["model"]) == ["SPT", "ridge", PAPER_ROW]
    paper = t.set_index("model").loc[PAPER_ROW]
    assert paper["age Delta_P (%)"] == 17.64 and paper["mass Delta_P (%)"] == 6.61
    assert np.isnan(paper["age MAE (Gyr)"])
    rows = t.set_index("model")
    assert rows.loc["ridge", "age Delta_P (%)"] > rows.loc["SPT", "age Delta_P (%)"]


def test_table2_rows_and_coverage():
    base = fake_predictions(seed=2)
    t = table2({"mse": base, "mahalanobis": rerun(base, age_scatter=0.2, seed=3)})
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
    t1 = table1({"SPT": one_label("mass", seed=1), "ridge": one_label("mass", seed=1)})
    assert list(t1.columns) == [
        "model", "mass Delta_P (%)", "mass MAE (Msun)", "mass robust scatter (%)", "seeds",
        "mass Delta_P seed mean (%)", "mass Delta_P seed std (%)", "mass Delta_P minus SPT (%)",
        "mass Delta_P minus SPT 95% low (%)", "mass Delta_P minus SPT 95% high (%)",
        "mass differs from SPT",
    ]  # fmt: skip
    assert t1.set_index("model").loc[PAPER_ROW, "mass Delta_P (%)"] == 6.61
    t2 = table2({"mse": one_label("age", seed=2), "mahalanobis": one_label("age", seed=2)})
    assert [c for c in t2.columns if "mass" in c] == []
    assert {"age Delta_P (%)", "age within 1 sigma", "age within 2 sigma"} <= set(t2.columns)
    both = table1({"SPT": fake_predictions(seed=1)})
    assert len([c for c in both.columns if c != "model" and "seed" not in c]) == 6 + 2 * 4


def test_noise_floor_of_one_label():
    pred = one_label("mass", 500, seed=5)
    truth = pd.DataFrame({"obsid": pred["obsid"], "mass": pred["mass_true"] * 1.25})
    floor = noise_floor(pred, truth)
    assert set(floor["label"]) == {"mass"} and len(floor) == 3
    by = floor.set_index("comparison")["delta_p"]
    assert by["catalogue vs noise-free labels (floor)"] == pytest.approx(20.0)


def rerun(frame: pd.DataFrame, age_scatter: float, seed: int) -> pd.DataFrame:
    """Another training seed's predictions of the same test stars (same labels, new errors)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["age"] = frame["age_true"] * (1 + age_scatter * rng.standard_normal(len(frame)))
    out["mass"] = frame["mass_true"] * (1 + 0.05 * rng.standard_normal(len(frame)))
    return out


def runs(base: pd.DataFrame, scatters: list[float], seed: int) -> list[pd.DataFrame]:
    return [rerun(base, s, seed + k) for k, s in enumerate(scatters)]


def test_table1_seed_columns_hold_the_seed_spread_and_the_paired_difference():
    base = fake_predictions(2000, seed=1)
    spt = runs(base, [0.10, 0.12, 0.14], seed=10)
    ridge = rerun(base, 0.30, seed=20)  # deterministic: one run, much worse
    twin = [frame.copy() for frame in spt]  # the same predictions as SPT: no difference
    t = table1({"SPT": spt, "ridge": ridge, "twin": twin}, {"bootstrap": 400}, seed=3)
    assert list(t["model"]) == ["SPT", "ridge", "twin", PAPER_ROW]
    rows = t.set_index("model")
    # the score columns are the main run's
    assert rows.loc["SPT", "age Delta_P (%)"] == pytest.approx(scores(spt[0])["age_delta_p"])
    per_seed = [scores(f)["age_delta_p"] for f in spt]
    assert rows.loc["SPT", "age Delta_P seed mean (%)"] == pytest.approx(np.mean(per_seed))
    assert rows.loc["SPT", "age Delta_P seed std (%)"] == pytest.approx(np.std(per_seed, ddof=1))
    assert rows.loc["SPT", "seeds"] == 3 and rows.loc["ridge", "seeds"] == 1
    assert np.isnan(rows.loc["ridge", "age Delta_P seed std (%)"])
    # ridge minus SPT: positive (worse), the interval holds the observed difference, excludes 0
    known = scores(ridge)["age_delta_p"] - np.mean(per_seed)
    diff = rows.loc["ridge", "age Delta_P minus SPT (%)"]
    low = rows.loc["ridge", "age Delta_P minus SPT 95% low (%)"]
    high = rows.loc["ridge", "age Delta_P minus SPT 95% high (%)"]
    assert diff == pytest.approx(known, abs=0.3) and low < known < high and low > 0
    assert bool(rows.loc["ridge", "age differs from SPT"])
    # identical predictions: exactly zero, interval of zero width, no marker
    assert rows.loc["twin", "age Delta_P minus SPT (%)"] == 0.0
    assert rows.loc["twin", "age Delta_P minus SPT 95% high (%)"] == 0.0
    assert not bool(rows.loc["twin", "age differs from SPT"])
    # neither the reference nor the paper's row has a difference
    assert pd.isna(rows.loc["SPT", "age differs from SPT"])
    assert np.isnan(rows.loc[PAPER_ROW, "age Delta_P minus SPT (%)"])


def test_tables_pair_stars_by_obsid_and_refuse_another_split():
    base = fake_predictions(500, seed=2)
    spt, ridge = rerun(base, 0.1, 1), rerun(base, 0.3, 2)
    shuffled = ridge.sample(frac=1.0, random_state=0)
    a = table1({"SPT": spt, "ridge": ridge}, {"bootstrap": 200})
    b = table1({"SPT": spt, "ridge": shuffled}, {"bootstrap": 200})
    pd.testing.assert_frame_equal(a, b)
    other = fake_predictions(500, seed=3)
    with pytest.raises(ValueError, match="same test split"):
        table1({"SPT": spt, "ridge": other})


def test_table2_differences_are_to_the_papers_loss():
    base = fake_predictions(1500, seed=4)
    t = table2(
        {"mse": runs(base, [0.3, 0.32], 1), "mahalanobis": runs(base, [0.1, 0.11], 5)},
        {"bootstrap": 300},
    )
    rows = t.set_index("loss")
    assert list(t["loss"]) == ["MSE", "Mahalanobis"]
    assert rows.loc["MSE", "age Delta_P minus Mahalanobis (%)"] > 10
    assert bool(rows.loc["MSE", "age differs from Mahalanobis"])
    assert pd.isna(rows.loc["Mahalanobis", "age differs from Mahalanobis"])
    assert (rows["seeds"] == 2).all()


def test_markdown_shows_spread_interval_and_marker(tmp_path):
    base = fake_predictions(1500, seed=5)
    spt = runs(base, [0.1, 0.12], 1)
    t = table1({"SPT": spt, "ridge": rerun(base, 0.3, 9), "twin": spt}, {"bootstrap": 300})
    write_table(t, tmp_path / "table1", "Table 1")
    md = (tmp_path / "table1.md").read_text()
    rows = t.set_index("model")
    mean, std = rows.loc["SPT", ["age Delta_P seed mean (%)", "age Delta_P seed std (%)"]]
    assert f"{mean:.2f} ± {std:.2f}" in md
    d, lo, hi = rows.loc["ridge", ["age Delta_P minus SPT (%)", "age Delta_P minus SPT 95% low (%)",
                                   "age Delta_P minus SPT 95% high (%)"]]  # fmt: skip
    assert f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}] *" in md
    twin = next(line for line in md.splitlines() if line.startswith("| twin"))
    assert "*" not in twin and "+0.00 [+0.00, +0.00]" in twin  # the same runs as SPT
    assert "age Delta_P minus SPT [95% interval] (%)" in md and "seed std" not in md
    tex = (tmp_path / "table1.tex").read_text()
    assert r"$\pm$" in tex and "±" not in tex
    csv = pd.read_csv(tmp_path / "table1.csv")
    assert list(csv.columns) == list(t.columns)
