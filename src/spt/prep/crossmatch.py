"""Sky cross-match of the asteroseismic catalogue with the LAMOST LRS catalogue.

Every pair closer than the radius is found (astropy ``search_around_sky``). A spectrum near
several seismic stars goes to the nearest one; a star with several spectra keeps the one of
highest S/N (ties: the nearer, then the lower obsid). Everything not kept is counted.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky

from spt.io.files import write_csv
from spt.io.lamost import read_catalog
from spt.io.seismic import read_seismic

log = logging.getLogger(__name__)

#: LAMOST catalogue columns carried into matched.csv (renamed where they clash with labels).
_LAMOST_KEEP = {
    "obsid": "obsid",
    "designation": "designation",
    "ra": "ra",
    "dec": "dec",
    "snru": "snru",
    "snrg": "snrg",
    "snrr": "snrr",
    "snri": "snri",
    "snrz": "snrz",
    "teff": "teff_lamost",
    "logg": "logg_lamost",
    "feh": "feh_lamost",
    "rv": "rv_lamost",
}


class CrossmatchError(RuntimeError):
    """The cross-match cannot give a usable sample (e.g. nothing matched)."""


@dataclass
class CrossmatchResult:
    """The matched stars (one row each) and the counts of what was matched and dropped."""

    matched: pd.DataFrame
    summary: dict[str, int]


def crossmatch(
    seismic: pd.DataFrame, catalog: pd.DataFrame, radius_arcsec: float, snr_column: str = "snrg"
) -> CrossmatchResult:
    """Match seismic stars (pipeline names) to LAMOST spectra (LAMOST names) within a radius."""
    if radius_arcsec <= 0:
        raise ValueError(f"radius_arcsec must be positive, not {radius_arcsec}")
    if snr_column not in catalog.columns:
        raise CrossmatchError(f"LAMOST catalogue has no column {snr_column!r} to rank spectra by")
    seis_ok = np.isfinite(seismic["ra"]) & np.isfinite(seismic["dec"])
    cat_ok = np.isfinite(catalog["ra"]) & np.isfinite(catalog["dec"])
    seis = seismic.loc[seis_ok].reset_index(drop=True)
    cat = catalog.loc[cat_ok].reset_index(drop=True)
    summary = {
        "seismic_stars": len(seismic),
        "lamost_spectra": len(catalog),
        "seismic_without_coordinates": int((~seis_ok).sum()),
        "lamost_without_coordinates": int((~cat_ok).sum()),
    }
    if len(seis) == 0 or len(cat) == 0:
        raise CrossmatchError(
            f"nothing to match: {len(seis)} seismic stars and {len(cat)} LAMOST spectra "
            "with valid coordinates"
        )
    seis_pos = SkyCoord(seis["ra"].to_numpy() * u.deg, seis["dec"].to_numpy() * u.deg)
    cat_pos = SkyCoord(cat["ra"].to_numpy() * u.deg, cat["dec"].to_numpy() * u.deg)
    i_seis, i_cat, sep, _ = search_around_sky(seis_pos, cat_pos, radius_arcsec * u.arcsec)
    pairs = pd.DataFrame(
        {
            "i_seis": i_seis,
            "i_cat": i_cat,
            "separation_arcsec": sep.to_value(u.arcsec),
            "snr": cat[snr_column].to_numpy()[i_cat],
            "obsid": cat["obsid"].to_numpy()[i_cat],
        }
    )
    summary["pairs_within_radius"] = len(pairs)
    if pairs.empty:
        raise CrossmatchError(
            f"no LAMOST spectrum lies within {radius_arcsec} arcsec of any of {len(seis)} "
            "seismic stars: check that both catalogues cover the same sky and the radius"
        )
    # A spectrum near two stars belongs to the nearer one.
    pairs = pairs.sort_values(["i_cat", "separation_arcsec", "i_seis"], kind="mergesort")
    ambiguous = pairs.duplicated("i_cat", keep="first")
    summary["spectra_near_several_stars"] = int(pairs.loc[ambiguous, "i_cat"].nunique())
    pairs = pairs.loc[~ambiguous]
    n_spectra = pairs.groupby("i_seis").size()
    # One spectrum per star: highest S/N, then nearest, then lowest obsid.
    pairs = pairs.assign(neg_snr=-pairs["snr"].fillna(-np.inf)).sort_values(
        ["i_seis", "neg_snr", "separation_arcsec", "obsid"], kind="mergesort"
    )
    best = pairs.drop_duplicates("i_seis", keep="first")
    summary["matched_stars"] = len(best)
    summary["extra_spectra_dropped"] = len(pairs) - len(best)
    summary["unmatched_seismic_stars"] = len(seis) - len(best)
    summary["unmatched_lamost_spectra"] = len(cat) - int(pairs["i_cat"].nunique())

    lam = cat.loc[best["i_cat"].to_numpy(), [c for c in _LAMOST_KEEP if c in cat.columns]]
    lam = lam.rename(columns=_LAMOST_KEEP).reset_index(drop=True)
    labels = seis.loc[best["i_seis"].to_numpy()].reset_index(drop=True)
    labels = labels.rename(columns={"ra": "ra_seismic", "dec": "dec_seismic"})
    matched = pd.concat([labels[["kic"]], lam, labels.drop(columns=["kic"])], axis=1)
    matched.insert(
        matched.columns.get_loc("ra_seismic"),
        "separation_arcsec",
        np.round(best["separation_arcsec"].to_numpy(), 4),
    )
    matched.insert(
        matched.columns.get_loc("separation_arcsec"),
        "n_spectra",
        n_spectra.reindex(best["i_seis"].to_numpy()).to_numpy(),
    )
    matched = matched.sort_values("kic", ignore_index=True)
    log.info("cross-match: %s", summary)
    return CrossmatchResult(matched=matched, summary=summary)


def crossmatch_files(
    seismic_path: str | os.PathLike[str],
    catalog_path: str | os.PathLike[str],
    matched_path: str | os.PathLike[str],
    summary_path: str | os.PathLike[str],
    radius_arcsec: float,
    snr_column: str = "snrg",
) -> dict[str, int]:
    """Cross-match the two catalogue files; write matched.csv and its counts beside it."""
    result = crossmatch(
        read_seismic(seismic_path), read_catalog(catalog_path), radius_arcsec, snr_column
    )
    write_csv(result.matched, matched_path)
    summary = pd.DataFrame(
        {"quantity": list(result.summary), "count": list(result.summary.values())}
    )
    write_csv(summary, summary_path)
    return result.summary
