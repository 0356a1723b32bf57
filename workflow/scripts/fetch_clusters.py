"""Snakemake adapter: fetch open-cluster members from VizieR (spt.sources.vizier)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.logs import log_to
from spt.sources.vizier import fetch_cluster_members


def main(smk) -> None:
    with log_to(smk.log[0]):
        viz = smk.params.vizier
        members = viz["clusters"]
        fetch_cluster_members(
            smk.params.clusters,
            smk.output[0],
            server=viz["server"],
            timeout=viz["timeout_s"],
            retries=viz["retries"],
            backoff=viz["backoff_s"],
            **members,
        )


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
