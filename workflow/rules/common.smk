# Shared helpers of the rules: the source's files, the one registry of figure and table names.
# (Scripts import the package from this checkout's src/ through workflow/scripts/_bootstrap.py,
# so any Python that runs them, a conda env included, uses the code beside this Snakefile.)

import csv
import hashlib
import json
import os
import subprocess
import sys


def check_config(cfg):
    """Rules across keys that the schema cannot state, checked before any job runs."""
    problems = []
    fractions = cfg["features"]["fractions"]
    if abs(sum(fractions) - 1.0) > 1e-6:
        problems.append(f"features.fractions {fractions} sum to {sum(fractions):g}, not 1")
    if fractions[0] <= 0 or fractions[2] <= 0:
        problems.append(f"features.fractions {fractions}: train and test need a share > 0")
    lo, hi = cfg["labels"]["age_min"], cfg["labels"]["age_max"]
    if lo >= hi:
        problems.append(f"labels.age_min {lo} is not below labels.age_max {hi}")
    lo, hi = cfg["labels"]["mass_min"], cfg["labels"]["mass_max"]
    if lo >= hi:
        problems.append(f"labels.mass_min {lo} is not below labels.mass_max {hi}")
    spectra = cfg["preprocess"]["spectra"]
    if spectra["wave_min"] >= spectra["wave_max"]:
        problems.append("preprocess.spectra.wave_min is not below preprocess.spectra.wave_max")
    unknown = sorted(set(cfg["baselines"]["params"]) - set(cfg["baselines"]["run"]))
    if unknown:
        problems.append(f"baselines.params names baselines that baselines.run lacks: {unknown}")
    if problems:
        raise ValueError("invalid configuration:\n  " + "\n  ".join(problems))


check_config(config)
SOURCE = config["source"]
RESOURCES = f"resources/{SOURCE}"
# Drawn on figures and written into tables, so mock numbers are never mistaken for the paper's.
DATA_NOTE = (
    "simulated survey (mock LAMOST x Kepler), not the paper's data"
    if SOURCE == "simulated"
    else "LAMOST DR9 x Kepler asteroseismology"
)
# The loss of the paper's model (the one every downstream product uses), and the losses of the
# ablation (Table 2, Fig. 9); all SPT models go through the same train_spt / predict_spt rules.
SPT_LOSS = config["train"]["loss"]
ABLATION_LOSSES = config["ablation"]["losses"]
SPT_LOSSES = list(dict.fromkeys([SPT_LOSS, *ABLATION_LOSSES]))
BASELINES = config["baselines"]["run"]

# Comparisons beyond one training seed (compare.*, ours): replicate r = 1 .. seeds-1 of every
# stochastic model (SPT with each loss, the SEEDED_BASELINES) is trained again with the seed
# replicate_seed(seed, r); r = 0 is the main run. One home for both: spt.validation.compare.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))  # this checkout's package first
from spt.validation.compare import SEEDED_BASELINES, replicate_seed

REPLICATES = list(range(1, config["compare"]["seeds"]))
ABLATION_REPLICATES = list(range(1, config["compare"]["ablation_seeds"]))
SEEDED_RUN = [name for name in BASELINES if name in SEEDED_BASELINES]


def spt_runs(loss, replicates=REPLICATES):
    """Test predictions of SPT trained with ``loss``: the main run, then its replicates."""
    main = expand(rules.predict_spt.output.predictions, loss=loss)
    paths = rules.predict_spt_replicate.output.predictions
    return main + expand(paths, loss=loss, replicate=replicates)


def calibration_folds(wildcards):
    """Out-of-fold predictions that calibrate the errors of the paper's model
    (predict.calibration_folds >= 2); none for the ablation's models (validation split)."""
    n_folds = config["predict"]["calibration_folds"]
    if wildcards.loss != SPT_LOSS or n_folds < 2:
        return []
    return expand(rules.crossfit_spt.output[0], loss=wildcards.loss, fold=range(n_folds))


