"""Snakemake adapter: train SPT with another loss (same seed and budget), predict the test split."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.io.files import write_csv
from spt.io.predictions import load_split, prediction_frame
from spt.logs import log_to
from spt.model.predict import calibrate_from_settings, predict_with_errors
from spt.model.store import save_model
from spt.model.train import config_from_settings, train_model


def main(smk) -> None:
    with log_to(smk.log[0]):
        train, val, test = (load_split(smk.input[k]) for k in ("train", "val", "test"))
        p = smk.params
        cfg = config_from_settings(p.train, p.model, p.seed, smk.threads, loss=smk.wildcards.loss)
        model, _ = train_model(
            train["X"], train["y"], val["X"], val["y"], cfg, smk.params.checkpoint
        )
        calibrate_from_settings(model, val, p.predict, p.seed)
        save_model(smk.output.model, model, cfg)
        mean, std, std_mc = predict_with_errors(
            model, test["X"], passes=p.predict["mc_passes"], seed=p.seed
        )
        write_csv(prediction_frame(test, mean, std, std_mc), smk.output.predictions)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
