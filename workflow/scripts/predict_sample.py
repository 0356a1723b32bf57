"""Snakemake adapter: MC-dropout predictions for every star of the sample, split by split."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd
import torch

from spt.io.files import write_csv
from spt.io.predictions import load_split, prediction_frame
from spt.logs import log_to
from spt.model.predict import predict_with_errors
from spt.model.store import load_model
from spt.model.train import pick_device


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        model = load_model(smk.input.model, pick_device("auto"))
        frames = []
        for name in ("train", "val", "test"):
            split = load_split(smk.input[name])
            mean, std, std_mc = predict_with_errors(
                model, split["X"], passes=smk.params.passes, seed=smk.params.seed
            )
            frames.append(prediction_frame(split, mean, std, std_mc).assign(split=name))
        write_csv(pd.concat(frames, ignore_index=True), smk.output[0])


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
