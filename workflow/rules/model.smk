# The Spectral Transformer: training (GPU when there is one) and MC-dropout prediction.


rule train_spt:
    input:
        train="results/features/train.npz",
        val="results/features/val.npz",
    output:
        model="results/models/spt.pt",
        history="results/models/history.csv",
    log:
        "results/logs/train_spt.log",
    benchmark:
        "results/benchmarks/train_spt.tsv"
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
        checkpoint="results/models/checkpoints/spt_checkpoint.pt",
    script:
        "../scripts/train_spt.py"


rule predict_spt:
    input:
        model="results/models/spt.pt",
        test="results/features/test.npz",
    output:
        predictions="results/predictions/spt.csv",
        calibration=report(
            "results/tables/calibration.csv",
            caption="../report/calibration.rst",
            category="Tables",
        ),
    log:
        "results/logs/predict_spt.log",
    benchmark:
        "results/benchmarks/predict_spt.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 2
    params:
        passes=config["predict"]["mc_passes"],
        seed=config["seed"],
    script:
        "../scripts/predict_spt.py"


rule noise_floor:
    input:
        predictions="results/predictions/spt.csv",
        truth="resources/simulated/truth.csv",
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
