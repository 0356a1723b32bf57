# The Spectral Transformer: training (GPU when there is one) and MC-dropout prediction. One pair
# of rules for every loss: the paper's model (train.loss) and the ablation's (Table 2, Fig. 9),
# each file named by the loss it was really trained with.


rule train_spt:
    input:
        train=rules.features.output.train,
        val=rules.features.output.val,
    output:
        # the trained weights; rule trust_spt adds the per-star error model and flags' domain
        model="results/models/trained/spt_{loss}.pt",
        history="results/models/history_{loss}.csv",
    log:
        "results/logs/train_spt_{loss}.log",
    benchmark:
        "results/benchmarks/train_spt_{loss}.tsv"
    wildcard_constraints:
        loss="|".join(SPT_LOSSES),
    conda:
        "../../envs/ml.yaml"
    # One thread: on a 2-core CPU an epoch takes 1.36 s on one thread and 1.57 s on two
    # (below), and the other core trains a replicate or a baseline meanwhile.
    threads: 1
    resources:
        gpu=1,
        cpus_per_gpu=8,
        mem_mb=16000,
        runtime=720,
    params:
        train=config["train"],
        model=config["model"],
        seed=config["seed"],
        # Kept outside the outputs so that an interrupted run resumes from it.
        checkpoint=lambda wildcards: f"results/models/checkpoints/spt_{wildcards.loss}.pt",
    script:
        "../scripts/train_spt.py"


# Cross-fitted calibration sample (predict.calibration_folds, ours; spt.model.crossfit): fold
# model f, trained like the paper's model for as many epochs as it kept, on the training and
# validation stars outside fold f, predicts fold f with MC dropout.
rule crossfit_spt:
    input:
        train=rules.features.output.train,
        val=rules.features.output.val,
        history=rules.train_spt.output.history,
        spectra=rules.preprocess.output.spectra,
        pca=rules.features.output.pca,
    output:
        "results/models/folds/spt_{loss}_f{fold}.npz",
    log:
        "results/logs/crossfit_spt_{loss}_f{fold}.log",
    benchmark:
        "results/benchmarks/crossfit_spt_{loss}_f{fold}.tsv"
    wildcard_constraints:
        loss="|".join(SPT_LOSSES),
        fold=r"[0-9]+",
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        gpu=1,
        cpus_per_gpu=8,
        mem_mb=16000,
        runtime=720,
    params:
        train=config["train"],
        model=config["model"],
        predict=config["predict"],
        seed=config["seed"],
        checkpoint=lambda wildcards: (
            f"results/models/checkpoints/folds/spt_{wildcards.loss}_f{wildcards.fold}.pt"
        ),
    script:
        "../scripts/crossfit_spt.py"


rule trust_spt:
    input:
        folds=calibration_folds,
        model=rules.train_spt.output.model,
        train=rules.features.output.train,
        val=rules.features.output.val,
        # S/N, LAMOST parameters and states, spectra and PCA (spt.model.trust)
        sample=rules.select_sample.output.sample,
        spectra=rules.preprocess.output.spectra,
        pca=rules.features.output.pca,
    output:
        model="results/models/spt_{loss}.pt",
    log:
        "results/logs/trust_spt_{loss}.log",
    wildcard_constraints:
        loss="|".join(SPT_LOSSES),
    conda:
        "../../envs/ml.yaml"
    threads: 1
    params:
        predict=config["predict"],
        seed=config["seed"],
        # carried by the model file, so that it alone predicts from raw spectra
        preprocess=config["preprocess"],
        anomalies=config["anomalies"],
    script:
        "../scripts/trust_spt.py"


rule predict_spt:
    input:
        model=rules.trust_spt.output.model,
        test=rules.features.output.test,
        # S/N and LAMOST parameters, spectra and PCA for the quality flags (spt.model.trust)
        sample=rules.select_sample.output.sample,
        spectra=rules.preprocess.output.spectra,
        pca=rules.features.output.pca,
    output:
        predictions="results/predictions/spt_{loss}.csv",
        calibration=report(
            "results/tables/calibration_{loss}.csv",
            caption="../report/calibration.rst",
            category="Tables",
            labels={"loss": "{loss}"},
        ),
    log:
        "results/logs/predict_spt_{loss}.log",
    benchmark:
        "results/benchmarks/predict_spt_{loss}.tsv"
    wildcard_constraints:
        loss="|".join(SPT_LOSSES),
    conda:
        "../../envs/ml.yaml"
    threads: 2
    params:
        predict=config["predict"],
        seed=config["seed"],
    script:
        "../scripts/predict_spt.py"


