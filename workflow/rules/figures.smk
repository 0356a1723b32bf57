# The paper's figures: one wildcard-free rule each, so `snakemake fig04` rebuilds one alone.
# Every figure is written as PDF and PNG; workflow/scripts/figures.py draws the one its rule
# names, and fig() registers the file for the `figures` target.


rule fig01:
    input:
        pca=rules.features.output.pca,
    output:
        **fig("fig01_framework"),
    log:
        "results/logs/fig01.log",
    conda:
        "../../envs/plot.yaml"
    params:
        model=config["model"],
        loss=SPT_LOSS,
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
        model=config["model"],
    script:
        "../scripts/figures.py"


rule fig03:
    input:
        sample=rules.select_sample.output.sample,
    output:
        **fig("fig03_loss_preference"),
    log:
        "results/logs/fig03.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
        labels=config["features"]["labels"],
    script:
        "../scripts/figures.py"


rule fig04:
    input:
        report=rules.preprocess.output.report,
        manifest=SPECTRA_MANIFEST,
    output:
        **fig("fig04_anomalies"),
    log:
        "results/logs/fig04.log",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/figures.py"


rule fig05:
    input:
        matched=rules.crossmatch.output.matched,
        sample=rules.select_sample.output.sample,
    output:
        **fig("fig05_label_outliers"),
    log:
        "results/logs/fig05.log",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/figures.py"


rule pca_variance:
    input:
        pca=rules.features.output.pca,
    output:
        **fig("figS1_pca_variance"),
    log:
        "results/logs/pca_variance.log",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/figures.py"


rule fig06:
    input:
        predictions=SPT_PREDICTIONS,
    output:
        **fig("fig06_pred_vs_true"),
    log:
        "results/logs/fig06.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig07:
    input:
        predictions=SPT_PREDICTIONS,
        groups=rules.trust_calibration.output.groups,
    output:
        **fig("fig07_uncertainties"),
    log:
        "results/logs/fig07.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig08:
    input:
        **MODEL_PREDICTIONS,
    output:
        **fig("fig08_baselines"),
    log:
        "results/logs/fig08.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig09:
    input:
        **ABLATION_PREDICTIONS,
    output:
        **fig("fig09_loss_ablation"),
    log:
        "results/logs/fig09.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule best_baseline:
    input:
        **BASELINE_PREDICTIONS,
    output:
        **fig("fig06b_best_baseline"),
    log:
        "results/logs/best_baseline.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig10:
    input:
        per_star=rules.compare_isochrones.output.per_star,
        summary=rules.compare_isochrones.output.summary,
    output:
        **fig("fig10_isochrones"),
    log:
        "results/logs/fig10.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
        labels=config["features"]["labels"],
    script:
        "../scripts/figures.py"


rule fig11:
    input:
        members=rules.validate_clusters.output.members,
        summary=rules.validate_clusters.output.summary,
    output:
        **fig("fig11_clusters"),
    log:
        "results/logs/fig11.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"


rule fig12:
    input:
        predictions=rules.predict_sample.output.predictions,
        matched=rules.crossmatch.output.matched,
    output:
        **fig("fig12_age_chemistry"),
    log:
        "results/logs/fig12.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
        labels=config["features"]["labels"],
    script:
        "../scripts/figures.py"


rule training_curve:
    input:
        history=SPT_HISTORY,
    output:
        **fig("figS2_training_curve"),
    log:
        "results/logs/training_curve.log",
    conda:
        "../../envs/plot.yaml"
    params:
        note=DATA_NOTE,
    script:
        "../scripts/figures.py"
