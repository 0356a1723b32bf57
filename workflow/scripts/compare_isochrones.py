"""Snakemake adapter: SPT ages against isochrone-fitting ages, per evolutionary state."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.logs import log_to
from spt.validation.isochrones import compare_isochrone_ages


def main(smk) -> None:
    with log_to(smk.log[0]):
        per_star, summary = compare_isochrone_ages(
            pd.read_csv(smk.input.predictions),
            pd.read_csv(smk.input.isochrone),
            pd.read_csv(smk.input.matched),
        )
        write_csv(per_star, smk.output.per_star)
        write_csv(summary, smk.output.summary)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
