"""The Snakemake workflow itself: config validation, dry runs and a tiny end-to-end run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.table import Table

from spt.model.flags import UNUSABLE_BITS
from spt.model.store import load_train_config
from spt.paper.report import find_chromium, rendered_dom, screenshot
from tests.conftest import REPO, run_snakemake
from tests.support.system import in_ci, require_program

pytestmark = pytest.mark.workflow


def test_dry_run_default_config(tmp_path):
    proc = run_snakemake(tmp_path, "-n", "--cores", "1")
    assert "simulate_survey" in proc.stdout and "crossmatch" in proc.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("crossmatch: {radius_arcsecs: 3}", "radius_arcsecs"),
        ("crossmatch: {radius_arcsec: -1}", "radius_arcsec"),
        ("seed: forty-two", "seed"),
        ("source: sdss", "source"),
        ("simulate: {anomalies: {oscillation: 0.9}}", "oscillation"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, override, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(override + "\n")
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", configfiles=(bad,), check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Error validating config file" in out or "ValidationError" in out
    assert message in out
    assert not (tmp_path / "results").exists()


def test_cross_field_config_rules_stop_before_any_job(tmp_path):
    """Rules the schema cannot state (fractions summing to 1, ordered ranges) fail at start-up."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: {fractions: [0.7, 0.2, 0.2]}\nlabels: {mass_min: 6.0}\n")
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", configfiles=(bad,), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "invalid configuration" in out
    assert "features.fractions [0.7, 0.2, 0.2] sum to 1.1, not 1" in out
    assert "labels.mass_min 6.0 is not below labels.mass_max" in out
    assert not (tmp_path / "results").exists()


def test_every_spt_model_comes_from_the_same_rules_and_is_named_by_its_loss(tiny_run):
    """The ablation goes through train_spt / predict_spt; Table 2 names each model's real loss."""
    for loss in ("mahalanobis", "mse", "zscore_mse"):
        assert load_train_config(tiny_run / f"results/models/spt_{loss}.pt").loss == loss
        assert (tiny_run / f"results/logs/train_spt_{loss}.log").exists()
        assert (tiny_run / f"results/predictions/spt_{loss}.csv").exists()
    table2 = pd.read_csv(tiny_run / "results/tables/table2.csv")
    assert table2["loss"].tolist() == ["MSE", "z-scored MSE", "Mahalanobis"]
    table1 = pd.read_csv(tiny_run / "results/tables/table1.csv")
    mahalanobis = table2.set_index("loss").loc["Mahalanobis", "age Delta_P (%)"]
    assert table1.set_index("model").loc["SPT", "age Delta_P (%)"] == mahalanobis


def test_one_manifest_finds_every_spectrum(tiny_run):
    manifest = pd.read_csv(tiny_run / "resources/simulated/spectra.csv")
    assert list(manifest.columns) == ["obsid", "path"] and manifest["obsid"].is_unique
    matched = pd.read_csv(tiny_run / "results/data/matched.csv")
    assert matched["obsid"].isin(manifest["obsid"]).all()
    assert all((tiny_run / p).exists() for p in manifest["path"])


def test_tiny_end_to_end(tiny_run):
    matched = pd.read_csv(tiny_run / "results/data/matched.csv")
    summary = pd.read_csv(tiny_run / "results/data/crossmatch_summary.csv").set_index("quantity")
    truth = pd.read_csv(tiny_run / "resources/simulated/truth.csv")
    # Every observed seismic star is matched once, to its own spectrum.
    assert len(matched) == summary.loc["matched_stars", "count"] == 240
    assert matched["kic"].is_unique
    own = truth.set_index("obsid").loc[matched["obsid"], "kic"].to_numpy()
    assert (own == matched["kic"].to_numpy()).all()
    assert summary.loc["unmatched_seismic_stars", "count"] == 40
    assert summary.loc["extra_spectra_dropped", "count"] == (truth["role"] == "repeat").sum()
    # The kept spectrum is the best of a star's spectra.
    best = truth[truth["kic"] > 0].groupby("kic")["snrg"].max()
    assert (matched.set_index("kic")["snrg"] == best.loc[matched["kic"]].to_numpy()).all()
    assert (tiny_run / "results/logs/crossmatch.log").exists()
    assert (tiny_run / "results/benchmarks/simulate_survey.tsv").exists()


