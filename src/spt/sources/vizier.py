"""VizieR queries for the real-data path: the asteroseismic catalogue and open-cluster members.

Both go through astroquery's ``Vizier`` with the server as a parameter (a mirror such as
``vizier.cds.unistra.fr``, or ``127.0.0.1:<port>`` in tests), ask for every column
(``columns=["**"]``) and every row, retry faults with the policy of ``spt.sources.download``, and
write the pipeline's contract files atomically. An output that already exists and reads back with
the contract columns is reused without any query.

Seismic catalogues (a config choice; the paper does not say which it used)
---------------------------------------------------------------------------
Each is turned into ``seismic.csv`` by a column mapping (see ``standardise_seismic``).

- ``miglio2021`` (default): Miglio et al. 2021, A&A 645, A85, ``J/A+A/645/A85/catalog``.
  3,315 Kepler red giants with APOGEE DR14 spectroscopy; PARAM masses and ages with 16th/84th
  percentiles (``b_Mass``/``b_mass_lc``, ``b_Age``/``b_age_lc``), ``[Fe/H]``, ``evstate``
  (1 = RGB, 2 = red clump, from Yu et al. 2018), ``RAdeg``/``DEdeg``. No Teff, numax or Dnu.
  Column names checked on the real VizieR export (the FITS one spells ``[Fe/H]`` as
  ``__Fe_H_``; names are matched ignoring punctuation and case, so both work).
- ``apokasc2``: Pinsonneault et al. 2018, ApJS 239, 32, ``J/ApJS/239/32/table5`` (6,676
  stars). Seen in public code: ``KIC``, ``_2MASS``, ``Teff``, ``Numax``, ``Dnu``, ``M(cor)``,
  ``LogAge`` (log10 of the age in Myr), ``ES`` (evolutionary state), ``_RA``/``_DE``. Not
  verified: the error columns (``e_M(cor)``, ``e_LogAge``/``E_LogAge``), the spelling of
  [Fe/H] and the codes of ``ES``; check the preset against the ReadMe before a paper run.
- Yu et al. 2018, ApJS 236, 42, ``J/ApJS/236/42`` (~16,000 Kepler giants): numax, Dnu,
  masses, radii and the RGB/clump phase, but no ages, so it cannot supply the age label alone;
  its table names and columns were not verified (no preset).
- Wu et al. 2019, MNRAS 484, 5315 (LAMOST x Kepler RGB masses and ages, probably the closest
  to the paper's sample): expected at ``J/MNRAS/484/5315``; neither the id nor the columns
  could be verified (no preset). Give its mapping in config once checked.

Local seismic tables
--------------------
``fetch_seismic_file`` takes the same catalogue from a file the user holds (CSV, FITS or
VOTable, gzipped or not; ``spt.io.tables.read_table``) through the same column mapping (none
given: the table's own columns under the ``seismic.csv`` names, matched ignoring case and
punctuation). A table with KIC numbers but no coordinates gets them from the Kepler Input
Catalogue, ``V/133/kic`` (columns KIC, RAJ2000, DEJ2000), queried through the same server and
retry policy and cached in ``kic_coordinates.csv`` beside the output. A table with masses but no
ages (or ages but no masses) is accepted: the missing label is written as NaN (empty) in
``seismic.csv``, and a training set needs the labels it fits.

Open-cluster members
--------------------
Cantat-Gaudin et al. 2020, A&A 640, A1, ``J/A+A/640/A1``: table ``nodup`` lists Gaia DR2
members with ``Cluster`` (names such as ``NGC_6791``), ``proba`` (membership probability),
``RA_ICRS``/``DE_ICRS``. The Gaia id column is taken to be ``GaiaDR2`` (configurable; the
related J/A+A/633/A99 calls it ``Source``). ICRS (Gaia epoch 2015.5) positions are written
as RAJ2000/DEJ2000: the difference is far below the cross-match radius.

Isochrone ages (for the comparison with SPT ages)
-------------------------------------------------
Berger et al. 2020, AJ 159, 280, ``J/AJ/159/280/table2`` (default): isochrone ages of 186,301
Kepler stars from Gaia DR2 parallaxes, g and Ks photometry and spectroscopic [Fe/H]. Columns
checked against the catalogue's ReadMe: ``KIC``, ``Age`` (Gyr), ``E_Age`` (upper error),
``e_Age`` (lower error, stored negative), ``f_Age`` ("*" where the posterior is uninformative,
TAMS > 20 Gyr, or the fit poor, GOF < 0.99; those rows are dropped). Median age error 56 %.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astroquery.vizier import Vizier

from spt.io.files import write_csv
from spt.io.seismic import SeismicFormatError
from spt.io.tables import read_table
from spt.sources.download import call_with_retries, check_status

PathLike = str | os.PathLike[str]
log = logging.getLogger(__name__)

DEFAULT_SERVER = "vizier.cds.unistra.fr"
SEISMIC_COLUMNS = (
    "KIC", "RAJ2000", "DEJ2000", "Teff", "e_Teff", "[Fe/H]", "e_[Fe/H]", "numax", "e_numax",
    "Dnu", "e_Dnu", "Mass", "e_Mass", "Age", "e_Age", "Phase",
)  # fmt: skip
#: ``isochrone_ages.csv`` of the real path (the mock's is keyed by obsid instead of kic).
ISOCHRONE_COLUMNS = ("kic", "age_iso", "e_age_iso")
#: Without these a catalogue cannot label the training set.
REQUIRED_SEISMIC = ("KIC", "RAJ2000", "DEJ2000", "Mass", "Age")
CLUSTER_COLUMNS = (
    "cluster", "member_id", "RAJ2000", "DEJ2000", "age_lit", "e_age_lit", "feh_lit", "age_ref",
)  # fmt: skip
PHASE_UNKNOWN, PHASE_RGB, PHASE_CLUMP = 0, 1, 2
_SPEC_KEYS = {
    "column",
    "lower",
    "upper",
    "minus",
    "plus",
    "log10",
    "scale",
    "relative_to",
    "codes",
    "default",
}

Spec = str | None | Mapping[str, Any]


class ColumnMappingError(ValueError):
    """A mapping names a source column the table does not have (or matches several)."""


#: Ready mappings (target column -> source spec) for catalogues whose columns could be checked.
SEISMIC_PRESETS: dict[str, dict[str, Any]] = {
    "miglio2021": {
        "catalog": "J/A+A/645/A85/catalog",
        "columns": {
            "KIC": "KIC",
            "RAJ2000": "RAdeg",
            "DEJ2000": "DEdeg",
            "[Fe/H]": "[Fe/H]",
            "Mass": "Mass",
            "e_Mass": {"lower": "b_Mass", "upper": "b_mass_lc"},
            "Age": "Age",
            "e_Age": {"lower": "b_Age", "upper": "b_age_lc"},
            "Phase": {"column": "evstate", "codes": {1: PHASE_RGB, 2: PHASE_CLUMP}},
        },
    },
    "apokasc2": {
        "catalog": "J/ApJS/239/32/table5",
        "columns": {
            "KIC": "KIC",
            "RAJ2000": "_RA",
            "DEJ2000": "_DE",
            "Teff": "Teff",
            "[Fe/H]": "[Fe/H]",
            "numax": "Numax",
            "Dnu": "Dnu",
            "Mass": "M(cor)",
            "e_Mass": {"column": "e_M(cor)", "relative_to": "Mass"},
            "Age": {"column": "LogAge", "log10": True, "scale": 1e-3},
            "e_Age": {
                "column": "LogAge",
                "minus": "e_LogAge",
                "plus": "E_LogAge",
                "log10": True,
                "scale": 1e-3,
            },
            "Phase": {"column": "ES", "codes": {"RGB": PHASE_RGB, "RC": PHASE_CLUMP}},
        },
    },
}


def seismic_preset(name: str) -> dict[str, Any]:
    """A copy of a preset ``{"catalog": ..., "columns": {...}}`` (KeyError lists the names)."""
    try:
        return copy.deepcopy(SEISMIC_PRESETS[name])
    except KeyError:
        raise KeyError(f"no seismic preset {name!r}; known: {sorted(SEISMIC_PRESETS)}") from None


# --------------------------------------------------------------------------- mapping
def _norm(name: str) -> str:
    """Column-name key ignoring case and punctuation: '[Fe/H]', '__Fe_H_' and 'FeH' agree."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _column(frame: pd.DataFrame, name: str, target: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    matches = [c for c in frame.columns if _norm(c) == _norm(name)]
    if len(matches) == 1:
        return frame[matches[0]]
    what = "several columns match" if matches else "no such column"
    raise ColumnMappingError(
        f"{target}: source column {name!r}: {what}; table has {list(frame.columns)}"
    )


