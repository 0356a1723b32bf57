"""Snakemake adapter: train the Spectral Transformer (spt.train)."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.evaluate import load_split
from spt.io.files import write_csv
from spt.logs import log_to
from spt.train import TrainConfig, save_model, train_model


def main(smk) -> None:
    with log_to(smk.log[0]):
        train, val = load_split(smk.input.train), load_split(smk.input.val)
        cfg = TrainConfig.from_dict(
            {**smk.params.train, "model": dict(smk.params.model), "seed": smk.params.seed}
        )
        if cfg.num_threads == 0:
            cfg.num_threads = smk.threads
        model, history = train_model(
            train["X"], train["y"], val["X"], val["y"], cfg, smk.params.checkpoint
        )
        save_model(smk.output.model, model, cfg)
        write_csv(history, smk.output.history)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
