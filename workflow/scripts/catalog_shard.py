"""Snakemake adapter: one catalogue shard, downloaded where real, predicted, flagged."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import torch

from spt.catalog.predict import Predictor, predict_targets
from spt.catalog.targets import read_shard
from spt.io.files import write_csv
from spt.io.lamost import spectrum_path
from spt.logs import log_to
from spt.sources.lamost_archive import download_spectra


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        targets = read_shard(smk.input.targets)
        missing = targets["path"] == ""
        if smk.params.download and missing.any():
            lam, dl = smk.params.lamost, smk.params.download_cfg
            download_spectra(
                targets.loc[missing, "obsid"], smk.params.cache_dir, lam["base_url"],
                lam["release"], workers=dl["workers"], retries=dl["retries"],
                backoff=dl["backoff_s"], timeout=dl["timeout_s"], token_env=lam["token_env"],
                max_failed_fraction=1.0, progress=False, template=lam["spectrum_url_template"],
            )  # fmt: skip
            for i in targets.index[missing]:  # a failed download keeps "" and its reason
                path = spectrum_path(smk.params.cache_dir, targets.at[i, "obsid"])
                targets.at[i, "path"] = str(path) if path.exists() else ""
        rows = predict_targets(
            Predictor.load(smk.input.model), targets, workers=smk.threads,
            chunk_size=smk.params.chunk_size,
        )  # fmt: skip
        write_csv(rows, smk.output.shard)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
