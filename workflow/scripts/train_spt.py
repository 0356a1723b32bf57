"""Snakemake adapter: train the Spectral Transformer with the loss its output is named by, then
fit its per-star error model and quality-flag domain (spt.model.trust) into the model file."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.io.predictions import load_split
from spt.logs import log_to
from spt.model.predict import PredictConfig, calibrate_from_settings
from spt.model.store import save_model
from spt.model.train import config_from_settings, train_model
from spt.model.trust import TRUST_KEY, fit_trust, rows_of
from spt.prep.features import load_pca
from spt.prep.spectra import load_spectra


def main(smk) -> None:
    with log_to(smk.log[0]):
        train, val = load_split(smk.input.train), load_split(smk.input.val)
        p = smk.params
        cfg = config_from_settings(p.train, p.model, p.seed, smk.threads, loss=smk.wildcards.loss)
        model, history = train_model(
            train["X"], train["y"], val["X"], val["y"], cfg, p.checkpoint,
            X_noise=train.get("X_noise"),
        )  # fmt: skip
        calibrate_from_settings(model, val, p.predict, p.seed)
        predict = PredictConfig.from_mapping(p.predict)
        val_spectra = rows_of(load_spectra(smk.input.spectra), val["obsid"])
        trust = fit_trust(
            model, train, val, pd.read_csv(smk.input.sample), val_spectra,
            load_pca(smk.input.pca), predict.mc_passes, p.seed, predict.flag_percentile,
            predict.error_form,
        )  # fmt: skip
        save_model(smk.output.model, model, cfg, extra={TRUST_KEY: trust.to_dict()})
        write_csv(history, smk.output.history)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
