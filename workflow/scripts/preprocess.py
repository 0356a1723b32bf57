"""Snakemake adapter: resample, normalise and flag the matched spectra (spt.prep.spectra)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.io.manifest import paths_for, read_manifest
from spt.logs import log_to
from spt.prep.spectra import check_readable, common_grid, merge_config, preprocess_files


def main(smk) -> None:
    with log_to(smk.log[0]):
        matched = pd.read_csv(smk.input.matched)
        cfg = merge_config(smk.params.preprocess["spectra"])
        grid = common_grid(cfg["wave_min"], cfg["wave_max"], cfg["log_step"])
        paths = paths_for(read_manifest(smk.input.manifest), matched["obsid"])
        report = preprocess_files(
            paths,
            matched["obsid"].tolist(),
            grid,
            cfg,
            workers=smk.threads,
            chunk_size=smk.params.preprocess["chunk_size"],
            out_path=smk.output.spectra,
            anomaly_cfg=smk.params.anomalies,
        )
        limit = smk.params.preprocess["max_unreadable_fraction"]
        check_readable(report, limit, f" (spectra manifest {smk.input.manifest})")
        write_csv(report, smk.output.report)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
