"""Snakemake adapter: MC-dropout predictions of the test split, their errors, flags and
calibration (spt.model.trust)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd
import torch

from spt.io.files import write_csv
from spt.io.predictions import load_split
from spt.logs import log_to
from spt.model.store import load_model
from spt.model.train import pick_device
from spt.model.trust import load_trust, predict_split
from spt.prep.features import load_pca
from spt.prep.spectra import load_spectra
from spt.validation.evaluate import calibration


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        model = load_model(smk.input.model, pick_device("auto"))
        frame = predict_split(
            model, load_trust(smk.input.model), load_split(smk.input.test),
            load_spectra(smk.input.spectra), pd.read_csv(smk.input.sample),
            load_pca(smk.input.pca), smk.params.predict, smk.params.seed,
        )  # fmt: skip
        write_csv(frame, smk.output.predictions)
        write_csv(calibration(frame), smk.output.calibration)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
