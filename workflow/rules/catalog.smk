# The survey catalogue (beyond the paper): targets -> shards (catalog.shard_size spectra, more
# where there would be over catalog.max_shards) -> one prediction job (and SLURM submission) per
# shard -> results/catalog/spt_catalog.fits, gathered in memory that does not grow with the
# survey (docs/scale.md). A killed run, rerun, redoes only unfinished shards.

CATALOG = config["catalog"]


rule simulate_field:
    output:
        catalog="resources/simulated/field/lamost_catalog.csv",
        truth="resources/simulated/field/truth.csv",
        manifest="resources/simulated/field/spectra.csv",
        spectra=directory("resources/simulated/field/spectra"),
    log:
        "results/logs/simulate_field.log",
    benchmark:
        "results/benchmarks/simulate_field.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 2
    params:
        simulate={**config["simulate"], "clusters": config["clusters"]},
        field=CATALOG["field_survey"],
        seed=config["seed"],
    script:
        "../scripts/simulate_field.py"


rule fetch_lrs_catalog:
    output:
        catalog="resources/lamost/lrs_stellar.csv.gz",
    log:
        "results/logs/fetch_lrs_catalog.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        url=CATALOG["lamost"]["catalog_url"],
        lamost=config["lamost"],
        download=config["download"],
    script:
        "../scripts/fetch_lrs_catalog.py"


checkpoint catalog_targets:
    input:
        unpack(catalog_target_inputs),
    output:
        targets=directory("results/catalog/targets"),
        summary="results/catalog/targets_summary.csv",
        problems="results/catalog/target_problems.csv",
    log:
        "results/logs/catalog_targets.log",
    conda:
        "../../envs/data.yaml"
    params:
        catalog=CATALOG,
    script:
        "../scripts/catalog_targets.py"


rule catalog_shard:
    input:
        targets="results/catalog/targets/{shard}.csv",
        # carries the PCA, settings and template (spt.catalog.predict.Predictor)
        model=SPT_MODEL,
    output:
        shard="results/catalog/shards/{shard}.csv",
    log:
        "results/logs/catalog_shard_{shard}.log",
    benchmark:
        "results/benchmarks/catalog_shard_{shard}.tsv"
    wildcard_constraints:
        shard=r"s\d{5}",
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        chunk_size=config["preprocess"]["chunk_size"],
        download=CATALOG["targets"] == "lamost",
        lamost=config["lamost"],
        download_cfg=config["download"],
        cache_dir="resources/lamost/spectra",
    script:
        "../scripts/catalog_shard.py"


rule catalog_gather:
    input:
        shards=catalog_shards,
        model=SPT_MODEL,
    output:
        fits="results/catalog/spt_catalog.fits",
        flags=report(
            "results/tables/catalog_flags.csv",
            caption="../report/catalog_flags.rst",
            category="Catalogue",
        ),
    log:
        "results/logs/catalog_gather.log",
    conda:
        "../../envs/data.yaml"
    params:
        commit=COMMIT,
        config_md5=CONFIG_MD5,
        source=f"catalog targets: {CATALOG['targets']}",
        note=DATA_NOTE if CATALOG["targets"] == "simulated" else "LAMOST",
    script:
        "../scripts/catalog_gather.py"


rule catalog_accuracy:
    input:
        fits=rules.catalog_gather.output.fits,
        truth=rules.simulate_field.output.truth,
    output:
        accuracy=report(
            "results/tables/catalog_accuracy.csv",
            caption="../report/catalog_accuracy.rst",
            category="Catalogue",
        ),
        capture=report(
            "results/tables/flag_capture.csv",
            caption="../report/flag_capture.rst",
            category="Catalogue",
        ),
    log:
        "results/logs/catalog_accuracy.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/catalog_accuracy.py"


rule catalog_figure:
    input:
        fits=rules.catalog_gather.output.fits,
    output:
        **fig("figC1_catalog"),
    log:
        "results/logs/catalog_figure.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE if CATALOG["targets"] == "simulated" else "LAMOST",
    script:
        "../scripts/catalog_figure.py"


rule flag_figure:
    input:
        capture=rules.catalog_accuracy.output.capture,
    output:
        **fig("figS3_flag_capture"),
    log:
        "results/logs/flag_figure.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
    script:
        "../scripts/catalog_figure.py"


CATALOG_PRODUCTS = [
    rules.catalog_gather.output.fits,
    rules.catalog_gather.output.flags,
    rules.catalog_figure.output.pdf,
] + (
    [
        rules.catalog_accuracy.output.accuracy,
        rules.catalog_accuracy.output.capture,
        rules.flag_figure.output.pdf,
    ]
    if CATALOG["targets"] == "simulated"
    else []
)


rule catalog:
    input:
        CATALOG_PRODUCTS,
