"""Snakemake adapter: calibrate a trained Spectral Transformer (spt.model.trust): its
per-star error model (on the out-of-fold predictions when given, else the validation
split) and the quality flags' domain, written with the weights into one model file, with the
PCA, template and settings that let the file alone predict from spectra (spt.catalog.predict)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.catalog.predict import PIPELINE_KEY, pipeline_extra
from spt.io.predictions import load_split
from spt.logs import log_to
from spt.model.crossfit import load_out_of_fold
from spt.model.predict import PredictConfig
from spt.model.store import load_model, load_train_config, save_model
from spt.model.trust import TRUST_KEY, fit_trust, rows_of
from spt.prep.features import load_pca
from spt.prep.spectra import load_spectra, template_from_npz


def main(smk) -> None:
    with log_to(smk.log[0]):
        train, val = load_split(smk.input.train), load_split(smk.input.val)
        p = smk.params
        model, pca = load_model(smk.input.model), load_pca(smk.input.pca)
        predict = PredictConfig.from_mapping(p.predict)
        folds = list(smk.input.folds) if "folds" in smk.input.keys() else []
        trust = fit_trust(
            model, train, val, pd.read_csv(smk.input.sample),
            rows_of(load_spectra(smk.input.spectra), val["obsid"]), pca,
            predict.mc_passes, p.seed, predict.flag_percentile,
            calibration=load_out_of_fold(folds) if folds else None,
            covariates=predict.error_covariates, distance_by_state=predict.distance_by_state,
        )  # fmt: skip
        pipeline = pipeline_extra(
            pca, template_from_npz(smk.input.spectra),
            p.preprocess["spectra"], p.anomalies, predict.mc_passes, p.seed,
        )  # fmt: skip
        extra = {TRUST_KEY: trust.to_dict(), PIPELINE_KEY: pipeline}
        save_model(smk.output.model, model, load_train_config(smk.input.model), extra=extra)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
