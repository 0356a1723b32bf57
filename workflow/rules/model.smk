# The Spectral Transformer: training (GPU when there is one) and MC-dropout prediction. One pair
# of rules for every loss: the paper's model (train.loss) and the ablation's (Table 2, Fig. 9),
# each file named by the loss it was really trained with.


rule train_spt:
    input:
        train=rules.features.output.train,
        val=rules.features.output.val,
        # for the per-star error model and the quality flags' domain (spt.model.trust)
        sample=rules.select_sample.output.sample,
        spectra=rules.preprocess.output.spectra,
        pca=rules.features.output.pca,
    output:
        model="results/models/spt_{loss}.pt",
        history="results/models/history_{loss}.csv",
    log:
        "results/logs/train_spt_{loss}.log",
    benchmark:
        "results/benchmarks/train_spt_{loss}.tsv"
    wildcard_constraints:
        loss="|".join(SPT_LOSSES),
    conda:
        "../../envs/ml.yaml"
    threads: 2
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
        # Kept outside the outputs so that an interrupted run resumes from it.
        checkpoint=lambda wildcards: f"results/models/checkpoints/spt_{wildcards.loss}.pt",
    script:
        "../scripts/train_spt.py"


rule predict_spt:
    input:
        model=rules.train_spt.output.model,
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
SPT_MODEL = expand(rules.train_spt.output.model, loss=SPT_LOSS)[0]
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
