"""Open-cluster validation: match members to LAMOST spectra and compare SPT with literature ages.

Conventions
-----------
- Ages in Gyr, masses in Msun. The literature age of a cluster comes from ``clusters.csv``
  (``age_lit``, ``e_age_lit``) or from the config entry (``age``/``e_age`` in Gyr, or
  ``log_age``/``e_log_age`` in log10 yr, converted by `spt.sources.vizier.literature_age`).
- Per cluster, over its matched members: the median prediction, the robust scatter
  ``1.4826 * MAD`` (same units as the label) and the standard error of the median
  ``1.2533 * sigma / sqrt(n)``, with sigma the robust scatter (for a single member, its own
  MC-dropout error).
- ``offset = median - literature`` (Gyr or Msun), ``offset_rel = offset / literature`` (%),
  ``offset_sigma = offset / sqrt(sem**2 + e_lit**2)``.
- A configured cluster with no matched member stays in the summary with ``n_used = 0`` and NaN
  statistics, never silently dropped.
- Only the labels the member predictions carry are summarised (``features.labels``: age and
  mass by default, or one of them); ``n_used`` counts members with a finite first label.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky

from spt.io.predictions import LABELS, frame_labels
from spt.sources.vizier import literature_age
from spt.validation.metrics import MAD_TO_SIGMA

#: sqrt(pi / 2): the standard error of a Gaussian sample's median over that of its mean.
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2.0)

MEMBER_COLUMNS = ("cluster", "member_id", "RAJ2000", "DEJ2000")
PREDICTION_COLUMNS = ("cluster", "member_id", "age", "age_err", "mass", "mass_err")

log = logging.getLogger(__name__)

ClusterLiterature = pd.DataFrame | Sequence[Mapping[str, Any]]


class ClusterError(ValueError):
    """A cluster table lacks a column or cannot be summarised; the message says which."""


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ClusterError(f"{what} lack(s) column(s) {missing}; has {list(frame.columns)}")


def match_members(
    members: pd.DataFrame,
    lamost_catalog: pd.DataFrame,
    radius_arcsec: float,
    snr_column: str = "snrg",
) -> pd.DataFrame:
    """Match cluster members to LAMOST spectra within ``radius_arcsec``; one spectrum per member.

    A spectrum near several members goes to the nearest; a member with several spectra keeps the
    highest ``snr_column`` (ties: nearer, then lower obsid). Returns one row per matched member:
    ``cluster, member_id, obsid, separation_arcsec, <snr_column>, n_spectra``, ordered as
    ``members``. Members without a spectrum are absent (their cluster then reports fewer members).
    """
    if not radius_arcsec > 0:
        raise ValueError(f"radius_arcsec must be positive, not {radius_arcsec}")
    _require(members, MEMBER_COLUMNS, "cluster members")
    _require(lamost_catalog, ("obsid", "ra", "dec", snr_column), "LAMOST catalogue")
    out_columns = ["cluster", "member_id", "obsid", "separation_arcsec", snr_column, "n_spectra"]

    mem = members.reset_index(drop=True)
    mem_ok = np.isfinite(mem["RAJ2000"].to_numpy(float)) & np.isfinite(
        mem["DEJ2000"].to_numpy(float)
    )
    cat = lamost_catalog.reset_index(drop=True)
    cat_ok = np.isfinite(cat["ra"].to_numpy(float)) & np.isfinite(cat["dec"].to_numpy(float))
    i_mem_all, i_cat_all = np.flatnonzero(mem_ok), np.flatnonzero(cat_ok)
    if i_mem_all.size == 0 or i_cat_all.size == 0:
        return pd.DataFrame(columns=out_columns)

    mem_pos = SkyCoord(
        mem["RAJ2000"].to_numpy(float)[i_mem_all] * u.deg,
        mem["DEJ2000"].to_numpy(float)[i_mem_all] * u.deg,
    )
    cat_pos = SkyCoord(
        cat["ra"].to_numpy(float)[i_cat_all] * u.deg, cat["dec"].to_numpy(float)[i_cat_all] * u.deg
    )
    i_mem, i_cat, sep, _ = search_around_sky(mem_pos, cat_pos, radius_arcsec * u.arcsec)
    if i_mem.size == 0:
        return pd.DataFrame(columns=out_columns)
    i_mem, i_cat = i_mem_all[i_mem], i_cat_all[i_cat]
    snr = pd.to_numeric(cat[snr_column], errors="coerce").to_numpy(float)[i_cat]
    pairs = pd.DataFrame(
        {
            "i_mem": i_mem,
            "separation_arcsec": sep.to_value(u.arcsec),
            "neg_snr": -np.where(np.isfinite(snr), snr, -np.inf),
            "obsid": cat["obsid"].to_numpy()[i_cat].astype(np.int64),
        }
    )
    # A spectrum near two members belongs to the nearer one.
    pairs = pairs.sort_values(["obsid", "separation_arcsec", "i_mem"], kind="mergesort")
    pairs = pairs.drop_duplicates("obsid", keep="first")
    n_spectra = pairs.groupby("i_mem").size()
    pairs = pairs.sort_values(
        ["i_mem", "neg_snr", "separation_arcsec", "obsid"], kind="mergesort"
    ).drop_duplicates("i_mem", keep="first")

    rows = mem.loc[pairs["i_mem"].to_numpy(), ["cluster", "member_id"]].reset_index(drop=True)
    rows["obsid"] = pairs["obsid"].to_numpy()
    rows["separation_arcsec"] = np.round(pairs["separation_arcsec"].to_numpy(), 4)
    rows[snr_column] = -pairs["neg_snr"].to_numpy()
    rows[snr_column] = rows[snr_column].replace(-np.inf, np.nan)
    rows["n_spectra"] = n_spectra.reindex(pairs["i_mem"].to_numpy()).to_numpy()
    return rows.loc[:, out_columns]


def cluster_literature(clusters_cfg_or_lit: ClusterLiterature) -> pd.DataFrame:
    """One row per cluster: ``cluster, n_listed, age_lit, e_age_lit, feh_lit, ref`` and, when
    the config gives them, ``mass_lit, e_mass_lit`` (a turn-off or giant mass, Msun).

    Accepts the ``clusters.csv`` member table (one row per member; ``n_listed`` counts them) or
    the config's ``clusters:`` list (``n_listed`` is then NaN).
    """
    if isinstance(clusters_cfg_or_lit, pd.DataFrame):
        lit = clusters_cfg_or_lit
        _require(lit, ("cluster", "age_lit", "e_age_lit"), "cluster literature table")
        per = lit.groupby("cluster", sort=False)
        counts = per[["age_lit", "e_age_lit"]].nunique(dropna=False)
        bad = list(counts.index[(counts > 1).any(axis=1)])
        if bad:
            raise ClusterError(f"clusters {bad} have more than one literature age in the table")
        out = per.agg(
            n_listed=("cluster", "size"),
            age_lit=("age_lit", "first"),
            e_age_lit=("e_age_lit", "first"),
        ).reset_index()
        for src, dst in (("feh_lit", "feh_lit"), ("age_ref", "ref")):
            out[dst] = per[src].first().to_numpy() if src in lit.columns else np.nan
        for col in ("mass_lit", "e_mass_lit"):
            if col in lit.columns:
                out[col] = per[col].first().to_numpy()
        return out

    rows = []
    for entry in clusters_cfg_or_lit:
        if "name" not in entry:
            raise ClusterError(f"cluster config entry without a name: {dict(entry)}")
        try:
            age, e_age = literature_age(entry)
        except ValueError as exc:
            raise ClusterError(str(exc)) from None
        row = {
            "cluster": str(entry["name"]),
            "n_listed": np.nan,  # config n_members shapes the mock only: not a member count
            "age_lit": age,
            "e_age_lit": e_age,
            "feh_lit": float(entry.get("feh", np.nan)),
            "ref": str(entry.get("ref", "")),
        }
        if "mass" in entry:
            row["mass_lit"] = float(entry["mass"])
            row["e_mass_lit"] = float(entry.get("e_mass", np.nan))
        rows.append(row)
    if not rows:
        raise ClusterError("no clusters given")
    out = pd.DataFrame(rows)
    if out["cluster"].duplicated().any():
        raise ClusterError(
            f"clusters listed twice: {list(out.loc[out['cluster'].duplicated(), 'cluster'])}"
        )
    return out


def _median_stats(values: np.ndarray, errors: np.ndarray) -> dict[str, float]:
    """Median, robust scatter and standard error of the median of one label's members."""
    ok = np.isfinite(values)
    values, errors = values[ok], errors[ok]
    n = values.size
    if n == 0:
        return {"median": np.nan, "scatter": np.nan, "sem": np.nan, "median_err": np.nan}
    median = float(np.median(values))
    scatter = float(MAD_TO_SIGMA * np.median(np.abs(values - median))) if n > 1 else np.nan
    finite_err = errors[np.isfinite(errors)]
    median_err = float(np.median(finite_err)) if finite_err.size else np.nan
    # One member has no scatter: its own MC-dropout error stands in for the median's error.
    sem = MEDIAN_SE_FACTOR * scatter / math.sqrt(n) if n > 1 else median_err
    return {"median": median, "scatter": scatter, "sem": float(sem), "median_err": median_err}


