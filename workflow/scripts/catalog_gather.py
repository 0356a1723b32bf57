"""Snakemake adapter: gather the shards into results/catalog/spt_catalog.fits."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt import __version__
from spt.catalog.fits import file_md5, flag_fractions, gather, write_catalog_fits
from spt.catalog.stars import combine_spectra
from spt.io.files import write_csv
from spt.logs import log_to
from spt.model.flags import BAD_BITS, Flag


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        frame = gather(list(smk.input.shards))
        provenance = {
            "PIPELINE": "spt-pipeline",
            "PIPEVER": __version__,
            "COMMIT": smk.params.commit,
            "MODELMD5": file_md5(smk.input.model),
            "CONFMD5": smk.params.config_md5,
            "SOURCE": smk.params.source,
            "DATANOTE": smk.params.note,
        }
        stars = combine_spectra(frame)
        write_catalog_fits(frame, smk.output.fits, provenance, int(BAD_BITS), stars)
        bits = {str(bit.name): int(bit) for bit in Flag}
        write_csv(flag_fractions(frame, bits), smk.output.flags)
        log.info("catalogue: %d rows, %d primary, %d flagged bad; %d stars with an unflagged "
                 "prediction, %d of them from several spectra", len(frame),
                 int(frame["primary"].sum()), int(frame["flag_bad"].sum()), len(stars),
                 int((stars["n_spectra"] > 1).sum()))  # fmt: skip


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
