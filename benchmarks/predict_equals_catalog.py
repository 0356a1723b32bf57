"""Does ``spt predict`` give a user exactly the catalogue's rows? (mock field survey)

Goal: one way to predict: the command line, on a run's model and spectra picked from the mock
field survey, reproduces the rows ``snakemake catalog`` wrote for them.
Run: ``python benchmarks/predict_equals_catalog.py RUN_DIR [--n 50]`` on a finished default run.

Picks ``--n`` spectra spread over the catalogue (every k-th row, so from every shard and chunk),
runs ``spt predict MODEL FILES... --catalog LAMOST_CATALOG -o out.csv`` in a subprocess, and
compares each catalogue column with the command's: prints the columns that differ (none when
the two paths are one) and the largest difference of each numeric column.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    run = args.run.resolve()
    table = Table.read(run / "results/catalog/spt_catalog.fits", hdu="CATALOG")
    table.convert_bytestring_to_unicode()
    catalog = table.to_pandas()
    picked = catalog.iloc[:: max(1, len(catalog) // args.n)].head(args.n)
    files = [str(run / "resources/simulated/field/spectra" / f"{o}.fits.gz")
             for o in picked["obsid"]]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.csv"
        cmd = [sys.executable, "-m", "spt.cli", "predict",
               str(run / "results/models/spt_mahalanobis.pt"), *files,
               "--catalog", str(run / "resources/simulated/field/lamost_catalog.csv"),
               "-o", str(out)]  # fmt: skip
        subprocess.run(cmd, check=True)
        rows = pd.read_csv(out, keep_default_na=False, na_values=[""])
    got = rows.set_index("obsid")
    want = picked.set_index("obsid")
    shared = [c for c in want.columns if c in got.columns]
    print(f"{len(picked)} spectra, {len(shared)} shared columns "
          f"(catalogue-only: {[c for c in want.columns if c not in got.columns]})")  # fmt: skip
    differ = []
    for col in shared:
        a, b = want[col], got.loc[want.index, col]
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            x, y = a.to_numpy(float), b.to_numpy(float)
            same_nan = np.array_equal(np.isnan(x), np.isnan(y))
            diff = np.nanmax(np.abs(x - y)) if np.isfinite(x).any() else 0.0
            rel = np.nanmax(np.abs(x - y) / np.maximum(np.abs(x), 1e-30)) if diff else 0.0
            print(f"  {col:16s} max |diff| {diff:.3g} (relative {rel:.2g})")
            if not same_nan or rel > 1e-6:
                differ.append(col)
        elif [str(v) for v in a.fillna("")] != [str(v) for v in b.fillna("")]:
            differ.append(col)
    print("columns that differ:", differ or "none")


if __name__ == "__main__":
    main()
