"""Snakemake adapter: write the mock LAMOST x Kepler survey and its spectra manifest."""

import shutil
from pathlib import Path

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.io.manifest import folder_manifest, write_manifest
from spt.logs import log_to
from spt.sources.simulate import simulate_survey


def main(smk) -> None:
    with log_to(smk.log[0]):
        out_dir = Path(smk.output.seismic).parent
        shutil.rmtree(out_dir / "spectra", ignore_errors=True)  # no stale file of an older run
        simulate_survey(smk.params.simulate, smk.params.seed, out_dir, workers=smk.threads)
        listed = folder_manifest(out_dir / "spectra")
        write_manifest(listed["obsid"], listed["path"], smk.output.manifest)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
