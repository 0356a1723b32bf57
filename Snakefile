# The SPT pipeline: red-giant ages and masses from LAMOST spectra (Zhang et al. 2024).
# Run:   snakemake --cores all            (mock survey, config/config.yaml)
#        snakemake --cores all --configfile config/paper.yaml   (real LAMOST DR9, network)
# The defaults always come from this checkout's config/config.yaml; every --configfile is
# merged over them (nested keys too), so an override file holds only what it changes.
import os

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "config/schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


# Target rules: `snakemake <target>` builds one stage's products.
DATA = ["results/data/matched.csv", "results/data/crossmatch_summary.csv"]
FEATURES = ["results/data/sample.csv", "results/features/test.npz"]
MODEL = ["results/predictions/spt.csv", "results/tables/calibration.csv"]
VALIDATION = ["results/tables/clusters.csv"]
TABLES = [f"results/tables/table{n}.{ext}" for n in (1, 2) for ext in ("csv", "tex", "md")]
PROVENANCE = ["results/report/config.yaml"] + [f"results/report/software_{env}.csv" for env in ENVS]
FIGURES = [
    f"results/figures/{name}.pdf"
    for name in (
        "fig01_framework",
        "fig02_attention",
        "fig03_loss_preference",
        "fig04_anomalies",
        "fig05_label_outliers",
        "fig06_pred_vs_true",
        "fig06b_best_baseline",
        "fig07_uncertainties",
        "fig08_baselines",
        "fig09_loss_ablation",
        "fig10_isochrones",
        "fig11_clusters",
        "fig12_age_chemistry",
        "figS1_pca_variance",
        "figS2_training_curve",
    )
]
MOCK_ONLY = (
    ["results/tables/anomaly_detection.csv", "results/tables/noise_floor.csv"]
    if config["source"] == "simulated"
    else []
)


rule all:
    default_target: True
    input:
        DATA,
        FEATURES,
        MODEL,
        VALIDATION,
        TABLES,
        FIGURES,
        MOCK_ONLY,
        PROVENANCE,


rule data:
    input:
        DATA,


rule model:
    input:
        MODEL,


rule figures:
    input:
        FIGURES,


rule tables:
    input:
        TABLES,
