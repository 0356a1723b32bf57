"""Snakemake adapter: download the matched stars' LAMOST spectra (spt.lamost_archive)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.lamost_archive import download_spectra
from spt.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]):
        lam, dl = smk.params.lamost, smk.params.download
        report = download_spectra(
            pd.read_csv(smk.input.matched)["obsid"].tolist(),
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
