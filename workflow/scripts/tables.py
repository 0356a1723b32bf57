"""Snakemake adapter: write Table 1 or Table 2 as CSV, LaTeX and Markdown (spt.paper.tables).

Each named input is one row, named by the model (Table 1) or the loss it was trained with
(Table 2): its runs over training seeds, the main run first (``compare.seeds``); the rule's
name says which table.
"""

from pathlib import Path

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.io.predictions import read_predictions
from spt.logs import log_to
from spt.paper.tables import table1, table2, write_table

TABLES = {"table1": table1, "table2": table2}


def main(smk) -> None:
    with log_to(smk.log[0]):
        frames = {
            name: [read_predictions(path) for path in _paths(paths)]
            for name, paths in smk.input.items()
        }
        table = TABLES[smk.rule](frames, smk.params.compare, smk.params.seed)
        write_table(table, Path(smk.output.csv).with_suffix(""), smk.params.caption)


def _paths(paths: str | list[str]) -> list[str]:
    """A named input's files (Snakemake gives a one-file list as the file itself)."""
    return [paths] if isinstance(paths, str) else list(paths)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