def _numeric(frame: pd.DataFrame, name: str, target: str) -> pd.Series:
    return pd.to_numeric(_column(frame, name, target), errors="coerce").astype(float)


def _transform(values: pd.Series, spec: Mapping[str, Any]) -> pd.Series:
    if spec.get("log10"):
        values = 10.0**values
    return values * float(spec.get("scale", 1.0))


def _code_key(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    return str(value).strip()


def _phase(frame: pd.DataFrame, spec: Spec) -> pd.Series:
    if spec is None:
        return pd.Series(PHASE_UNKNOWN, index=frame.index, dtype=int)
    if isinstance(spec, str):
        spec = {"column": spec, "codes": {0: 0, 1: 1, 2: 2}}
    _check_spec(spec, "Phase")
    codes = {_code_key(k): int(v) for k, v in dict(spec.get("codes") or {}).items()}
    default = int(spec.get("default", PHASE_UNKNOWN))
    source = _column(frame, spec["column"], "Phase")
    return source.map(lambda v: codes.get(_code_key(v), default)).astype(int)


def _check_spec(
    spec: Mapping[str, Any], target: str, targets: Sequence[str] = SEISMIC_COLUMNS
) -> None:
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"{target}: unknown mapping key(s) {sorted(unknown)}")
    for pair in (("lower", "upper"), ("minus", "plus")):
        if (pair[0] in spec) != (pair[1] in spec):
            raise ValueError(f"{target}: give both {pair[0]!r} and {pair[1]!r}")
    if "column" not in spec and "lower" not in spec:
        raise ValueError(f"{target}: a mapping needs 'column' (or 'lower' and 'upper')")
    ref = spec.get("relative_to")
    if ref is not None and ref not in targets:
        raise ValueError(f"{target}: relative_to {ref!r} is not a target column")


