"""Snakemake adapter: the quoted errors' coverage by S/N quartile and evolutionary state, and
RMS error against sigma, bias in bins of age and mass (spt.validation.evaluate)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.io.predictions import read_predictions
from spt.logs import log_to
from spt.validation.evaluate import trust_calibration


def main(smk) -> None:
    with log_to(smk.log[0]):
        truth = pd.read_csv(smk.input.truth) if "truth" in smk.input.keys() else None
        groups, bins, bias = trust_calibration(
            read_predictions(smk.input.predictions), pd.read_csv(smk.input.sample), truth
        )
        write_csv(groups, smk.output.groups)
        write_csv(bins, smk.output.bins)
        write_csv(bias, smk.output.bias)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
