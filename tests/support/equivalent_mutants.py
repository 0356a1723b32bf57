"""Equivalent mutants of ``benchmarks/mutation.py``: no input can tell them from the original.

Each key is a mutant's ``key`` as the script prints it (path under src/, enclosing function,
the code before and after; no line number); each value is the one-line reason it cannot
change any output. Keep this list short and honest: a mutant that merely no test catches
belongs in a test, not here.
"""

from __future__ import annotations

_DL = "spt/sources/download.py::"
_CL = "spt/validation/clusters.py::"
_CMP = "spt/validation/compare.py::paired_bootstrap::"
_EV = "spt/validation/evaluate.py::"
_ISO = "spt/validation/isochrones.py::compare_isochrone_ages::"
_CHUNK = (
    "chunk size only bounds memory: numpy's Generator.integers gives the same indices "
    "in one call or in pieces of any size (checked for odd and even star counts)"
)
_INDEX = "reset_index keeps the old index as a column that is never read (columns by name)"

EQUIVALENT: dict[str, str] = {
    # ---------------------------------------------------------------- spt.sources.download
    _DL + "<module>::1 << 16 -> 2 << 16": "read size only: read1() returns what has arrived, "
    "at most this many bytes; the bytes written and every check on them are the same",
    _DL + "<module>::1 << 16 -> 1 << 17": "read size only (as 2 << 16)",
    _DL + "_RedactFilter.__init__::super().__init__() -> pass": "logging.Filter.__init__ only "
    "sets name/nlen, read by the base class's filter(), which ours overrides",
    _DL + "backoff_delay::max(delay, retry_after) -> max(retry_after, delay)": "max of two "
    "floats is symmetric (Retry-After is a parsed decimal, never NaN)",
    _DL + "backoff_delay::min(delay, cap) -> min(cap, delay)": "min of two numbers is "
    "symmetric (neither is NaN: back-off and cap are checked numbers)",
    _DL + "call_with_retries::attempts + 1 -> attempts + 2": "the extra iteration is never "
    "reached: attempt == attempts always returns or raises",
    _DL + "_Fetcher.run::attempts + 1 -> attempts + 2": "the extra iteration is never "
    "reached: attempt == attempts always returns",
    _DL + "_Fetcher.close::self._sessions.clear() -> pass": "close() runs once, in "
    "download_many's finally, and the fetcher is dropped right after",
    _DL + "_Fetcher._attempt::('wb', False, 0) -> ('wb', False, 1)": "offset is not read "
    "after this assignment",
    _DL + "download_many::refresh=False -> refresh=True": "display timing only: the postfix "
    "is drawn now instead of at the next update; close() draws the same final bar",
    # ---------------------------------------------------------------- spt.validation
    _CL + "match_members::drop=True -> drop=False [1]": _INDEX,
    _CL + "match_members::drop=True -> drop=False [2]": _INDEX,
    _CL + "match_members::drop=True -> drop=False [3]": _INDEX,
    _CL + "match_members::i_mem_all.size == 0 or i_cat_all.size == 0 -> i_mem_all.size == 0 "
    "and i_cat_all.size == 0": "search_around_sky of an empty coordinate set finds no pair, "
    "and the i_mem.size == 0 branch returns the same empty table",
    _CL + "summarise_clusters::math.hypot(stats['sem'], e_ref) -> math.hypot(e_ref, "
    "stats['sem'])": "hypot is symmetric",
    "spt/validation/compare.py::replicate_seed:::4 -> :5": "little-endian: a fifth byte only "
    "sets bits above the 31 that the mask keeps",
    _CMP + "max(1, 2000000 // n) -> min(1, 2000000 // n)": _CHUNK,
    _CMP + "max(1, 2000000 // n) -> max(2000000 // n, 1)": "max is symmetric",
    _CMP + "max(1, 2000000 // n) -> max(2, 2000000 // n)": _CHUNK,
    _CMP + "2000000 // n -> 2000001 // n": _CHUNK,
    _CMP + "min(n_boot, start + chunk) -> min(start + chunk, n_boot)": "min is symmetric",
    _EV + "calibration::np.hypot(pred_err, label_err) -> np.hypot(label_err, pred_err)": "hypot "
    "is symmetric",
    _EV + "_reference::np.hypot(sigma, err) -> np.hypot(err, sigma)": "hypot is symmetric",
    _EV + "_quantile_groups::-1 -> -2": "the marker of stars of unknown value only has to "
    "differ from every group number 0..n-1; -2 does too",
    _ISO + "drop=True -> drop=False": _INDEX,
    # ---------------------------------------------------------------- spt.io
    "spt/io/manifest.py::folder_manifest::break -> continue": "no file name ends with two of "
    ".fits.gz, .fits, .fit.gz, .fit, so no later suffix matches after the first",
    "spt/io/manifest.py::paths_for::strict=True -> strict=False": "both sequences are columns "
    "of one frame: always the same length",
    _ISO + "np.hypot(star['age_err'].to_numpy(float) / age, star['e_age_iso'] / iso_age) -> "
    "np.hypot(star['e_age_iso'] / iso_age, star['age_err'].to_numpy(float) / age)": "hypot is "
    "symmetric",
}
