# Spectra to features: resample and normalise, flag the paper's four anomaly types and the
# label outliers, split the sample and reduce it with PCA.


rule preprocess:
    input:
        matched=rules.crossmatch.output.matched,
        manifest=SPECTRA_MANIFEST,
        files=spectra_files,
    output:
        spectra="results/data/spectra.npz",
        report="results/data/preprocess_report.csv",
    log:
        "results/logs/preprocess.log",
    benchmark:
        "results/benchmarks/preprocess.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 4
    params:
        preprocess=config["preprocess"],
        anomalies=config["anomalies"],
    script:
        "../scripts/preprocess.py"


rule select_sample:
    input:
        matched=rules.crossmatch.output.matched,
        report=rules.preprocess.output.report,
    output:
        sample="results/data/sample.csv",
        anomalies="results/data/anomalies.csv",
        labels="results/data/label_flags.csv",
    log:
        "results/logs/select_sample.log",
    conda:
        "../../envs/data.yaml"
    params:
        labels=config["labels"],
        learnt=config["features"]["labels"],
    script:
        "../scripts/select_sample.py"


rule features:
    input:
        spectra=rules.preprocess.output.spectra,
        sample=rules.select_sample.output.sample,
    output:
        train="results/features/train.npz",
        val="results/features/val.npz",
        test="results/features/test.npz",
        pca="results/features/pca.joblib",
        summary="results/features/summary.csv",
    log:
        "results/logs/features.log",
    benchmark:
        "results/benchmarks/features.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        features=config["features"],
        seed=config["seed"],
    script:
        "../scripts/features.py"


rule anomaly_detection:
    input:
        report=rules.preprocess.output.report,
        truth=rules.simulate_survey.output.truth,
    output:
        report(
            "results/tables/anomaly_detection.csv",
            caption="../report/anomaly_detection.rst",
            category="Tables",
        ),
    log:
        "results/logs/anomaly_detection.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/anomaly_detection.py"
