"""Snakemake adapter: SPT ages against isochrone-fitting ages, per evolutionary state."""

import logging

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.logs import log_to
from spt.validation.isochrones import compare_isochrone_ages, no_age_comparison


def main(smk) -> None:
    with log_to(smk.log[0]):
        if "age" in smk.params.labels:
            per_star, summary = compare_isochrone_ages(
                pd.read_csv(smk.input.predictions),
                pd.read_csv(smk.input.isochrone),
                pd.read_csv(smk.input.matched),
            )
        else:  # features.labels without age: nothing to compare, say so in empty tables
            logging.getLogger(__name__).warning("no ages learnt: no isochrone comparison")
            per_star, summary = no_age_comparison()
        write_csv(per_star, smk.output.per_star)
        write_csv(summary, smk.output.summary)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
