# Provenance for the report: the software each environment ran with and the merged config.
from snakemake import __version__ as SNAKEMAKE_VERSION

ENVS = ["data", "ml", "plot"]


rule software_versions:
    output:
        report(
            "results/report/software_{env}.csv",
            caption="../report/software.rst",
            category="Provenance",
            labels={"environment": "{env}"},
        ),
    log:
        "results/logs/software_versions_{env}.log",
    wildcard_constraints:
        env="|".join(ENVS),
    conda:
        "../../envs/{env}.yaml"
    params:
        extra={"snakemake": SNAKEMAKE_VERSION, "pipeline commit": COMMIT},
    script:
        "../scripts/provenance.py"


rule config_used:
    output:
        report(
            "results/report/config.yaml",
            caption="../report/config.rst",
            category="Provenance",
        ),
    log:
        "results/logs/config_used.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        config=config,
    script:
        "../scripts/provenance.py"
