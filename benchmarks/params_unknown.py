"""What the flags catch when a spectrum's LAMOST parameters are unknown (mock only).

Goal: no untrustworthy row passes unflagged when a user predicts spectra without a catalogue
(``spt predict`` with no ``--catalog``): decides whether PARAMS_UNKNOWN warns or is bad.
Run: ``python benchmarks/params_unknown.py RUN_DIR [--n 1500]`` on a finished default run.

Predicts the mock field survey's first ``--n`` targets twice with the run's model, once with
their LAMOST Teff, log g and [Fe/H] and once without (as ``spt predict`` without a catalogue),
and prints, per injected domain of ``truth.csv`` (in-domain giants, dwarfs, subgiants, hot,
cool, metal-poor, young, old, low S/N), the share flagged bad and flagged at all, each way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from spt.catalog.predict import Predictor, predict_targets
from spt.catalog.targets import read_shard
from spt.model.flags import Flag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--n", type=int, default=1500)
    args = parser.parse_args()
    run = args.run
    targets = pd.concat(
        [read_shard(p) for p in sorted((run / "results/catalog/targets").glob("s*.csv"))]
    ).iloc[: args.n]
    targets["path"] = [str(run / p) if p else "" for p in targets["path"]]
    truth = pd.read_csv(run / "resources/simulated/field/truth.csv").set_index("obsid")
    domain = truth["domain"].reindex(targets["obsid"]).fillna("?").to_numpy()
    predictor = Predictor.load(run / "results/models/spt_mahalanobis.pt")
    known = predict_targets(predictor, targets.reset_index(drop=True))
    blind = predict_targets(
        predictor, targets.assign(teff=np.nan, logg=np.nan, feh=np.nan).reset_index(drop=True)
    )
    without = int(Flag.PARAMS_UNKNOWN)
    rows = []
    for name in sorted(set(domain)):
        sel = domain == name
        rows.append({
            "domain": name,
            "n": int(sel.sum()),
            "bad_with_params": known["flag_bad"][sel].mean(),
            "flagged_with_params": (known["flag"][sel] != 0).mean(),
            "bad_without": blind["flag_bad"][sel].mean(),
            "flagged_without_other_bits": ((blind["flag"][sel] & ~without) != 0).mean(),
        })  # fmt: skip
    pd.set_option("display.width", 140)
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
