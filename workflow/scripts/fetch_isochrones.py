"""Snakemake adapter: fetch the isochrone-age catalogue from VizieR (spt.sources.vizier)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.logs import log_to
from spt.sources.vizier import fetch_isochrone_ages


def main(smk) -> None:
    with log_to(smk.log[0]):
        viz = smk.params.vizier
        choice = viz["isochrones"]
        fetch_isochrone_ages(
            choice["catalog"],
            viz["server"],
            choice["columns"],
            smk.output[0],
            flag_column=choice.get("flag_column"),
            timeout=viz["timeout_s"],
            retries=viz["retries"],
            backoff=viz["backoff_s"],
        )


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
