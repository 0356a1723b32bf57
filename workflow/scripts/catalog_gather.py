"""Snakemake adapter: gather the shards into results/catalog/spt_catalog.fits."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt import __version__
from spt.catalog.fits import file_md5, write_catalog
from spt.io.files import write_csv
from spt.logs import log_to
from spt.model.flags import BAD_BITS, Flag


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        provenance = {
            "PIPELINE": "spt-pipeline",
            "PIPEVER": __version__,
            "COMMIT": smk.params.commit,
            "MODELMD5": file_md5(smk.input.model),
            "CONFMD5": smk.params.config_md5,
            "SOURCE": smk.params.source,
            "DATANOTE": smk.params.note,
        }
        done = write_catalog(list(smk.input.shards), smk.output.fits, provenance, int(BAD_BITS))
        bits = {str(bit.name): int(bit) for bit in Flag}
        write_csv(done.flag_fractions(bits), smk.output.flags)
        log.info("catalogue: %d rows from %d shards, %d primary, %d flagged bad; %d stars with "
                 "an unflagged prediction, %d of them from several spectra (%d star buckets; "
                 "seconds: %s)", done.rows, done.shards, done.primary, done.bad, done.stars,
                 done.stars_multi, done.buckets,
                 {k: round(v, 1) for k, v in done.seconds.items()})  # fmt: skip


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
