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
include: "workflow/rules/catalog.smk"
include: "workflow/rules/report.smk"


# Target rules: `snakemake <target>` builds one stage's products. Every path comes from the rule
# that writes it; FIGURES and TABLES are filled by fig() and table() (workflow/rules/common.smk).
DATA = [rules.crossmatch.output.matched, rules.crossmatch.output.summary]
FEATURES = [rules.select_sample.output.sample, rules.features.output.test]
MODEL = [
    SPT_PREDICTIONS,
    SPT_CALIBRATION,
    rules.trust_calibration.output.groups,
    rules.trust_calibration.output.bins,
    rules.trust_calibration.output.bias,
]
VALIDATION = [rules.validate_clusters.output.summary, rules.compare_isochrones.output.summary]
PROVENANCE = [rules.config_used.output[0]] + expand(rules.software_versions.output[0], env=ENVS)
# The catalogue is part of `all` unless its targets are the whole LAMOST survey (then ask for
# it with `snakemake catalog`).
CATALOG_IN_ALL = CATALOG_PRODUCTS if CATALOG["targets"] != "lamost" else []
MOCK_ONLY = (
    [rules.anomaly_detection.output[0], rules.noise_floor.output[0]]
    if SOURCE == "simulated"
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
        CATALOG_IN_ALL,


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
