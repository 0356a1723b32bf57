"""The tiny workflow trained on masses alone (``features.labels: [mass]``) runs to the end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spt.io.predictions import load_split
from tests.conftest import run_snakemake

pytestmark = pytest.mark.workflow


@pytest.mark.parametrize("labels", ["[mass, age]", "[age, age]", "[teff]", "[]"])
def test_unknown_or_reordered_labels_stop_before_any_job(tmp_path, labels):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"features: {{labels: {labels}}}\n")
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", configfiles=(bad,), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "labels" in out
    assert "Error validating config file" in out or "ValidationError" in out
    assert not (tmp_path / "results").exists()


def test_mass_only_run_has_mass_columns_only(tmp_path):
    override = tmp_path / "mass_only.yaml"
    override.write_text("features: {labels: [mass]}\n")
    run_snakemake(tmp_path, "--cores", "2", "all", configfiles=(override,))
    results = tmp_path / "results"

    split = load_split(results / "features" / "train.npz")
    assert split["labels"].tolist() == ["mass"] and split["y"].shape[1] == 1
    for name in ("spt_mahalanobis", "ridge", "cannon", "spt_sample"):
        pred = pd.read_csv(results / "predictions" / f"{name}.csv")
        assert {"mass", "mass_err", "mass_true", "e_mass_true"} <= set(pred.columns), name
        assert not [c for c in pred.columns if "age" in c], name
        assert np.isfinite(pred["mass"]).all() and (pred["mass"] > 0).all()

    table1 = pd.read_csv(results / "tables" / "table1.csv")
    assert list(table1.columns) == [
        "model", "mass Delta_P (%)", "mass MAE (Msun)", "mass robust scatter (%)", "seeds",
        "mass Delta_P seed mean (%)", "mass Delta_P seed std (%)", "mass Delta_P minus SPT (%)",
        "mass Delta_P minus SPT 95% low (%)", "mass Delta_P minus SPT 95% high (%)",
        "mass differs from SPT",
    ]  # fmt: skip
    assert table1["mass Delta_P (%)"].iloc[:-1].between(0, 100).all()
    table2 = pd.read_csv(results / "tables" / "table2.csv")
    assert not [c for c in table2.columns if "age" in c]
    clusters = pd.read_csv(results / "tables" / "clusters.csv")
    assert "mass_median" in clusters and not [c for c in clusters if c.startswith("age_")]
    assert pd.read_csv(results / "tables" / "isochrones.csv")["n"].eq(0).all()
    for fig in ("fig06_pred_vs_true", "fig10_isochrones", "fig11_clusters", "fig12_age_chemistry"):
        assert (results / "figures" / f"{fig}.pdf").stat().st_size > 1000, fig
