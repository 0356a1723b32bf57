# Validation: open clusters and isochrone ages; predictions of the whole sample.


rule predict_sample:
    input:
        model=SPT_MODEL,
        train=rules.features.output.train,
        val=rules.features.output.val,
        test=rules.features.output.test,
        sample=rules.select_sample.output.sample,
        spectra=rules.preprocess.output.spectra,
        pca=rules.features.output.pca,
    output:
        predictions="results/predictions/spt_sample.csv",
    log:
        "results/logs/predict_sample.log",
    conda:
        "../../envs/ml.yaml"
    threads: 2
    params:
        predict=config["predict"],
        seed=config["seed"],
    script:
        "../scripts/predict_sample.py"


rule validate_clusters:
    input:
        clusters=source_file("clusters.csv"),
        catalog=CLUSTER_CATALOG,
        manifest=CLUSTER_MANIFEST,
        files=cluster_spectra_files,
        # carries the PCA, settings and template (spt.catalog.predict.Predictor)
        model=SPT_MODEL,
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
        radius_arcsec=config["crossmatch"]["radius_arcsec"],
        snr_column=config["crossmatch"]["snr_column"],
        labels=config["features"]["labels"],
    script:
        "../scripts/validate_clusters.py"


rule compare_isochrones:
    input:
        predictions=rules.predict_sample.output.predictions,
        isochrone=source_file("isochrone_ages.csv"),
        matched=rules.crossmatch.output.matched,
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
    params:
        labels=config["features"]["labels"],
    script:
        "../scripts/compare_isochrones.py"
