"""Snakemake adapter: MC-dropout predictions of the test split and their calibration."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import torch

from spt.io.files import write_csv
from spt.io.predictions import load_split, prediction_frame
from spt.logs import log_to
from spt.model.predict import predict_with_errors
from spt.model.store import load_model
from spt.model.train import pick_device
from spt.validation.evaluate import calibration


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        model = load_model(smk.input.model, pick_device("auto"))
        test = load_split(smk.input.test)
        mean, std, std_mc = predict_with_errors(
            model, test["X"], passes=smk.params.passes, seed=smk.params.seed
        )
        frame = prediction_frame(test, mean, std, std_mc)
        write_csv(frame, smk.output.predictions)
        write_csv(calibration(frame), smk.output.calibration)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
