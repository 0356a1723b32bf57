"""Snakemake adapter: the catalogue's targets from the configured source, cut into shards."""

import logging

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.catalog.targets import (
    shard_size_for,
    targets_from_catalog,
    targets_from_folder,
    targets_from_obsids,
    targets_summary,
    write_shards,
)
from spt.io.files import write_csv
from spt.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        cat = smk.params.catalog
        kind = cat["targets"]
        side = cat["catalog_file"] or None
        problems = pd.DataFrame(columns=["path", "problem"])
        if kind == "simulated":
            targets = targets_from_catalog(smk.input.catalog, None, smk.input.manifest)
        elif kind == "lamost":
            targets = targets_from_catalog(smk.input.catalog, cat["lamost"]["cuts"])
        elif kind == "obsids":
            targets = targets_from_obsids(cat["obsids_file"], side)
        else:
            targets, problems = targets_from_folder(cat["folder"], side)
            for path, problem in problems.itertuples(index=False):
                logging.getLogger(__name__).warning("not a target: %s", problem or path)
        write_csv(problems, smk.output.problems)
        size = shard_size_for(len(targets), cat["shard_size"], cat["max_shards"])
        names = write_shards(targets, size, smk.output.targets)
        summary = targets_summary(targets, names, size)
        log.info(
            "catalogue targets: %s", dict(zip(summary["quantity"], summary["count"], strict=True))
        )
        write_csv(summary, smk.output.summary)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
