"""Snakemake adapter: train the Spectral Transformer with the loss its output is named by (the
per-star error model and the flags' domain are added by rule trust_spt, spt.model.trust)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.io.files import write_csv
from spt.io.predictions import load_split
from spt.logs import log_to
from spt.model.store import save_model
from spt.model.train import config_from_settings, train_model


def main(smk) -> None:
    with log_to(smk.log[0]):
        train, val = load_split(smk.input.train), load_split(smk.input.val)
        p = smk.params
        cfg = config_from_settings(p.train, p.model, p.seed, smk.threads, loss=smk.wildcards.loss)
        model, history = train_model(
            train["X"], train["y"], val["X"], val["y"], cfg, p.checkpoint,
            X_noise=train.get("X_noise"),
        )  # fmt: skip
        save_model(smk.output.model, model, cfg)
        write_csv(history, smk.output.history)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
