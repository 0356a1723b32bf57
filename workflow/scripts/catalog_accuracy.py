"""Snakemake adapter: the catalogue against the mock field survey's noise-free truth."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.catalog.accuracy import accuracy_against_truth, flag_capture
from spt.catalog.fits import read_catalog_fits
from spt.io.files import write_csv
from spt.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]):
        catalog = read_catalog_fits(smk.input.fits).to_pandas()
        truth = pd.read_csv(smk.input.truth)
        write_csv(accuracy_against_truth(catalog, truth), smk.output.accuracy)
        write_csv(flag_capture(catalog, truth), smk.output.capture)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