def trust_reference(wildcards):
    """The mock's noise-free truth, what the quoted errors are scored against; none for real
    data (then the catalogue labels with their errors)."""
    return {"truth": rules.simulate_survey.output.truth} if SOURCE == "simulated" else {}


def baseline_runs(name):
    """A baseline's test predictions: the main run, then replicates if its fit uses the seed."""
    main = expand(rules.baseline.output.predictions, name=name)
    if name not in SEEDED_BASELINES:
        return main
    replicates = rules.baseline_replicate.output.predictions
    return main + expand(replicates, name=name, replicate=REPLICATES)


# Every figure and table, registered by the helpers below as the rules are read: the target
# rules `figures` and `tables` (Snakefile) take their lists from here.
FIGURES = []
TABLES = []


def source_file(name):
    """Path of one of the source's catalogue files (same names for every source)."""
    return f"{RESOURCES}/{name}"


def fig(stem):
    """Outputs of a figure rule: the PDF and the PNG beside it (the PNG goes in the report)."""
    FIGURES.append(f"results/figures/{stem}.pdf")
    return {
        "pdf": f"results/figures/{stem}.pdf",
        "png": report(
            f"results/figures/{stem}.png",
            caption=f"../report/{stem}.rst",
            category="Figures",
        ),
    }


def table(stem):
    """Outputs of a paper-table rule: CSV, LaTeX and Markdown (the Markdown in the report)."""
    paths = {ext: f"results/tables/{stem}.{ext}" for ext in ("csv", "tex", "md")}
    TABLES.extend(paths.values())
    paths["md"] = report(paths["md"], caption=f"../report/{stem}.rst", category="Tables")
    return paths


# The checkpoints that write the manifests (SPECTRA_CHECKPOINT, CLUSTER_CHECKPOINT) are chosen
# by source at the end of workflow/rules/fetch.smk.
def _listed_files(manifest):
    """The spectrum files a manifest lists (not those whose download failed)."""
    with open(manifest, newline="") as fh:
        return [row["path"] for row in csv.DictReader(fh) if row.get("status") != "failed"]


def spectra_files(wildcards):
    """Every spectrum file of the survey's manifest, as inputs one by one: no rule declares the
    files themselves as outputs, so Snakemake sees each file's time stamp and a changed or
    replaced file reruns what reads it."""
    return _listed_files(SPECTRA_CHECKPOINT.get().output.manifest)


def cluster_spectra_files(wildcards):
    """Every spectrum file of the cluster members' manifest, as inputs one by one."""
    return _listed_files(CLUSTER_CHECKPOINT.get().output.manifest)


def catalog_target_inputs(wildcards):
    """What the catalogue's targets are built from, by ``catalog.targets``."""
    kind = config["catalog"]["targets"]
    if kind == "simulated":
        field = rules.simulate_field.output
        return {"catalog": field.catalog, "manifest": field.manifest}
    if kind == "lamost":
        return {"catalog": rules.fetch_lrs_catalog.output.catalog}
    side = config["catalog"]["catalog_file"]
    listed = config["catalog"]["obsids_file"] if kind == "obsids" else []
    return {"listed": listed, "side": side or []}


def catalog_shards(wildcards):
    """Every shard's output, once catalog_targets has cut the targets into shards."""
    folder = checkpoints.catalog_targets.get().output.targets
    names = glob_wildcards(os.path.join(folder, "{shard}.csv")).shard
    return expand(rules.catalog_shard.output.shard, shard=sorted(names))


def _commit():
    """The checkout's commit (or 'unknown' outside git), for table captions."""
    try:
        out = subprocess.run(
            ["git", "-C", workflow.basedir, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


COMMIT = _commit()
CONFIG_MD5 = hashlib.md5(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def caption(title):
    """A table caption naming the data, the commit and the configuration."""
    return f"{title}. Data: {DATA_NOTE}. Pipeline commit {COMMIT}, config md5 {CONFIG_MD5}."