# The paper's model and its products, named once for every rule downstream.
SPT_MODEL = expand(rules.trust_spt.output.model, loss=SPT_LOSS)[0]
SPT_HISTORY = expand(rules.train_spt.output.history, loss=SPT_LOSS)[0]
SPT_PREDICTIONS = expand(rules.predict_spt.output.predictions, loss=SPT_LOSS)[0]
SPT_CALIBRATION = expand(rules.predict_spt.output.calibration, loss=SPT_LOSS)[0]


rule noise_floor:
    input:
        predictions=SPT_PREDICTIONS,
        truth=rules.simulate_survey.output.truth,
    output:
        report(
            "results/tables/noise_floor.csv",
            caption="../report/noise_floor.rst",
            category="Tables",
        ),
    log:
        "results/logs/noise_floor.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/noise_floor.py"


# Replicates (compare.seeds, ours): the same training and MC-dropout prediction again with the
# seed of replicate r >= 1 (replicate_seed, common.smk), for Tables 1-2 and Figs. 8-9; the main
# run above is replicate 0. Only their test predictions are read downstream. One thread each:
# on a 2-core CPU one SPT epoch took 1.36 s on one thread, 1.57 s on two, and two one-thread
# trainings side by side 1.38 s each, so replicates run in pairs at twice the throughput.
PREDICT_REPLICATE_INPUT = dict(rules.predict_spt.input.items())  # predict_spt's, but the model
# trust_spt's, but the model and no folds
TRUST_REPLICATE_INPUT = {k: v for k, v in rules.trust_spt.input.items() if k != "folds"}


use rule train_spt as train_spt_replicate with:
    output:
        model="results/replicates/models/trained/spt_{loss}_r{replicate}.pt",
        history="results/replicates/models/history_{loss}_r{replicate}.csv",
    log:
        "results/logs/train_spt_{loss}_r{replicate}.log",
    benchmark:
        "results/benchmarks/train_spt_{loss}_r{replicate}.tsv"
    wildcard_constraints:
        loss="|".join(SPT_LOSSES),
        replicate=r"[1-9][0-9]*",
    threads: 1
    params:
        seed=lambda wildcards: replicate_seed(config["seed"], int(wildcards.replicate)),
        checkpoint=lambda wildcards: (
            f"results/replicates/models/checkpoints/spt_{wildcards.loss}_r{wildcards.replicate}.pt"
        ),


# A replicate's errors are calibrated on the validation split (only its Delta_P is read).
use rule trust_spt as trust_spt_replicate with:
    input:
        **{**TRUST_REPLICATE_INPUT, "model": rules.train_spt_replicate.output.model},
    output:
        model="results/replicates/models/spt_{loss}_r{replicate}.pt",
    log:
        "results/logs/trust_spt_{loss}_r{replicate}.log",
    wildcard_constraints:
        loss="|".join(SPT_LOSSES),
        replicate=r"[1-9][0-9]*",
    params:
        seed=lambda wildcards: replicate_seed(config["seed"], int(wildcards.replicate)),


use rule predict_spt as predict_spt_replicate with:
    input:
        **{**PREDICT_REPLICATE_INPUT, "model": rules.trust_spt_replicate.output.model},
    output:
        predictions="results/replicates/predictions/spt_{loss}_r{replicate}.csv",
        calibration="results/replicates/tables/calibration_{loss}_r{replicate}.csv",
    log:
        "results/logs/predict_spt_{loss}_r{replicate}.log",
    benchmark:
        "results/benchmarks/predict_spt_{loss}_r{replicate}.tsv"
    wildcard_constraints:
        loss="|".join(SPT_LOSSES),
        replicate=r"[1-9][0-9]*",
    threads: 1
    params:
        seed=lambda wildcards: replicate_seed(config["seed"], int(wildcards.replicate)),


rule trust_calibration:
    input:
        unpack(trust_reference),
        predictions=SPT_PREDICTIONS,
        sample=rules.select_sample.output.sample,
    output:
        groups=report(
            "results/tables/calibration_groups.csv",
            caption="../report/calibration_groups.rst",
            category="Tables",
        ),
        bins=report(
            "results/tables/error_bins.csv",
            caption="../report/error_bins.rst",
            category="Tables",
        ),
        bias=report(
            "results/tables/bias_bins.csv",
            caption="../report/bias_bins.rst",
            category="Tables",
        ),
    log:
        "results/logs/trust_calibration.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/trust_calibration.py"
