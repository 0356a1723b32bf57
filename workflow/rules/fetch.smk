# The real path (source: lamost): VizieR catalogues and LAMOST DR9 files, downloaded for real.
# Download rules are local rules (compute nodes often have no internet) with retries; each
# caches what it fetched, so a rerun fetches only what is missing.


rule fetch_seismic:
    output:
        "resources/lamost/seismic.csv",
    log:
        "results/logs/fetch_seismic.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        vizier=config["vizier"],
    script:
        "../scripts/fetch_seismic.py"


rule fetch_clusters:
    output:
        "resources/lamost/clusters.csv",
    log:
        "results/logs/fetch_clusters.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        vizier=config["vizier"],
        clusters=config["clusters"],
    script:
        "../scripts/fetch_clusters.py"


rule fetch_isochrones:
    output:
        "resources/lamost/isochrone_ages.csv",
    log:
        "results/logs/fetch_isochrones.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        vizier=config["vizier"],
    script:
        "../scripts/fetch_isochrones.py"


rule fetch_lamost_catalog:
    input:
        seismic="resources/lamost/seismic.csv",
    output:
        catalog="resources/lamost/lamost_catalog.csv",
        failures="results/data/catalog_query_failures.csv",
    log:
        "results/logs/fetch_lamost_catalog.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        lamost=config["lamost"],
        download=config["download"],
        cache_dir="resources/lamost/cones",
    script:
        "../scripts/fetch_lamost_catalog.py"


rule fetch_spectra:
    input:
        matched="results/data/matched.csv",
    output:
        manifest="resources/lamost/downloaded_spectra.csv",
        failures="results/data/download_failures.csv",
    log:
        "results/logs/fetch_spectra.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        lamost=config["lamost"],
        download=config["download"],
        cache_dir="resources/lamost/spectra",
    script:
        "../scripts/fetch_spectra.py"


rule fetch_cluster_catalog:
    input:
        clusters="resources/lamost/clusters.csv",
    output:
        catalog="resources/lamost/cluster_catalog.csv",
        failures="results/data/cluster_query_failures.csv",
    log:
        "results/logs/fetch_cluster_catalog.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        lamost=config["lamost"],
        download=config["download"],
        cache_dir="resources/lamost/cones",
        id_col="member_id",
    script:
        "../scripts/fetch_lamost_catalog.py"


rule fetch_cluster_spectra:
    input:
        clusters="resources/lamost/clusters.csv",
        catalog="resources/lamost/cluster_catalog.csv",
    output:
        manifest="resources/lamost/downloaded_cluster_spectra.csv",
        failures="results/data/cluster_download_failures.csv",
    log:
        "results/logs/fetch_cluster_spectra.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        lamost=config["lamost"],
        download=config["download"],
        cache_dir="resources/lamost/spectra",
        radius_arcsec=config["crossmatch"]["radius_arcsec"],
    script:
        "../scripts/fetch_spectra.py"
