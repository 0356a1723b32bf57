"""Snakemake adapter: SPT against the mock survey's noise-free labels, and the label-noise floor."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.io.predictions import read_predictions
from spt.logs import log_to
from spt.validation.evaluate import noise_floor


def main(smk) -> None:
    with log_to(smk.log[0]):
        floor = noise_floor(read_predictions(smk.input.predictions), pd.read_csv(smk.input.truth))
        write_csv(floor, smk.output[0])


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
