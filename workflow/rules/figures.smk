# The paper's figures: one wildcard-free rule each, so `snakemake fig04` rebuilds one alone.
# Every figure is written as PDF and PNG.


rule fig01:
    input:
        pca="results/features/pca.joblib",
    output:
        **fig("fig01_framework"),
    log:
        "results/logs/fig01.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig01",
        model=config["model"],
        loss=config["train"]["loss"],
    script:
        "../scripts/figures.py"


rule fig02:
    output:
        **fig("fig02_attention"),
    log:
        "results/logs/fig02.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig02",
        model=config["model"],
    script:
        "../scripts/figures.py"


rule fig03:
    input:
        sample="results/data/sample.csv",
    output:
        **fig("fig03_loss_preference"),
    log:
        "results/logs/fig03.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig03",
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig04:
    input:
        report="results/data/preprocess_report.csv",
        spectra=spectra_ready(),
    output:
        **fig("fig04_anomalies"),
    log:
        "results/logs/fig04.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig04",
        spectra_dir=spectra_dir,
    script:
        "../scripts/figures.py"


rule fig05:
    input:
        matched="results/data/matched.csv",
        sample="results/data/sample.csv",
    output:
        **fig("fig05_label_outliers"),
    log:
        "results/logs/fig05.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig05",
    script:
        "../scripts/figures.py"


rule pca_variance:
    input:
        pca="results/features/pca.joblib",
    output:
        **fig("figS1_pca_variance"),
    log:
        "results/logs/pca_variance.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="pca_variance",
    script:
        "../scripts/figures.py"


rule fig06:
    input:
        predictions="results/predictions/spt.csv",
    output:
        **fig("fig06_pred_vs_true"),
    log:
        "results/logs/fig06.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig06",
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig07:
    input:
        predictions="results/predictions/spt.csv",
    output:
        **fig("fig07_uncertainties"),
    log:
        "results/logs/fig07.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig07",
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig10:
    input:
        per_star="results/predictions/isochrone_comparison.csv",
        summary="results/tables/isochrones.csv",
    output:
        **fig("fig10_isochrones"),
    log:
        "results/logs/fig10.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig10",
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig11:
    input:
        members="results/predictions/cluster_members.csv",
        summary="results/tables/clusters.csv",
    output:
        **fig("fig11_clusters"),
    log:
        "results/logs/fig11.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig11",
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig12:
    input:
        predictions="results/predictions/spt_sample.csv",
        matched="results/data/matched.csv",
    output:
        **fig("fig12_age_chemistry"),
    log:
        "results/logs/fig12.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig12",
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule training_curve:
    input:
        history="results/models/history.csv",
    output:
        **fig("figS2_training_curve"),
    log:
        "results/logs/training_curve.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="training_curve",
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig08:
    input:
        spt="results/predictions/spt.csv",
        baselines=expand("results/predictions/{name}.csv", name=config["baselines"]["run"]),
    output:
        **fig("fig08_baselines"),
    log:
        "results/logs/fig08.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig08",
        names=["SPT", *config["baselines"]["run"]],
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig09:
    input:
        mse="results/predictions/ablation/spt_mse.csv",
        zscore_mse="results/predictions/ablation/spt_zscore_mse.csv",
        mahalanobis="results/predictions/spt.csv",
    output:
        **fig("fig09_loss_ablation"),
    log:
        "results/logs/fig09.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="fig09",
        names=["mse", "zscore_mse", "mahalanobis"],
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule best_baseline:
    input:
        expand("results/predictions/{name}.csv", name=config["baselines"]["run"]),
    output:
        **fig("fig06b_best_baseline"),
    log:
        "results/logs/best_baseline.log",
    conda:
        "../../envs/plot.yaml"
    params:
        figure="best_baseline",
        names=config["baselines"]["run"],
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"
