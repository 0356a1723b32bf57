"""Snakemake adapter: predict open-cluster members with SPT and compare with the literature."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd
import torch

from spt.catalog.predict import Predictor, predict_targets
from spt.catalog.targets import TARGET_COLUMNS
from spt.io.files import write_csv
from spt.io.lamost import read_catalog
from spt.io.manifest import paths_for, read_manifest
from spt.io.predictions import check_labels
from spt.logs import log_to
from spt.validation.clusters import match_members, summarise_clusters


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        labels = check_labels(smk.params.labels)
        listed = pd.read_csv(smk.input.clusters)
        members = match_members(
            listed, read_catalog(smk.input.catalog), smk.params.radius_arcsec, smk.params.snr_column
        )
        targets = members.reindex(columns=list(TARGET_COLUMNS))
        targets["path"] = paths_for(read_manifest(smk.input.manifest), members["obsid"])
        targets["designation"] = targets["designation"].fillna("").astype(str)
        preds = predict_targets(Predictor.load(smk.input.model), targets, workers=smk.threads)
        own = ["obsid", *(c for c in preds.columns if c not in TARGET_COLUMNS)]
        members = members.merge(preds[own], on="obsid", how="left")
        write_csv(members, smk.output.members)
        usable = members.dropna(subset=list(labels))
        write_csv(summarise_clusters(usable, listed), smk.output.summary)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
