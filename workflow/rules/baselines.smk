# Baselines (same features and split as SPT) and the paper's two tables.


rule baseline:
    input:
        train=rules.features.output.train,
        val=rules.features.output.val,
        test=rules.features.output.test,
        spectra=rules.preprocess.output.spectra,
    output:
        predictions="results/predictions/{name}.csv",
    log:
        "results/logs/baseline_{name}.log",
    benchmark:
        "results/benchmarks/baseline_{name}.tsv"
    wildcard_constraints:
        name="|".join(BASELINES) or "no-baseline",
    conda:
        "../../envs/ml.yaml"
    # One thread: these models are small, and two baselines side by side finish sooner on a
    # 2-core CPU than one after the other with two threads each.
    threads: 1
    params:
        settings=lambda wildcards: config["baselines"]["params"].get(wildcards.name, {}),
        seed=config["seed"],
    script:
        "../scripts/baseline.py"


# Replicates of the seeded baselines (compare.seeds, ours): the same fit and tuning with the
# seed of replicate r >= 1 (replicate_seed, common.smk); the main run above is replicate 0.
use rule baseline as baseline_replicate with:
    output:
        predictions="results/replicates/predictions/{name}_r{replicate}.csv",
    log:
        "results/logs/baseline_{name}_r{replicate}.log",
    benchmark:
        "results/benchmarks/baseline_{name}_r{replicate}.tsv"
    wildcard_constraints:
        name="|".join(SEEDED_RUN) or "no-baseline",
        replicate=r"[1-9][0-9]*",
    params:
        seed=lambda wildcards: replicate_seed(config["seed"], int(wildcards.replicate)),


# Named inputs, one per row of the tables and bars of the figures, in their order.
BASELINE_PREDICTIONS = {
    name: expand(rules.baseline.output.predictions, name=name)[0] for name in BASELINES
}


# Table 1 and Fig. 8: SPT first, then the baselines (one dict: keyword order survives snakefmt);
# each name gives its runs over training seeds, main run first (spt_runs, baseline_runs).
MODEL_PREDICTIONS = {"SPT": spt_runs(SPT_LOSS), **{name: baseline_runs(name) for name in BASELINES}}
ABLATION_PREDICTIONS = {loss: spt_runs(loss, ABLATION_REPLICATES) for loss in ABLATION_LOSSES}
# What the seed columns of both tables mean, in their captions.
SEED_NOTE = (
    "; Delta_P over seeds: mean ± standard deviation over the training seeds of each model; "
    "minus the reference: paired bootstrap over the test stars, median and "
    f"{100 * config['compare']['ci']:g}% interval, * where the interval excludes zero"
)


rule table1:
    input:
        **MODEL_PREDICTIONS,
    output:
        **table("table1"),
    log:
        "results/logs/table1.log",
    conda:
        "../../envs/plot.yaml"
    params:
        caption=caption(f"Table 1: SPT and the baselines on the test split{SEED_NOTE}"),
        compare=config["compare"],
        seed=config["seed"],
    script:
        "../scripts/tables.py"


rule table2:
    input:
        **ABLATION_PREDICTIONS,
    output:
        **table("table2"),
    log:
        "results/logs/table2.log",
    conda:
        "../../envs/plot.yaml"
    params:
        caption=caption(f"Table 2: SPT trained with each loss (same seeds and budget){SEED_NOTE}"),
        compare=config["compare"],
        seed=config["seed"],
    script:
        "../scripts/tables.py"
