"""Snakemake adapter: download LAMOST spectra of matched stars or cluster members."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.io.lamost import read_catalog
from spt.logs import log_to
from spt.sources.lamost_archive import download_spectra
from spt.validation.clusters import match_members


def wanted_obsids(smk) -> list[int]:
    """The matched seismic stars' spectra, or the cluster members' best spectra."""
    if "matched" in smk.input.keys():
        return pd.read_csv(smk.input.matched)["obsid"].tolist()
    members = match_members(
        pd.read_csv(smk.input.clusters), read_catalog(smk.input.catalog), smk.params.radius_arcsec
    )
    return members["obsid"].tolist()


def main(smk) -> None:
    with log_to(smk.log[0]):
        lam, dl = smk.params.lamost, smk.params.download
        report = download_spectra(
            wanted_obsids(smk),
            smk.params.cache_dir,
            lam["base_url"],
            lam["release"],
            workers=dl["workers"],
            retries=dl["retries"],
            backoff=dl["backoff_s"],
            timeout=dl["timeout_s"],
            token_env=lam["token_env"],
            failures_path=smk.output.failures,
            max_failed_fraction=lam["max_failed_fraction"],
            template=lam["spectrum_url_template"],
        )
        manifest = pd.DataFrame(
            [{"obsid": r.key, "path": str(r.dest), "status": r.status} for r in report.results]
        )
        write_csv(manifest, smk.output.manifest)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
