"""Snakemake adapter: LAMOST LRS catalogue rows around seismic stars or cluster members."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.logs import log_to
from spt.sources.lamost_archive import query_catalog_near


def main(smk) -> None:
    with log_to(smk.log[0]):
        lam, dl = smk.params.lamost, smk.params.download
        query_catalog_near(
            pd.read_csv(smk.input[0]),
            lam["catalog_radius_arcsec"],
            lam["base_url"],
            lam["release"],
            cache_dir=smk.params.cache_dir,
            output=smk.output.catalog,
            workers=dl["workers"],
            retries=dl["retries"],
            backoff=dl["backoff_s"],
            timeout=dl["timeout_s"],
            token_env=lam["token_env"],
            failures_path=smk.output.failures,
            template=lam["cone_url_template"],
            id_col=smk.params.get("id_col", "KIC"),
        )


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
