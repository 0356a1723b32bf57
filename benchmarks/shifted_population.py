"""How much of the shifted population's error is its metallicity (mock only).

The default mock field survey draws 30 % of its in-domain giants 0.35 dex more metal-poor at the
same masses (`catalog.field_survey.shift`). Metal-poor spectra have weaker lines, so even the
base population's metal-poor giants err more. This script takes a finished default run's
catalogue, keeps the unflagged in-domain giants, and prints per [Fe/H] bin (LAMOST's) and
population: the count, Delta_P against the noise-free truth and the share within 1 sigma. It
then gives the shifted population's Delta_P expected from its [Fe/H] alone: the base
population's per-bin Delta_P weighted by the shifted population's bin counts (no prior shift),
against the observed one.

    python benchmarks/shifted_population.py /tmp/final10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from astropy.table import Table

EDGES = (-2.5, -0.5, -0.35, -0.2, -0.05, 0.1, 0.25, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished default run (simulated source)")
    run = ap.parse_args().run
    rows = Table.read(run / "results/catalog/spt_catalog.fits", hdu="CATALOG")
    cat = rows[[c for c in rows.colnames if c != "reasons"]].to_pandas()
    truth = pd.read_csv(run / "resources/simulated/field/truth.csv")
    cat = cat.merge(truth[["obsid", "domain", "population", "age", "mass"]], on="obsid",
                    suffixes=("", "_true"))  # fmt: skip
    cat = cat[(cat["domain"] == "in") & ~cat["flag_warn"] & cat["age"].notna()].copy()
    cat["bin"] = pd.cut(cat["feh"], EDGES)
    for label in ("age", "mass"):
        rel = (cat[label] - cat[f"{label}_true"]).abs() / cat[f"{label}_true"]
        cat[f"dp_{label}"] = 100 * rel
        cat[f"in1_{label}"] = 100 * (
            (cat[label] - cat[f"{label}_true"]).abs() < cat[f"{label}_err"]
        )
    table = cat.groupby(["population", "bin"], observed=True).agg(
        n=("dp_age", "size"), dp_age=("dp_age", "mean"), dp_mass=("dp_mass", "mean"),
        within1_age=("in1_age", "mean"), within1_mass=("in1_mass", "mean"),
    )  # fmt: skip
    print(table.round(1).to_string())
    base, shifted = (cat[cat["population"] == p] for p in ("base", "shifted"))
    weights = shifted["bin"].value_counts(normalize=True)
    for label in ("age", "mass"):
        per_bin = base.groupby("bin", observed=True)[f"dp_{label}"].mean()
        expected = float((per_bin.reindex(weights.index) * weights).sum())
        b, s = base[f"dp_{label}"].mean(), shifted[f"dp_{label}"].mean()
        print(f"{label}: base Delta_P {b:.1f} %, shifted {s:.1f} % ({s / b:.2f}x); expected from "
              f"its [Fe/H] alone {expected:.1f} % ({expected / b:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
