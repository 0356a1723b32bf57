"""Snakemake adapter: each anomaly detector's precision and recall on the mock survey."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.files import write_csv
from spt.logs import log_to
from spt.prep.anomalies import detection_scores


def main(smk) -> None:
    with log_to(smk.log[0]):
        report = pd.read_csv(smk.input.report)
        truth = pd.read_csv(smk.input.truth).fillna({"anomaly": ""})
        # Score the detectors on the spectra they saw (the matched ones), not the whole survey.
        truth = truth[truth["obsid"].isin(report["obsid"])]
        write_csv(detection_scores(report, truth), smk.output[0])


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
