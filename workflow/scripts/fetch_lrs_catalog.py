"""Snakemake adapter: download LAMOST's LRS stellar parameter catalogue (one file)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.io.tables import read_table
from spt.logs import log_to
from spt.sources.download import DownloadJob, download_many
from spt.sources.lamost_archive import ArchiveError


def readable(path, key) -> None:
    """Accept the download only when it reads as a table (raises naming the file if not)."""
    read_table(path)


def main(smk) -> None:
    with log_to(smk.log[0]):
        lam, dl = smk.params.lamost, smk.params.download
        url = smk.params.url.format(base_url=lam["base_url"], release=lam["release"])
        report = download_many(
            [DownloadJob("lrs_catalog", url, smk.output.catalog)],
            workers=1, retries=dl["retries"], backoff=dl["backoff_s"], timeout=dl["timeout_s"],
            token_env=lam["token_env"], validate=readable,
        )  # fmt: skip
        failed = [r for r in report.results if r.status == "failed"]
        if failed:
            raise ArchiveError(f"{url}: the LRS catalogue could not be fetched: {failed[0].reason}")


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
