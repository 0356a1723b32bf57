"""spt.prep.crossmatch: every count of the summary in one case where each differs.

Mutation testing (benchmarks/mutation.py) and the issue's outside review both asked for the
bookkeeping: counts taken before or after the stars and spectra without coordinates are set
aside, before or after a spectrum near two stars is given to the nearer. Here every count is
distinct, so a count taken from the wrong table or at the wrong step changes the summary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spt.prep.crossmatch import crossmatch

ARCSEC = 1.0 / 3600.0


def test_every_count_of_the_summary() -> None:
    seismic = pd.DataFrame({
        "kic": [1, 2, 3, 4, 5, 6],
        # A, B, C (2.5" north of B), D, E (no spectrum), F (no coordinates)
        "ra": [10.0, 20.0, 20.0, 30.0, 40.0, np.nan],
        "dec": [0.0, 0.0, 2.5 * ARCSEC, 0.0, 0.0, 0.0],
        "age": 5.0, "e_age": 1.0, "mass": 1.2, "e_mass": 0.1,
    })  # fmt: skip
    catalog = pd.DataFrame({
        "obsid": [11, 12, 13, 14, 15, 16, 17],
        "ra": [10.0, 10.0, 20.0, 20.0, 30.0, 50.0, 60.0],
        "dec": [0.0, 1 * ARCSEC, 2 * ARCSEC, -1 * ARCSEC, 0.0, 0.0, np.nan],
        "snrg": [50.0, 80.0, 30.0, 10.0, np.nan, 90.0, 99.0],
    })  # fmt: skip
    result = crossmatch(seismic, catalog, radius_arcsec=3.0)
    assert result.summary == {
        "seismic_stars": 6,
        "lamost_spectra": 7,
        "seismic_without_coordinates": 1,  # F
        "lamost_without_coordinates": 1,  # 17
        # B-13 (2"), C-13 (0.5"), B-14 (1"), D-15; C-14 is 3.5" apart
        "pairs_within_radius": 6,
        "spectra_near_several_stars": 1,  # 13 goes to C, the nearer
        "matched_stars": 4,  # A, B, C, D
        "extra_spectra_dropped": 1,  # 11: A keeps 12, of higher S/N
        "unmatched_seismic_stars": 1,  # E (F has no coordinates: counted above, not here)
        "unmatched_lamost_spectra": 1,  # 16 (17 has no coordinates: counted above)
    }
    m = result.matched.set_index("kic")
    assert m["obsid"].to_dict() == {1: 12, 2: 14, 3: 13, 4: 15}
    assert m["n_spectra"].to_dict() == {1: 2, 2: 1, 3: 1, 4: 1}  # 13 counts for C only
    assert m.loc[3, "separation_arcsec"] == 0.5