def test_tiny_run_reaches_predictions(tiny_run):
    matched = pd.read_csv(tiny_run / "results/data/matched.csv")
    sample = pd.read_csv(tiny_run / "results/data/sample.csv")
    rejected = pd.read_csv(tiny_run / "results/data/anomalies.csv")
    # Nothing is lost: every matched star is either in the sample or listed with a reason.
    gone = set(matched["obsid"]) - set(sample["obsid"])
    listed = set(rejected["obsid"].dropna().astype(int))
    listed |= set(matched.loc[matched["kic"].isin(rejected["kic"].dropna()), "obsid"])
    assert gone == gone & listed and len(gone) > 0
    assert rejected["reasons"].str.len().gt(0).all()
    summary = pd.read_csv(tiny_run / "results/features/summary.csv").set_index("quantity")["value"]
    assert summary[["n_train", "n_val", "n_test"]].sum() == len(sample)
    pred = pd.read_csv(tiny_run / "results/predictions/spt_mahalanobis.csv")
    assert len(pred) == summary["n_test"]
    assert (pred["age_err"] > 0).all() and (pred["mass_err"] > 0).all()
    assert pred["kic"].isin(sample["kic"]).all()
    # each test star's red-clump probability, which the calibration table bins
    assert pred["p_red_clump"].between(0.0, 1.0).all()
    groups = pd.read_csv(tiny_run / "results/tables/calibration_groups.csv")
    bins = groups.loc[groups["group"].str.startswith("P(RC)") & (groups["label"] == "age")]
    assert bins["n"].sum() == len(pred) and len(bins) == 4
    calib = pd.read_csv(tiny_run / "results/tables/calibration_mahalanobis.csv")
    assert set(calib["label"]) == {"age", "mass"}
    assert calib["within_2sigma"].ge(calib["within_1sigma"]).all()
    history = pd.read_csv(tiny_run / "results/models/history_mahalanobis.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    detection = pd.read_csv(tiny_run / "results/tables/anomaly_detection.csv")
    assert set(detection["type"]) >= {"oscillation", "missing", "outlier", "negative"}


def test_rerun_is_a_no_op(tiny_run):
    proc = run_snakemake(tiny_run, "-n", "--cores", "1", "all")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_scripts_import_this_checkouts_package_before_an_installed_one(tmp_path):
    decoy = tmp_path / "spt"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("")
    # Snakemake's script preamble appends the workflow's path after site-packages, where an
    # install of another checkout (here the decoy) sits
    src, scripts = str(REPO / "src"), str(REPO / "workflow/scripts")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); sys.path.append({src!r}); "
        f"sys.path.insert(0, {scripts!r}); "
        "import _bootstrap, spt; print(spt.__file__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(REPO / "src" / "spt" / "__init__.py")


def test_repo_has_required_layout():
    required = (
        "Snakefile", "workflow/rules", "workflow/scripts", "config/config.yaml",
        "config/schema.yaml", "envs", "results", "tests", ".test/config/config.yaml",
    )  # fmt: skip
    for path in required:
        assert (REPO / path).exists(), path


