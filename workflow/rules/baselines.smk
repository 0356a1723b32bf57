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
    threads: 2
    params:
        settings=lambda wildcards: config["baselines"]["params"].get(wildcards.name, {}),
        seed=config["seed"],
    script:
        "../scripts/baseline.py"


# Named inputs, one per row of the tables and bars of the figures, in their order.
BASELINE_PREDICTIONS = {
    name: expand(rules.baseline.output.predictions, name=name)[0] for name in BASELINES
}
# Table 1 and Fig. 8: SPT first, then the baselines (one dict: keyword order survives snakefmt).
MODEL_PREDICTIONS = {"SPT": SPT_PREDICTIONS, **BASELINE_PREDICTIONS}
ABLATION_PREDICTIONS = {
    loss: expand(rules.predict_spt.output.predictions, loss=loss)[0] for loss in ABLATION_LOSSES
}


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
        caption=caption("Table 1: SPT and the baselines on the test split"),
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
        caption=caption("Table 2: SPT trained with each loss (same seed and budget)"),
    script:
        "../scripts/tables.py"
