"""Snakemake adapter: fit one baseline (tuned on the validation split), predict the test split."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.baselines import BASELINES, make_baseline
from spt.io.files import write_csv
from spt.io.predictions import load_split, prediction_frame
from spt.logs import log_to
from spt.prep.spectra import load_spectra


def main(smk) -> None:
    with log_to(smk.log[0]):
        settings = {"threads": smk.threads, **smk.params.settings}
        name = smk.wildcards.name
        needs_spectra = BASELINES[name].inputs == "spectra"
        spectra = load_spectra(smk.input.spectra) if needs_spectra else None
        model = make_baseline(name, settings, seed=smk.params.seed, spectra=spectra)
        train, val, test = (load_split(smk.input[k]) for k in ("train", "val", "test"))
        model.fit(train, val)
        mean, std = model.predict(test)
        write_csv(prediction_frame(test, mean, std), smk.output[0])


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
