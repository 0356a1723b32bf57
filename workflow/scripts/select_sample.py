"""Snakemake adapter: drop anomalous spectra and label outliers, listing each with its reasons."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.logs import log_to
from spt.prep.labels import flag_label_outliers
from spt.prep.select import rejection_table, select_sample


def main(smk) -> None:
    with log_to(smk.log[0]):
        matched = pd.read_csv(smk.input.matched)
        report = pd.read_csv(smk.input.report)
        labels = flag_label_outliers(matched, smk.params.labels, smk.params.learnt)
        rejected = rejection_table(report, labels)
        write_csv(labels, smk.output.labels)
        write_csv(rejected, smk.output.anomalies)
        write_csv(select_sample(matched, rejected), smk.output.sample)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
