"""Snakemake adapter: split the sample and reduce the spectra with PCA (spt.prep.features)."""

from pathlib import Path

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.logs import log_to
from spt.prep.features import build_features


def main(smk) -> None:
    with log_to(smk.log[0]):
        cfg = smk.params.features
        summary = build_features(
            smk.input.spectra,
            pd.read_csv(smk.input.sample),
            fractions=cfg["fractions"],
            n_components=cfg["n_components"],
            seed=smk.params.seed,
            out_dir=Path(smk.output.train).parent,
            n_bins=cfg["n_bins"],
            labels=cfg["labels"],
            noise_draws=cfg["noise_draws"],
            projection=cfg["projection"],
        )
        flat = {k: v for k, v in summary.items() if not isinstance(v, list | dict)}
        write_csv(
            pd.DataFrame({"quantity": list(flat), "value": list(flat.values())}), smk.output.summary
        )


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