def _scheduled(proc) -> dict[str, int]:
    """Job counts from a dry run's 'Job stats' table."""
    lines = (proc.stdout + proc.stderr).splitlines()
    start = lines.index("Job stats:") + 3
    counts = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def test_one_figure_rebuilds_alone(tiny_run, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    for ext in ("pdf", "png"):
        (work / f"results/figures/fig11_clusters.{ext}").unlink()
    proc = run_snakemake(work, "-n", "--cores", "1", "fig11")
    assert _scheduled(proc) == {"fig11": 1}
    forced = run_snakemake(work, "-n", "--cores", "1", "-f", "fig06", "--rerun-triggers", "mtime")
    assert _scheduled(forced) == {"fig06": 1}


def test_a_changed_spectrum_file_reruns_preprocessing(tiny_run, tmp_path):
    """Spectra are inputs one by one (through the manifest), not hidden behind a folder."""
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    manifest = pd.read_csv(work / "resources/simulated/spectra.csv")
    matched = pd.read_csv(work / "results/data/matched.csv")
    paths = manifest.set_index("obsid").loc[matched["obsid"].iloc[:2], "path"].tolist()
    changed = work / paths[0]
    # another file's content (Snakemake compares checksums, so a bare touch does not count)
    changed.write_bytes((work / paths[1]).read_bytes())
    later = (work / "results/data/spectra.npz").stat().st_mtime + 60
    os.utime(changed, (later, later))
    proc = run_snakemake(work, "-n", "--cores", "1", "results/data/spectra.npz")
    assert _scheduled(proc) == {"preprocess": 1}


def test_every_figure_and_table_is_built(tiny_run):
    figures = sorted(p.name for p in (tiny_run / "results/figures").glob("*.pdf"))
    numbered = [f for f in figures if f.startswith("fig") and not f.startswith("figC")]
    assert sorted({f[:5] for f in numbered if not f.startswith("figS")}) == [
        f"fig{n:02d}" for n in range(1, 13)
    ]
    for pdf in figures:
        path = tiny_run / "results/figures" / pdf
        assert path.read_bytes()[:4] == b"%PDF"
        assert path.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for n in (1, 2):
        md = (tiny_run / f"results/tables/table{n}.md").read_text()
        assert "simulated survey" in md and "not the paper's data" in md


def test_tables_are_identical_on_rerun(tiny_run, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    before = {ext: (work / f"results/tables/table1.{ext}").read_bytes() for ext in ("csv", "md")}
    run_snakemake(work, "--cores", "2", "-f", "table1", "--rerun-triggers", "mtime")
    for ext, data in before.items():
        assert (work / f"results/tables/table1.{ext}").read_bytes() == data


@pytest.fixture(scope="module")
def report_html(tiny_run, tmp_path_factory):
    """The tiny run's self-contained HTML report."""
    report = tmp_path_factory.mktemp("report") / "report.html"
    run_snakemake(tiny_run, "--report", str(report))
    return report


def test_report_builds(report_html):
    html = report_html.read_text(errors="ignore")
    assert report_html.stat().st_size > 100_000
    for name in ("fig04_anomalies.png", "fig11_clusters.png", "table1.md"):
        assert name in html
    for name in ("config.yaml", "software_data.csv", "software_ml.csv", "software_plot.csv"):
        assert name in html
    for name in ("clusters.csv", "isochrones.csv", "calibration_", "crossmatch_summary.csv"):
        assert name in html


def test_provenance_outputs(tiny_run):
    merged = yaml.safe_load((tiny_run / "results/report/config.yaml").read_text())
    tiny = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    defaults = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert merged["simulate"]["n_stars"] == tiny["simulate"]["n_stars"]  # the override
    assert merged["crossmatch"] == defaults["crossmatch"]  # and the defaults under it
    versions = pd.read_csv(tiny_run / "results/report/software_ml.csv")
    table = dict(zip(versions["component"], versions["version"], strict=True))
    assert table["torch"] == metadata.version("torch")
    assert table["snakemake"] == metadata.version("snakemake")


# Skipped early (before the tiny run) without Chromium, except in CI, where it must fail.
@pytest.mark.skipif(
    find_chromium() is None and not in_ci(), reason="no Chromium (tools/ci_install_system.sh)"
)
def test_report_opens_in_headless_chromium(report_html, tmp_path):
    """The report is a JavaScript page: it must draw its navigation in a real browser."""
    require_program("chromium", "to render the report", path=find_chromium() or "")
    raw = report_html.read_text(errors="ignore")
    dom = rendered_dom(report_html)
    for drawn in (">Workflow<", ">Figures<", ">Tables<", ">Provenance<", "<nav"):
        assert drawn not in raw and drawn in dom  # only the page's scripts make these
    png = screenshot(report_html, tmp_path / "report.png", width=1200, height=800)
    image = plt.imread(png)
    assert image.shape[:2] == (800, 1200)
    assert image[..., :3].std() > 0.05  # not a blank page


def test_table1_lists_spt_first_then_the_baselines_in_config_order(tiny_run):
    table1 = pd.read_csv(tiny_run / "results/tables/table1.csv")
    tiny = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    assert table1["model"].tolist()[:-1] == ["SPT", *tiny["baselines"]["run"]]
    assert "paper" in table1["model"].iloc[-1]


def test_catalogue_has_a_row_for_every_target_and_reruns_only_unfinished_shards(tiny_run, tmp_path):
    table = Table.read(tiny_run / "results/catalog/spt_catalog.fits", hdu="CATALOG")
    field = pd.read_csv(tiny_run / "resources/simulated/field/lamost_catalog.csv")
    assert sorted(table["obsid"]) == sorted(field["obsid"])  # never a silent drop
    assert str(table["age"].unit) == "Gyr" and table["age_err"].description
    # no usable spectrum (unreadable or anomalous): no prediction, a reason and flag_bad
    unusable = (np.asarray(table["flag"], np.int64) & int(UNUSABLE_BITS)) != 0
    age = np.asarray(table["age"], float)
    assert unusable.any() and np.isnan(age[unusable]).all()
    assert np.asarray(table["flag_bad"], bool)[unusable].all()
    assert all(str(r) not in ("", "--") for r in np.asarray(table["reasons"])[unusable])
    assert np.isfinite(age[~np.asarray(table["flag_warn"], bool)]).all()  # unflagged: predicted
    # one row per star with an unflagged prediction; the mock field observes each star once
    stars = Table.read(tiny_run / "results/catalog/spt_catalog.fits", hdu="STARS")
    unflagged = ~np.asarray(table["flag_warn"], bool)
    assert sorted(stars["obsid"]) == sorted(np.asarray(table["obsid"])[unflagged])
    assert set(stars["n_spectra"]) == {1}
    np.testing.assert_allclose(np.sort(stars["age"]), np.sort(age[unflagged]))
    shards = sorted(p.name for p in (tiny_run / "results/catalog/shards").iterdir())
    assert shards == ["s00000.csv", "s00001.csv", "s00002.csv"]  # 150 targets, 50 a shard
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    # as if killed while on the second shard: it and the gathered catalogue are not there
    (work / "results/catalog/shards/s00001.csv").unlink()
    (work / "results/catalog/spt_catalog.fits").unlink()
    proc = run_snakemake(work, "-n", "--cores", "1", "catalog")
    scheduled = _scheduled(proc)
    assert scheduled["catalog_shard"] == 1 and scheduled["catalog_gather"] == 1
    assert "catalog_targets" not in scheduled and "train_spt" not in scheduled
