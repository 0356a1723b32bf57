# Validation: open clusters and isochrone ages; predictions of the whole sample.


rule predict_sample:
    input:
        model="results/models/spt.pt",
        train="results/features/train.npz",
        val="results/features/val.npz",
        test="results/features/test.npz",
    output:
        "results/predictions/spt_sample.csv",
    log:
        "results/logs/predict_sample.log",
    conda:
        "../../envs/ml.yaml"
    threads: 2
    params:
        passes=config["predict"]["mc_passes"],
        seed=config["seed"],
    script:
        "../scripts/predict_sample.py"


rule validate_clusters:
    input:
        clusters=source_file("clusters.csv"),
        catalog=cluster_catalog(),
        spectra=cluster_spectra_ready(),
        model="results/models/spt.pt",
        pca="results/features/pca.joblib",
        sample_spectra="results/data/spectra.npz",
    output:
        members="results/predictions/cluster_members.csv",
        summary=report(
            "results/tables/clusters.csv",
            caption="../report/clusters.rst",
            category="Tables",
        ),
    log:
        "results/logs/validate_clusters.log",
    conda:
        "../../envs/ml.yaml"
    threads: 2
    params:
        spectra_dir=spectra_dir,
        radius_arcsec=config["crossmatch"]["radius_arcsec"],
        snr_column=config["crossmatch"]["snr_column"],
        preprocess=config["preprocess"],
        anomalies=config["anomalies"],
        passes=config["predict"]["mc_passes"],
        seed=config["seed"],
    script:
        "../scripts/validate_clusters.py"


rule compare_isochrones:
    input:
        predictions="results/predictions/spt_sample.csv",
        isochrone=source_file("isochrone_ages.csv"),
        matched="results/data/matched.csv",
    output:
        per_star="results/predictions/isochrone_comparison.csv",
        summary=report(
            "results/tables/isochrones.csv",
            caption="../report/isochrones.rst",
            category="Tables",
        ),
    log:
        "results/logs/compare_isochrones.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/compare_isochrones.py"