def summarise_clusters(
    member_predictions: pd.DataFrame, clusters_cfg_or_lit: ClusterLiterature
) -> pd.DataFrame:
    """Per cluster: members used, median predicted age and mass with their scatter and error,
    and the offset from the literature in Gyr (Msun), in % and in units of the combined error.

    ``member_predictions`` has ``cluster, member_id, age, age_err, mass, mass_err`` (one row per
    matched member), or only one label and its error for a one-label model. Every literature
    cluster gets a row, in literature order (``n_used = 0`` and NaNs when no member was
    matched); a predicted cluster absent from the literature raises.
    """
    labels = frame_labels(member_predictions) or LABELS
    needed = ("cluster", "member_id", *(f"{x}{s}" for x in labels for s in ("", "_err")))
    _require(member_predictions, needed, "member predictions")
    lit = cluster_literature(clusters_cfg_or_lit)
    preds = member_predictions.copy()
    preds["cluster"] = preds["cluster"].astype(str)
    unknown = sorted(set(preds["cluster"]) - set(lit["cluster"]))
    if unknown:
        raise ClusterError(f"predicted clusters {unknown} have no literature age")
    dup = preds.duplicated(["cluster", "member_id"])
    if dup.any():
        raise ClusterError(
            f"{int(dup.sum())} members predicted more than once, e.g. "
            f"{preds.loc[dup, 'member_id'].iloc[0]!r}: keep one spectrum per member"
        )

    rows = []
    for _, cl in lit.iterrows():
        members = preds[preds["cluster"] == cl["cluster"]]
        row: dict[str, Any] = {"cluster": cl["cluster"], "n_listed": cl["n_listed"]}
        row["n_used"] = int(np.isfinite(members[labels[0]].to_numpy(float)).sum())
        if row["n_used"] == 0:
            log.warning("cluster %s: no member matched to a spectrum (n_used = 0)", cl["cluster"])
        for label in labels:
            stats = _median_stats(
                members[label].to_numpy(float), members[f"{label}_err"].to_numpy(float)
            )
            for key, value in stats.items():
                row[f"{label}_{key}"] = value
            ref = float(cl.get(f"{label}_lit", np.nan))
            e_ref = float(cl.get(f"e_{label}_lit", np.nan))
            offset = stats["median"] - ref
            combined = math.hypot(stats["sem"], e_ref) if np.isfinite(e_ref) else stats["sem"]
            row[f"{label}_lit"] = ref
            row[f"e_{label}_lit"] = e_ref
            row[f"{label}_offset"] = offset
            row[f"{label}_offset_rel"] = 100.0 * offset / ref if ref else np.nan
            row[f"{label}_offset_sigma"] = offset / combined if combined > 0 else np.nan
        row["feh_lit"] = cl["feh_lit"]
        row["ref"] = cl["ref"]
        rows.append(row)
    return pd.DataFrame(rows)
