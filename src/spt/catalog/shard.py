"""The catalogue's spectra grouped into stars: which spectrum of a star is its best.

Each shard's rows come from `spt.catalog.predict.predict_targets`, the one prediction path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spt.catalog.stars import star_key


def mark_primary(frame: pd.DataFrame) -> pd.Series:
    """True on the best spectrum of each star (same LAMOST designation): not flagged bad, then
    highest S/N, then lowest obsid; a spectrum without a designation is its own star."""
    order = frame.assign(
        _bad=frame["flag_bad"].astype(bool),
        _snr=-frame["snrg"].fillna(-np.inf),
        _star=star_key(frame),
    ).sort_values(["_star", "_bad", "_snr", "obsid"], kind="stable")  # fmt: skip
    first = ~order["_star"].duplicated()
    return first.reindex(frame.index)
