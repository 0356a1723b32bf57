"""Snakemake adapter: fetch the asteroseismic catalogue from VizieR (spt.sources.vizier)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.logs import log_to
from spt.sources.vizier import fetch_seismic, seismic_preset


def main(smk) -> None:
    with log_to(smk.log[0]):
        viz = smk.params.vizier
        choice = viz["seismic"]
        spec = seismic_preset(choice["preset"]) if "preset" in choice else choice
        fetch_seismic(
            spec["catalog"],
            viz["server"],
            spec["columns"],
            smk.output[0],
            timeout=viz["timeout_s"],
            retries=viz["retries"],
            backoff=viz["backoff_s"],
        )


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
