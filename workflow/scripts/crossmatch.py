"""Snakemake adapter: cross-match the seismic and LAMOST catalogues (spt.prep.crossmatch)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.logs import log_to
from spt.prep.crossmatch import crossmatch_files


def main(smk) -> None:
    with log_to(smk.log[0]):
        crossmatch_files(
            smk.input.seismic,
            smk.input.catalog,
            smk.output.matched,
            smk.output.summary,
            radius_arcsec=smk.params.radius_arcsec,
            snr_column=smk.params.snr_column,
        )


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