def _value(
    frame: pd.DataFrame,
    spec: Spec,
    target: str,
    done: pd.DataFrame,
    targets: Sequence[str] = SEISMIC_COLUMNS,
) -> pd.Series:
    """One target column from its spec (see standardise_seismic)."""
    if spec is None:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    if isinstance(spec, str):
        return _numeric(frame, spec, target)
    _check_spec(spec, target, targets)
    if "lower" in spec or "upper" in spec:
        lower = _transform(_numeric(frame, spec["lower"], target), spec)
        upper = _transform(_numeric(frame, spec["upper"], target), spec)
        return (upper - lower) / 2.0
    centre = _numeric(frame, spec["column"], target)
    if "minus" in spec or "plus" in spec:
        # By magnitude: some catalogues sign their lower errors (Berger+2020: e_Age < 0).
        lower = _transform(centre - _numeric(frame, spec["minus"], target).abs(), spec)
        upper = _transform(centre + _numeric(frame, spec["plus"], target).abs(), spec)
        return (upper - lower) / 2.0
    value = _transform(centre, spec)
    if "relative_to" in spec:
        value = value * done[spec["relative_to"]]
    return value


def standardise_seismic(
    table_or_frame: Table | pd.DataFrame,
    mapping: Mapping[str, Spec],
    required: Sequence[str] = REQUIRED_SEISMIC,
) -> pd.DataFrame:
    """Turn a catalogue table into the ``seismic.csv`` layout (columns SEISMIC_COLUMNS).

    ``mapping`` maps each target column to a source spec; targets left out are written empty:

    - ``"Mass"``: a source column name (matched exactly, else ignoring case and punctuation);
    - ``null``: no such quantity in this catalogue;
    - ``{column, log10, scale}``: value = (10**x if log10 else x) * scale (e.g. a log age in
      Myr to Gyr: ``{column: LogAge, log10: true, scale: 0.001}``);
    - ``{lower, upper}``: a symmetric error from percentile bounds, (upper - lower) / 2, after
      the same optional transform; ``{column, minus, plus}`` does the same from error columns
      (taken by magnitude, so a lower error stored as a negative number works);
    - ``{column, relative_to: Mass}``: a fractional error times another target column;
    - Phase: ``{column, codes: {source value: 0|1|2}, default: 0}`` (1 RGB, 2 clump, 0 unknown).

    Rows without a KIC number are dropped (and counted in the log). ``required`` lists the
    targets the mapping must give (a local table may lack coordinates or one label).
    """
    frame = table_or_frame.to_pandas() if isinstance(table_or_frame, Table) else table_or_frame
    frame = frame.reset_index(drop=True)
    unknown = [t for t in mapping if t not in SEISMIC_COLUMNS]
    if unknown:
        raise ValueError(
            f"mapping has unknown target column(s) {unknown}; targets: {SEISMIC_COLUMNS}"
        )
    absent = [t for t in required if mapping.get(t) is None]
    if absent:
        raise ValueError(f"mapping gives no source for required column(s) {absent}")
    out = pd.DataFrame(index=frame.index)
    relative = [t for t, s in mapping.items() if isinstance(s, Mapping) and "relative_to" in s]
    for target in [t for t in SEISMIC_COLUMNS if t != "Phase" and t not in relative] + relative:
        out[target] = _value(frame, mapping.get(target), target, out)
    out["Phase"] = _phase(frame, mapping.get("Phase"))
    keep = out["KIC"].notna()
    if not keep.all():
        log.warning("dropping %d row(s) without a KIC number", int((~keep).sum()))
    out = out[keep].astype({"KIC": np.int64})
    return out.loc[:, list(SEISMIC_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------- queries
def is_valid_csv(path: PathLike, columns: Sequence[str]) -> bool:
    """True if ``path`` is a CSV with at least one row and every one of ``columns``."""
    try:
        frame = pd.read_csv(path, nrows=5)
    except (OSError, ValueError, pd.errors.ParserError):
        return False
    return len(frame) > 0 and all(c in frame.columns for c in columns)


def query_vizier(
    catalog: str,
    server: str = DEFAULT_SERVER,
    *,
    filters: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    retries: int = 3,
    backoff: float = 5.0,
) -> Table:
    """All columns and rows of one VizieR table, optionally with VizieR column constraints.

    ``catalog`` names a table (``J/A+A/640/A1/nodup``) or a catalogue holding one table.
    Raises LookupError when nothing matched (unknown table, or constraints matching no row).
    """
    vizier = Vizier(columns=["**"], row_limit=-1, vizier_server=server, timeout=timeout)
    what = f"VizieR {server} {catalog}" + (f" {dict(filters)}" if filters else "")

    def once() -> Any:
        # The async call exposes the HTTP status (5xx is retried); parsing is astroquery's own.
        response = vizier.query_constraints_async(
            catalog=catalog, cache=False, **dict(filters or {})
        )
        check_status(response, what)
        return vizier._parse_result(response)

    tables = call_with_retries(once, what=what, retries=retries, backoff=backoff, timeout=timeout)
    if tables is None:
        raise LookupError(f"{what}: the reply was not a VOTable")
    if len(tables) == 0:
        raise LookupError(f"{what}: no rows (unknown table, or constraints match nothing)")
    names = list(tables.keys())
    if catalog in names:
        return tables[catalog]
    if len(names) == 1:
        return tables[0]
    raise LookupError(f"{what}: several tables {names}; name one of them")


def fetch_seismic(
    catalog: str,
    server: str,
    mapping: Mapping[str, Spec],
    output: PathLike,
    *,
    timeout: float = 300.0,
    retries: int = 3,
    backoff: float = 5.0,
    force: bool = False,
) -> pd.DataFrame:
    """Fetch a seismic catalogue from VizieR and write it as ``seismic.csv`` (cached)."""
    return _fetch_table(
        catalog, server, output, SEISMIC_COLUMNS,
        lambda table: standardise_seismic(table, mapping), "no star with a KIC number",
        timeout=timeout, retries=retries, backoff=backoff, force=force,
    )  # fmt: skip


#: The Kepler Input Catalogue (Brown et al. 2011) on VizieR, and KICs asked per query.
KIC_CATALOG = "V/133/kic"
KIC_BATCH = 500
KIC_CACHE_NAME = "kic_coordinates.csv"
KIC_CACHE_COLUMNS = ("KIC", "RAJ2000", "DEJ2000")


def own_names_mapping(frame: pd.DataFrame) -> dict[str, Spec]:
    """The mapping of a table already in the ``seismic.csv`` names (matched ignoring case and
    punctuation, so ``age`` or ``FeH`` work): each target to its column, absent ones None."""
    by_key = {}
    for col in frame.columns:
        by_key.setdefault(_norm(col), col)
    return {t: by_key.get(_norm(t)) for t in SEISMIC_COLUMNS}


def _degrees(ra: pd.Series, dec: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """RA/Dec in degrees from numbers, or from sexagesimal text (RA in hours) as VizieR may
    send ``RAJ2000``/``DEJ2000``."""
    ra_num = pd.to_numeric(ra, errors="coerce")
    dec_num = pd.to_numeric(dec, errors="coerce")
    if ra_num.notna().all() and dec_num.notna().all():
        return ra_num.to_numpy(float), dec_num.to_numpy(float)
    text = lambda s: [v.decode() if isinstance(v, bytes) else str(v) for v in s]  # noqa: E731
    coords = SkyCoord(text(ra), text(dec), unit=(u.hourangle, u.deg))
    return coords.ra.deg, coords.dec.deg


def kic_coordinates(
    kic: Sequence[int],
    cache: PathLike,
    server: str = DEFAULT_SERVER,
    *,
    timeout: float = 300.0,
    retries: int = 3,
    backoff: float = 5.0,
) -> pd.DataFrame:
    """RAJ2000/DEJ2000 (deg) of KIC numbers from the Kepler Input Catalogue (``V/133/kic``).

    KICs already in the ``cache`` CSV are not asked again; the others are queried in batches
    of KIC_BATCH (a VizieR list constraint ``KIC=a,b,c``) and added to the cache atomically.
    Returns columns KIC_CACHE_COLUMNS for the KICs found (unknown ones are left out).
    """
    wanted = sorted({int(k) for k in kic})
    cached = (
        pd.read_csv(cache)
        if is_valid_csv(cache, KIC_CACHE_COLUMNS)
        else pd.DataFrame(columns=list(KIC_CACHE_COLUMNS))
    )
    cached = cached.astype({"KIC": np.int64})
    missing = sorted(set(wanted) - set(cached["KIC"].tolist()))
    found = [cached]
    for start in range(0, len(missing), KIC_BATCH):
        batch = missing[start : start + KIC_BATCH]
        filters = {"KIC": ",".join(str(k) for k in batch)}
        try:
            table = query_vizier(
                KIC_CATALOG, server, filters=filters,
                timeout=timeout, retries=retries, backoff=backoff,
            ).to_pandas()  # fmt: skip
        except LookupError:  # none of this batch is in the KIC
            continue
        ra, dec = _degrees(
            _column(table, "RAJ2000", "RAJ2000"), _column(table, "DEJ2000", "DEJ2000")
        )
        found.append(
            pd.DataFrame(
                {
                    "KIC": pd.to_numeric(_column(table, "KIC", "KIC")).astype(np.int64),
                    "RAJ2000": ra,
                    "DEJ2000": dec,
                }
            )
        )
    table = pd.concat(found, ignore_index=True).drop_duplicates("KIC").sort_values("KIC")
    table = table.astype({"KIC": np.int64, "RAJ2000": float, "DEJ2000": float})
    if missing:
        write_csv(table, cache)
        log.info("KIC coordinates: %d asked of %s, cached in %s", len(missing), server, cache)
    unknown = sorted(set(wanted) - set(table["KIC"].tolist()))
    if unknown:
        log.warning("%d KIC number(s) not in %s, e.g. %s", len(unknown), KIC_CATALOG, unknown[:5])
    return table[table["KIC"].isin(wanted)].reset_index(drop=True)


def fetch_seismic_file(
    path: PathLike,
    server: str,
    mapping: Mapping[str, Spec] | None,
    output: PathLike,
    *,
    timeout: float = 300.0,
    retries: int = 3,
    backoff: float = 5.0,
    force: bool = False,
) -> pd.DataFrame:
    """Turn a local seismic table (CSV, FITS or VOTable) into ``seismic.csv``, like
    ``fetch_seismic`` does with a VizieR table (same arguments, ``path`` for ``catalog``).

    ``mapping`` as for ``standardise_seismic``; None, or a mapping whose columns the table
    lacks while it has its own ``seismic.csv`` names, uses those names (``own_names_mapping``).
    Needs KIC and at least one of Mass and Age; the other label is written as NaN. Missing
    coordinates come from the KIC (``kic_coordinates``; cache ``kic_coordinates.csv`` beside
    ``output``); stars the KIC does not know keep NaN coordinates (the cross-match counts
    them). ``force`` is accepted for symmetry: the file is always read again (it is local).
    """
    del force
    frame, kind = read_table(path, error=SeismicFormatError)
    own = own_names_mapping(frame)
    usable_own = own["KIC"] is not None and (own["Mass"] is not None or own["Age"] is not None)
    if mapping is None:
        mapping = own
    try:
        out = standardise_seismic(frame, mapping, required=("KIC",))
    except ColumnMappingError as exc:
        if not usable_own or mapping is own:
            raise SeismicFormatError(f"{path}: {exc}") from None
        log.info(
            "%s: the configured mapping does not fit (%s); using the table's own names", path, exc
        )
        mapping = own
        out = standardise_seismic(frame, mapping, required=("KIC",))
    if out["KIC"].duplicated().any():
        dup = out.loc[out["KIC"].duplicated(), "KIC"].head(5).tolist()
        raise SeismicFormatError(f"{path}: duplicated KIC numbers, e.g. {dup}")
    labels = [t for t in ("Mass", "Age") if out[t].notna().any()]
    if not labels:
        raise SeismicFormatError(
            f"{path}: neither Mass nor Age has a value (mapping {dict(mapping)}); the table "
            f"({kind}) has columns {list(frame.columns)}"
        )
    for label in {"Mass", "Age"} - set(labels):
        log.warning("%s has no %s: written as NaN in %s", path, label, output)
    need = out["RAJ2000"].isna() | out["DEJ2000"].isna()
    if need.any():
        coords = kic_coordinates(
            out.loc[need, "KIC"].tolist(), Path(output).with_name(KIC_CACHE_NAME), server,
            timeout=timeout, retries=retries, backoff=backoff,
        ).set_index("KIC")  # fmt: skip
        for col in ("RAJ2000", "DEJ2000"):
            out.loc[need, col] = out.loc[need, "KIC"].map(coords[col]).to_numpy(dtype=float)
    if out.empty:
        raise SeismicFormatError(f"{path}: no star with a KIC number")
    write_csv(out, output)
    log.info("wrote %d stars of %s (%s) to %s", len(out), path, kind, output)
    return out


def _fetch_table(
    catalog: str,
    server: str,
    output: PathLike,
    columns: Sequence[str],
    standardise: Callable[[Table], pd.DataFrame],
    empty: str,
    force: bool,
    **options: Any,
) -> pd.DataFrame:
    """Query one table, standardise it and write it atomically; reuse a valid ``output``."""
    if not force and is_valid_csv(output, columns):
        log.info("%s exists and is valid: no VizieR query", output)
        return pd.read_csv(output)
    frame = standardise(query_vizier(catalog, server, **options))
    if frame.empty:
        raise LookupError(f"VizieR {catalog}: {empty}")
    write_csv(frame, output)
    log.info("wrote %d rows of %s to %s", len(frame), catalog, output)
    return frame


def standardise_isochrones(
    table_or_frame: Table | pd.DataFrame,
    mapping: Mapping[str, Spec],
    flag_column: str | None = None,
) -> pd.DataFrame:
    """Turn an isochrone-age catalogue into ``isochrone_ages.csv`` (ISOCHRONE_COLUMNS).

    ``mapping`` gives ``kic``, ``age_iso`` (Gyr) and ``e_age_iso`` in the spec language of
    ``standardise_seismic``. Rows with a non-empty ``flag_column`` (e.g. Berger+2020's
    ``f_Age`` = "*": uninformative or poorly fitting age) and rows without a KIC number or a
    positive age are dropped; a KIC listed twice keeps its first row.
    """
    frame = table_or_frame.to_pandas() if isinstance(table_or_frame, Table) else table_or_frame
    frame = frame.reset_index(drop=True)
    absent = [t for t in ISOCHRONE_COLUMNS if mapping.get(t) is None]
    unknown = [t for t in mapping if t not in ISOCHRONE_COLUMNS]
    if absent or unknown:
        raise ValueError(
            f"isochrone mapping must give exactly {list(ISOCHRONE_COLUMNS)}; "
            f"missing {absent}, unknown {unknown}"
        )
    out = pd.DataFrame(index=frame.index)
    for target in ISOCHRONE_COLUMNS:
        out[target] = _value(frame, mapping[target], target, out, ISOCHRONE_COLUMNS)
    keep = out["kic"].notna() & (out["age_iso"] > 0)
    if flag_column:
        flagged = _column(frame, flag_column, "flag").map(_code_key) != ""
        log.info("dropping %d row(s) flagged in %s", int((flagged & keep).sum()), flag_column)
        keep &= ~flagged
    out = out[keep].astype({"kic": np.int64}).drop_duplicates("kic")
    return out.reset_index(drop=True)


def fetch_isochrone_ages(
    catalog: str,
    server: str,
    mapping: Mapping[str, Spec],
    output: PathLike,
    *,
    flag_column: str | None = None,
    timeout: float = 300.0,
    retries: int = 3,
    backoff: float = 5.0,
    force: bool = False,
) -> pd.DataFrame:
    """Fetch an isochrone-age catalogue from VizieR as ``isochrone_ages.csv`` (cached)."""
    return _fetch_table(
        catalog, server, output, ISOCHRONE_COLUMNS,
        lambda table: standardise_isochrones(table, mapping, flag_column),
        "no usable isochrone age",
        timeout=timeout, retries=retries, backoff=backoff, force=force,
    )  # fmt: skip


def literature_age(cluster: Mapping[str, Any]) -> tuple[float, float]:
    """(age, error) in Gyr from ``age``/``e_age`` (Gyr) or ``log_age``/``e_log_age`` (log yr)."""
    if "age" in cluster:
        return float(cluster["age"]), float(cluster.get("e_age", np.nan))
    if "log_age" in cluster:
        age = 10.0 ** (float(cluster["log_age"]) - 9.0)
        return age, age * math.log(10.0) * float(cluster.get("e_log_age", np.nan))
    raise ValueError(f"cluster {cluster.get('name')!r}: give age (Gyr) or log_age (log10 yr)")


def vizier_cluster_name(cluster: Mapping[str, Any]) -> str:
    """The catalogue's spelling of the name: ``vizier_name``, else spaces as underscores."""
    return str(cluster.get("vizier_name") or str(cluster["name"]).strip().replace(" ", "_"))


def fetch_cluster_members(
    clusters: Sequence[Mapping[str, Any]],
    output: PathLike,
    *,
    catalog: str = "J/A+A/640/A1/nodup",
    server: str = DEFAULT_SERVER,
    min_probability: float = 0.7,
    cluster_column: str = "Cluster",
    probability_column: str = "proba",
    id_column: str = "GaiaDR2",
    ra_column: str = "RA_ICRS",
    dec_column: str = "DE_ICRS",
    timeout: float = 300.0,
    retries: int = 3,
    backoff: float = 5.0,
    force: bool = False,
) -> pd.DataFrame:
    """Members of each configured cluster with probability >= ``min_probability``, joined with
    the cluster's literature age and [Fe/H] from config, written as ``clusters.csv`` (cached).

    Each cluster entry: ``name``, optional ``vizier_name``, ``age``/``e_age`` (Gyr) or
    ``log_age``/``e_log_age``, ``feh``, ``ref``. One VizieR query per cluster, constrained on
    the server and checked again here.
    """
    if not force and is_valid_csv(output, CLUSTER_COLUMNS):
        log.info("%s exists and is valid: no VizieR query", output)
        return pd.read_csv(output)
    if not clusters:
        raise ValueError("no clusters configured")
    parts = []
    for cluster in clusters:
        name, vname = str(cluster["name"]), vizier_cluster_name(cluster)
        filters = {cluster_column: vname, probability_column: f">={min_probability}"}
        table = query_vizier(
            catalog, server, filters=filters, timeout=timeout, retries=retries, backoff=backoff
        ).to_pandas()
        names = _column(table, cluster_column, "cluster").map(_code_key)
        prob = pd.to_numeric(_column(table, probability_column, "probability"), errors="coerce")
        members = table[(names == vname) & (prob >= min_probability)]
        if members.empty:
            raise LookupError(
                f"VizieR {catalog}: no member of {vname!r} with "
                f"{probability_column} >= {min_probability}"
            )
        age, e_age = literature_age(cluster)
        parts.append(
            pd.DataFrame(
                {
                    "cluster": name,
                    "member_id": _column(members, id_column, "member_id").map(_code_key),
                    "RAJ2000": pd.to_numeric(_column(members, ra_column, "RAJ2000")),
                    "DEJ2000": pd.to_numeric(_column(members, dec_column, "DEJ2000")),
                    "age_lit": age,
                    "e_age_lit": e_age,
                    "feh_lit": float(cluster.get("feh", np.nan)),
                    "age_ref": str(cluster.get("ref", "")),
                }
            )
        )
        log.info(
            "%s: %d members with %s >= %g", name, len(members), probability_column, min_probability
        )
    frame = pd.concat(parts, ignore_index=True).loc[:, list(CLUSTER_COLUMNS)]
    write_csv(frame, output)
    return frame
