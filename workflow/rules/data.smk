# Data layer: the source's catalogues and spectra (one obsid,path manifest for every source),
# and the sky cross-match.


# A checkpoint: the spectra its manifest lists become inputs, one by one, of the rules that
# read them (common.smk, spectra_files). The files (resources/simulated/spectra/) are not
# declared outputs, so that Snakemake sees each file's time stamp.
checkpoint simulate_survey:
    output:
        seismic="resources/simulated/seismic.csv",
        catalog="resources/simulated/lamost_catalog.csv",
        clusters="resources/simulated/clusters.csv",
        isochrone="resources/simulated/isochrone_ages.csv",
        truth="resources/simulated/truth.csv",
        manifest="resources/simulated/spectra.csv",
    log:
        "results/logs/simulate_survey.log",
    benchmark:
        "results/benchmarks/simulate_survey.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 2
    params:
        simulate={**config["simulate"], "clusters": config["clusters"]},
        seed=config["seed"],
    script:
        "../scripts/simulate_survey.py"


rule crossmatch:
    input:
        seismic=source_file("seismic.csv"),
        catalog=source_file("lamost_catalog.csv"),
    output:
        matched="results/data/matched.csv",
        summary=report(
            "results/data/crossmatch_summary.csv",
            caption="../report/crossmatch_summary.rst",
            category="Tables",
        ),
    log:
        "results/logs/crossmatch.log",
    conda:
        "../../envs/data.yaml"
    params:
        radius_arcsec=config["crossmatch"]["radius_arcsec"],
        snr_column=config["crossmatch"]["snr_column"],
    script:
        "../scripts/crossmatch.py"
