"""Snakemake adapter: MC-dropout predictions, errors and flags of every star of the sample."""

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


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        model = load_model(smk.input.model, pick_device("auto"))
        trust, spectra = load_trust(smk.input.model), load_spectra(smk.input.spectra)
        table, bundle = pd.read_csv(smk.input.sample), load_pca(smk.input.pca)
        frames = []
        for name in ("train", "val", "test"):
            split = load_split(smk.input[name])
            frame = predict_split(
                model, trust, split, spectra, table, bundle, smk.params.predict, smk.params.seed
            )
            frames.append(frame.assign(split=name))
        write_csv(pd.concat(frames, ignore_index=True), smk.output.predictions)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
