"""Snakemake adapter: write Table 1 or Table 2 as CSV, LaTeX and Markdown (spt.paper.tables)."""

from pathlib import Path

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.io.predictions import read_predictions
from spt.logs import log_to
from spt.paper.tables import table1, table2, write_table


def main(smk) -> None:
    with log_to(smk.log[0]):
        paths = list(smk.input)  # named inputs first, then the expanded list, in rule order
        frames = {n: read_predictions(p) for n, p in zip(smk.params.names, paths, strict=True)}
        build = table1 if smk.params.table == "table1" else table2
        write_table(build(frames), Path(smk.output.csv).with_suffix(""), smk.params.caption)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
