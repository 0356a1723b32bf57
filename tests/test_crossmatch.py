"""Sky cross-match on constructed coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from spt.io.lamost import write_catalog
from spt.io.seismic import SeismicFormatError, read_seismic, write_seismic
from spt.prep.crossmatch import CrossmatchError, crossmatch, crossmatch_files


def offset(ra: float, dec: float, arcsec: float, pa_deg: float = 30.0) -> tuple[float, float]:
    c = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(pa_deg * u.deg, arcsec * u.arcsec)
    return float(c.ra.deg), float(c.dec.deg)


def seismic_frame(positions: list[tuple[float, float]]) -> pd.DataFrame:
    n = len(positions)
    return pd.DataFrame(
        {
            "kic": np.arange(1, n + 1) * 1000,
            "ra": [p[0] for p in positions],
            "dec": [p[1] for p in positions],
            "mass": np.linspace(1.0, 2.0, n),
            "e_mass": 0.1,
            "age": np.linspace(8.0, 1.0, n),
            "e_age": 1.0,
        }
    )


def catalog_frame(rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "obsid": [r[0] for r in rows],
            "designation": [f"LAMOST J{r[0]}" for r in rows],
            "ra": [r[1] for r in rows],
            "dec": [r[2] for r in rows],
            "snrg": [r[3] for r in rows],
            "snrr": 1.0,
            "snri": 1.0,
        }
    )


@pytest.fixture
def case():
    a, b, c, d, e = (290.0, 44.0), (291.0, 45.0), (292.0, 43.0), (10.0, -80.0), (359.9999, 0.0)
    seis = seismic_frame([a, b, c, d, e])
    cat = catalog_frame(
        [
            (1, *a, 50.0),  # exact position
            (2, *offset(*b, 2.99), 40.0),  # just inside 3"
            (3, *offset(*c, 3.01), 90.0),  # just outside 3"
            (4, *offset(*a, 1.0), 80.0),  # second spectrum of star a, higher S/N: wins
            (5, *offset(*d, 0.5, pa_deg=200), 20.0),  # near the pole of the grid
            (6, *offset(*e, 1.5, pa_deg=90), 30.0),  # across RA = 0
            (7, 100.0, 10.0, 99.0),  # far from everything
        ]
    )
    return seis, cat


def test_matches_and_counts(case):
    seis, cat = case
    result = crossmatch(seis, cat, radius_arcsec=3.0)
    m = result.matched.set_index("kic")
    assert m.loc[1000, "obsid"] == 4  # higher S/N of two spectra
    assert m.loc[1000, "n_spectra"] == 2
    assert m.loc[2000, "obsid"] == 2
    assert m.loc[2000, "separation_arcsec"] == pytest.approx(2.99, abs=1e-3)
    assert 3000 not in m.index  # 3.01" is outside
    assert m.loc[4000, "obsid"] == 5
    assert m.loc[5000, "obsid"] == 6  # wraps through RA = 0
    assert result.summary == {
        "seismic_stars": 5,
        "lamost_spectra": 7,
        "seismic_without_coordinates": 0,
        "lamost_without_coordinates": 0,
        "pairs_within_radius": 5,
        "spectra_near_several_stars": 0,
        "matched_stars": 4,
        "extra_spectra_dropped": 1,
        "unmatched_seismic_stars": 1,
        "unmatched_lamost_spectra": 2,
    }
    # Labels travel with the star, LAMOST's parameters are kept apart from them.
    assert m.loc[2000, "mass"] == pytest.approx(1.25)
    assert {"ra_seismic", "dec_seismic", "snrg"} <= set(result.matched.columns)


def test_radius_is_a_config_choice(case):
    seis, cat = case
    wide = crossmatch(seis, cat, radius_arcsec=3.1)
    assert 3000 in set(wide.matched["kic"])


def test_equal_snr_prefers_nearer_spectrum():
    seis = seismic_frame([(200.0, 30.0)])
    cat = catalog_frame(
        [(10, *offset(200.0, 30.0, 2.0), 50.0), (11, *offset(200.0, 30.0, 0.5), 50.0)]
    )
    assert crossmatch(seis, cat, 3.0).matched["obsid"].tolist() == [11]


def test_spectrum_between_two_stars_goes_to_nearer():
    a = (150.0, 20.0)
    b = offset(*a, 4.0, pa_deg=0)
    seis = seismic_frame([a, b])
    cat = catalog_frame([(1, *offset(*a, 1.5, pa_deg=0), 60.0), (2, *b, 10.0)])
    result = crossmatch(seis, cat, 3.0)
    assert dict(zip(result.matched["kic"], result.matched["obsid"], strict=True)) == {
        1000: 1,
        2000: 2,
    }
    assert result.summary["spectra_near_several_stars"] == 1


def test_no_match_is_a_clear_error():
    seis = seismic_frame([(290.0, 44.0)])
    cat = catalog_frame([(1, 10.0, 10.0, 50.0)])
    with pytest.raises(CrossmatchError, match=r"no LAMOST spectrum lies within 3.0 arcsec"):
        crossmatch(seis, cat, 3.0)


def test_missing_coordinates_are_counted_not_matched():
    seis = seismic_frame([(290.0, 44.0), (np.nan, 44.0)])
    cat = catalog_frame([(1, 290.0, 44.0, 50.0), (2, np.nan, np.nan, 50.0)])
    result = crossmatch(seis, cat, 3.0)
    assert result.summary["seismic_without_coordinates"] == 1
    assert result.summary["lamost_without_coordinates"] == 1
    assert result.matched["obsid"].tolist() == [1]


def test_bad_arguments():
    seis = seismic_frame([(290.0, 44.0)])
    cat = catalog_frame([(1, 290.0, 44.0, 50.0)])
    with pytest.raises(ValueError, match="positive"):
        crossmatch(seis, cat, 0.0)
    with pytest.raises(CrossmatchError, match="snrx"):
        crossmatch(seis, cat, 3.0, snr_column="snrx")


def test_files_round_trip(tmp_path, case):
    seis, cat = case
    vizier = seis.rename(
        columns={"kic": "KIC", "ra": "RAJ2000", "dec": "DEJ2000", "mass": "Mass",
                 "e_mass": "e_Mass", "age": "Age", "e_age": "e_Age"}
    )  # fmt: skip
    write_seismic(vizier, tmp_path / "seismic.csv")
    write_catalog(cat, tmp_path / "cat.csv")
    summary = crossmatch_files(
        tmp_path / "seismic.csv", tmp_path / "cat.csv", tmp_path / "m.csv", tmp_path / "s.csv", 3.0
    )
    assert summary["matched_stars"] == 4
    assert len(pd.read_csv(tmp_path / "m.csv")) == 4
    counts = pd.read_csv(tmp_path / "s.csv").set_index("quantity")["count"]
    assert counts["unmatched_seismic_stars"] == 1


def test_seismic_reader_errors(tmp_path):
    pd.DataFrame({"KIC": [1], "RAJ2000": [1.0]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(SeismicFormatError, match="DEJ2000"):
        read_seismic(tmp_path / "a.csv")
    frame = pd.DataFrame(
        {"KIC": [1, 1], "RAJ2000": 1.0, "DEJ2000": 2.0, "Mass": 1.0, "e_Mass": 0.1, "Age": 3.0,
         "e_Age": 0.3}
    )  # fmt: skip
    frame.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(SeismicFormatError, match="duplicated KIC"):
        read_seismic(tmp_path / "b.csv")


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_spectrum_near_two_stars_goes_to_the_nearer_whatever_their_order(order):
    """The spectrum lies 1.0" from star b and 2.0" from star a; b must get it, whether b comes
    first or second in the seismic table (a mutant giving it to the first star fails one)."""
    a = (150.0, 20.0)
    b = offset(*a, 3.0, pa_deg=90)
    spectrum = offset(*a, 2.0, pa_deg=90)  # on the line a-b: 2" from a, 1" from b
    stars = [a, b]
    seis = seismic_frame([stars[i] for i in order])  # kic 1000 first row, 2000 second
    kic_of_b = 1000 * (order.index(1) + 1)
    cat = catalog_frame([(7, *spectrum, 50.0)])
    result = crossmatch(seis, cat, 3.0)
    assert result.matched["kic"].tolist() == [kic_of_b]
    assert result.matched["separation_arcsec"].tolist() == [pytest.approx(1.0, abs=1e-3)]
    assert result.summary["spectra_near_several_stars"] == 1
    assert result.summary["unmatched_seismic_stars"] == 1


def test_spectrum_without_snr_is_ranked_last():
    """A star's spectrum with no S/N (NaN) loses to any spectrum with one, even a nearer one
    and one of lower obsid; only a star whose spectra all lack S/N gets one of them."""
    star, lone = (210.0, -5.0), (211.0, -5.0)
    seis = seismic_frame([star, lone])
    cat = catalog_frame(
        [
            (1, *offset(*star, 0.2), np.nan),  # nearest and lowest obsid, but no S/N
            (2, *offset(*star, 2.5), 3.0),  # far and faint, but measured
            (3, *offset(*star, 1.0), np.nan),
            (4, *offset(*lone, 0.5), np.nan),  # the only spectrum of `lone`
        ]
    )
    m = crossmatch(seis, cat, radius_arcsec=3.0).matched.set_index("kic")
    assert m.loc[1000, "obsid"] == 2
    assert m.loc[1000, "n_spectra"] == 3
    assert m.loc[2000, "obsid"] == 4
