# Baselines (same features and split as SPT), the loss ablation, and the paper's tables.


rule baseline:
    input:
        train="results/features/train.npz",
        val="results/features/val.npz",
        test="results/features/test.npz",
        spectra="results/data/spectra.npz",
    output:
        "results/predictions/{name}.csv",
    log:
        "results/logs/baseline_{name}.log",
    benchmark:
        "results/benchmarks/baseline_{name}.tsv"
    wildcard_constraints:
        name="|".join(config["baselines"]["run"]) or "no-baseline",
    conda:
        "../../envs/ml.yaml"
    threads: 2
    params:
        settings=lambda wildcards: config["baselines"]["params"].get(wildcards.name, {}),
        seed=config["seed"],
    script:
        "../scripts/baseline.py"


rule train_ablation:
    input:
        train="results/features/train.npz",
        val="results/features/val.npz",
        test="results/features/test.npz",
    output:
        model="results/models/ablation/spt_{loss}.pt",
        predictions="results/predictions/ablation/spt_{loss}.csv",
    log:
        "results/logs/train_ablation_{loss}.log",
    benchmark:
        "results/benchmarks/train_ablation_{loss}.tsv"
    wildcard_constraints:
        loss="mse|zscore_mse",
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        train=config["train"],
        model=config["model"],
        seed=config["seed"],
        predict=config["predict"],
        checkpoint=lambda wildcards: f"results/models/checkpoints/ablation_{wildcards.loss}.pt",
    script:
        "../scripts/train_ablation.py"


rule table1:
    input:
        spt="results/predictions/spt.csv",
        baselines=expand("results/predictions/{name}.csv", name=config["baselines"]["run"]),
    output:
        csv="results/tables/table1.csv",
        tex="results/tables/table1.tex",
        md=report("results/tables/table1.md", caption="../report/table1.rst", category="Tables"),
    log:
        "results/logs/table1.log",
    conda:
        "../../envs/plot.yaml"
    params:
        table="table1",
        names=["SPT", *config["baselines"]["run"]],
        caption=caption("Table 1: SPT and the baselines on the test split"),
    script:
        "../scripts/tables.py"


rule table2:
    input:
        mse="results/predictions/ablation/spt_mse.csv",
        zscore_mse="results/predictions/ablation/spt_zscore_mse.csv",
        mahalanobis="results/predictions/spt.csv",
    output:
        csv="results/tables/table2.csv",
        tex="results/tables/table2.tex",
        md=report("results/tables/table2.md", caption="../report/table2.rst", category="Tables"),
    log:
        "results/logs/table2.log",
    conda:
        "../../envs/plot.yaml"
    params:
        table="table2",
        names=["mse", "zscore_mse", "mahalanobis"],
        caption=caption("Table 2: SPT trained with three losses (same seed and budget)"),
    script:
        "../scripts/tables.py"
