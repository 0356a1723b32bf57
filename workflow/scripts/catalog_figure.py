"""Snakemake adapter: the catalogue figures (spt.paper.plots.catalog), by rule."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.catalog.fits import read_catalog_fits
from spt.logs import log_to
from spt.model.flags import Flag
from spt.paper.plots.catalog import plot_catalog, plot_flag_capture


def main(smk) -> None:
    with log_to(smk.log[0]):
        if smk.rule == "flag_figure":
            plot_flag_capture(pd.read_csv(smk.input.capture), smk.output.pdf, note=smk.params.note)
            return
        catalog = read_catalog_fits(smk.input.fits).to_pandas()
        bits = {str(bit.name): int(bit) for bit in Flag}
        plot_catalog(catalog, bits, smk.output.pdf, note=smk.params.note)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
