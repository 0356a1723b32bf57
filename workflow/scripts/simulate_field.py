"""Snakemake adapter: the mock field survey for the catalogue (spt.sources.simulate)."""

from pathlib import Path

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.io.manifest import folder_manifest, write_manifest
from spt.logs import log_to
from spt.sources.simulate import simulate_field_survey


def main(smk) -> None:
    with log_to(smk.log[0]):
        out_dir = Path(smk.output.catalog).parent
        simulate_field_survey(
            smk.params.simulate, smk.params.seed, out_dir, workers=smk.threads,
            field=smk.params.field,
        )  # fmt: skip
        listed = folder_manifest(smk.output.spectra)
        write_manifest(listed["obsid"], listed["path"], smk.output.manifest)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
