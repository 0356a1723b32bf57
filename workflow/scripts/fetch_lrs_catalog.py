"""Snakemake adapter: download LAMOST's LRS stellar parameter catalogue (one file)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.logs import log_to
from spt.sources.lamost_archive import fetch_lrs_catalog


def main(smk) -> None:
    with log_to(smk.log[0]):
        fetch_lrs_catalog(
            smk.params.url, smk.params.lamost, smk.params.download, smk.output.catalog
        )


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
