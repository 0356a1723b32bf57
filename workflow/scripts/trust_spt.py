"""Snakemake adapter: calibrate a trained Spectral Transformer (spt.model.trust): its error
floor, per-star error model (on the out-of-fold predictions when given, else the validation
split) and the quality flags' domain, written with the weights into one model file."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.predictions import load_split
from spt.logs import log_to
from spt.model.crossfit import load_out_of_fold
from spt.model.predict import PredictConfig, calibrate_from_settings
from spt.model.store import load_model, load_train_config, save_model
from spt.model.trust import TRUST_KEY, fit_trust, rows_of
from spt.prep.features import load_pca
from spt.prep.spectra import load_spectra


def main(smk) -> None:
    with log_to(smk.log[0]):
        train, val = load_split(smk.input.train), load_split(smk.input.val)
        p = smk.params
        model = load_model(smk.input.model)
        calibrate_from_settings(model, val, p.predict, p.seed)
        predict = PredictConfig.from_mapping(p.predict)
        folds = list(smk.input.folds) if "folds" in smk.input.keys() else []
        trust = fit_trust(
            model, train, val, pd.read_csv(smk.input.sample),
            rows_of(load_spectra(smk.input.spectra), val["obsid"]), load_pca(smk.input.pca),
            predict.mc_passes, p.seed, predict.flag_percentile, predict.error_form,
            calibration=load_out_of_fold(folds) if folds else None,
            covariates=predict.error_covariates, distance_by_state=predict.distance_by_state,
        )  # fmt: skip
        extra = {TRUST_KEY: trust.to_dict()}
        save_model(smk.output.model, model, load_train_config(smk.input.model), extra=extra)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
