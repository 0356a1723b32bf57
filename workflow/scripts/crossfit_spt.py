"""Snakemake adapter: one fold of the cross-fitted calibration sample (spt.model.crossfit)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.predictions import load_split
from spt.logs import log_to
from spt.model.crossfit import (
    assign_folds,
    best_epoch,
    calibration_pool,
    fit_fold,
    save_out_of_fold,
    validation_noise,
)
from spt.model.predict import PredictConfig
from spt.model.train import config_from_settings
from spt.model.trust import rows_of
from spt.prep.features import load_pca
from spt.prep.spectra import load_spectra


def main(smk) -> None:
    with log_to(smk.log[0]):
        train, val = load_split(smk.input.train), load_split(smk.input.val)
        p = smk.params
        noise = None
        if "X_noise" in train:
            ivar = rows_of(load_spectra(smk.input.spectra), val["obsid"])["ivar"]
            noise = validation_noise(load_pca(smk.input.pca), ivar, train["X_noise"], p.seed)
        pool = calibration_pool(train, val, noise)
        predict = PredictConfig.from_mapping(p.predict)
        folds = assign_folds(len(pool["X"]), predict.calibration_folds, p.seed)
        cfg = config_from_settings(p.train, p.model, p.seed, smk.threads, loss=smk.wildcards.loss)
        oof = fit_fold(
            pool, folds, int(smk.wildcards.fold), cfg,
            best_epoch(pd.read_csv(smk.input.history)), p.checkpoint, predict.mc_passes, p.seed,
        )  # fmt: skip
        save_out_of_fold(smk.output[0], oof)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
