# The real path (source: lamost): VizieR catalogues and LAMOST DR9 files, downloaded for real.
# Download rules are local rules (compute nodes often have no internet) with retries; each
# caches what it fetched, so a rerun fetches only what is missing.


rule fetch_seismic:
    input:
        # a local seismic table, when configured: a changed file reruns the rule
        local_table=lambda wildcards: (
            [config["vizier"]["seismic"]["file"]] if config["vizier"]["seismic"]["file"] else []
        ),
    output:
        seismic="resources/lamost/seismic.csv",
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
        clusters="resources/lamost/clusters.csv",
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
        isochrone="resources/lamost/isochrone_ages.csv",
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
        seismic=rules.fetch_seismic.output.seismic,
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


checkpoint fetch_spectra:
    input:
        matched=rules.crossmatch.output.matched,
    output:
        manifest="resources/lamost/spectra.csv",
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
        # the files themselves: resources/lamost/spectra/<obsid>.fits.gz, beside the manifest
        cache_dir=lambda wildcards, output: os.path.join(
            os.path.dirname(output.manifest), "spectra"
        ),
    script:
        "../scripts/fetch_spectra.py"


rule fetch_cluster_catalog:
    input:
        clusters=rules.fetch_clusters.output.clusters,
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


checkpoint fetch_cluster_spectra:
    input:
        clusters=rules.fetch_clusters.output.clusters,
        catalog=rules.fetch_cluster_catalog.output.catalog,
    output:
        manifest="resources/lamost/cluster_spectra.csv",
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
        # the files themselves: resources/lamost/spectra/<obsid>.fits.gz, beside the manifest
        cache_dir=lambda wildcards, output: os.path.join(
            os.path.dirname(output.manifest), "spectra"
        ),
        radius_arcsec=config["crossmatch"]["radius_arcsec"],
    script:
        "../scripts/fetch_spectra.py"


# The source's spectra, whichever the source: one obsid,path manifest each (the mock writes its
# cluster members' spectra into the survey's manifest; LAMOST downloads them separately).
if SOURCE == "simulated":
    SPECTRA_CHECKPOINT = checkpoints.simulate_survey
    CLUSTER_CHECKPOINT = checkpoints.simulate_survey
    CLUSTER_CATALOG = rules.simulate_survey.output.catalog
else:
    SPECTRA_CHECKPOINT = checkpoints.fetch_spectra
    CLUSTER_CHECKPOINT = checkpoints.fetch_cluster_spectra
    CLUSTER_CATALOG = rules.fetch_cluster_catalog.output.catalog
SPECTRA_MANIFEST = SPECTRA_CHECKPOINT.rule.output.manifest
CLUSTER_MANIFEST = CLUSTER_CHECKPOINT.rule.output.manifest
