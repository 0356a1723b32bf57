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
_LM = "spt/io/lamost.py::"
_SCALED = _LM + "_scaled_image::"
_BITPIX = "BITPIX is one of 8, 16, 32, 64, -32, -64 (_data_bytes refuses others)"
_NONE = "which _read_fast's except turns into None (astropy reads the file) all the same"
_PAD = "Header.tostring() pads to whole 2880-byte blocks, so the padding term is always 0"
_LAZY = (
    "the names (or tables) are collected by iterating the HDUList, which loads every HDU "
    "inside the same try and warning filter as loading them at open does"
)
_FITS = "spt/catalog/fits.py::"
_TG = "spt/catalog/targets.py::"
_MEMORY = (
    "memory bound only: the rows and their order, hence the file, are the same for any "
    "value (test_catalog's streamed catalogue holds for one and for many buckets and chunks)"
)
_BY_NAME = "the frame's columns are read by name only: an extra index column is never read"
_EMPTY_RANGE = "an empty shard's obsid range is never read: _clusters skips shards without rows"
_SYM = "symmetric in its two arguments"
_SP = "spt/prep/spectra.py::"
_LB = "spt/prep/labels.py::"
_SIGN = "the sign of a hit is +1 or -1, never 0"
_SCORE = (
    "the score is 0.0 exactly when there is no hit and the region is None (a hit's "
    "sigma is at least n_sigma > 0)"
)
_ONE_BLOCK = (
    "_stream refuses an empty selection, so at least one block is appended and "
    "the empty array is never made"
)
_DISPLAY = "the progress bar (to stderr) only"
_CHUNKSIZE = "the process pool's map chunksize only: the same results in the same order"
_THREADS = "BLAS threads inside the worker processes: speed only, the same arrays"
_AN = "spt/prep/anomalies.py::"
_OSC = _AN + "detect_oscillation::"
_AFFINE = (
    "an affine change of the abscissa spans the same quadratic polynomials: the QR "
    "basis projects out the same trend"
)
_CLIP = "np.clip(a, lo, hi) is minimum(maximum(a, lo), hi): a and lo play the same part"
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
    _LM + "_ends_after_primary_header::len(header.tostring()) + -len(header.tostring()) % "
    "FITS_BLOCK -> len(header.tostring()) - -len(header.tostring()) % FITS_BLOCK": _PAD,
    _LM + "_ends_after_primary_header::-len(header.tostring()) -> len(header.tostring())": _PAD,
    _LM + "_read_astropy::lazy_load_hdus=False -> lazy_load_hdus=True": _LAZY,
    "spt/io/tables.py::_fits_frame::lazy_load_hdus=False -> lazy_load_hdus=True": _LAZY,
    "spt/io/tables.py::_fits_frame::memmap=False -> memmap=True": "the file is a BytesIO, "
    "which cannot be memory-mapped: astropy reads it into memory either way",
    "spt/io/tables.py::_table_frame::strict=True -> strict=False": "text and mask both have "
    "len(col) items",
    _LM + "_parse_header::pos + FITS_BLOCK -> pos - FITS_BLOCK [1]": "a header block cut "
    "short leaves pos (and the data start) past the end of the file, so _read_fast's "
    "pos != len(raw) returns None all the same (sizes are never negative), or the next pass "
    "raises",
    _LM + "_parse_header::i + 3 -> i + 4": "the key is END only when card bytes 3-7 are "
    "blanks, so the text from byte 3 or from byte 4 is blank alike",
    _SCALED + "out -= np.uint64(1 << bits - 1) -> out += np.uint64(1 << bits - 1)": "adding "
    "or subtracting 2**(bits-1) modulo 2**bits gives the same unsigned integers",
    _LM + "_data_bytes::0 <= naxis <= 999 -> 0 <= naxis <= 1000": "no header can hold the "
    "keyword NAXIS1000 (9 characters), so the order check refuses NAXIS = 1000 anyway",
    "spt/io/tables.py::_votable_frame::warnings.simplefilter('ignore', VOWarning) -> pass": "with "
    "verify='ignore' astropy's VOTable reader issues no VOWarning (vo_warn and warn_or_raise "
    "return early; its vo_warn calls without a config are in the writers)",
    _SCALED + "bitpix > 16 -> bitpix > 17": _BITPIX,
    _SCALED + "bitpix > 0 -> bitpix >= 0": _BITPIX,
    _SCALED + "bitpix > 0 -> bitpix > 1": _BITPIX,
    _SCALED + "np.multiply(out, bscale, out) -> np.multiply(bscale, out, out)": "the product "
    "is commutative and out= fixes its type",
    _LM + "_table_columns::match is None or match.group(2) in 'PQ' -> match is None and "
    "match.group(2) in 'PQ'": "an unmatched TFORM raises AttributeError at match.group, a P or "
    "Q one KeyError at _TFORM_BYTES, " + _NONE,
    _LM + "_table_columns::code not in _TFORM_DTYPE or repeat < 2 -> code not in _TFORM_DTYPE "
    "and repeat < 2": "another type code raises KeyError at _TFORM_DTYPE[code], a repeat of 1 "
    "fails _spectrum's shape check: the fast reader returns None either way",
    _LM + "_table_columns::repeat < 2 -> repeat <= 2": "a COADD column of 2 values fails "
    "_spectrum's shape check (n >= 10): the fast reader returns None either way",
    _LM + "_table_columns::repeat < 2 -> repeat < 3": "as repeat <= 2",
    _LM + "_read_fast::not hdus -> hdus [2]": "the default HDU names ('PRIMARY', '') are read "
    "only to find COADD, COADD_B, COADD_R, which neither is",
    _LM + "_read_fast::all(axes) -> any(axes)": "an image with an empty axis then has no rows "
    "or no pixels: _read_layout_a or _spectrum raises and the fast reader returns None",
    _LM + "_read_fast::'flux' not in rows or 'ivar' not in rows -> 'flux' not in rows and "
    "'ivar' not in rows": "_spectrum's rows['flux'] or rows['ivar'] raises KeyError, " + _NONE,
    _LM + "_primary_header::max(spec.n_pixels - 1, 1) -> max(1, spec.n_pixels - 1)": "max is "
    "symmetric",
    _LM + "spectrum_to_bytes::strict=True -> strict=False": "both tuples have six items",
    _LM + "mask_no_value::np.isclose(values, NO_VALUE, rtol=0, atol=1e-06) -> np.isclose("
    "NO_VALUE, values, rtol=0, atol=1e-06)": "with rtol=0 np.isclose is symmetric",
    _LM + "mask_no_value::np.isclose(values, 99.0, rtol=0, atol=1e-06) -> np.isclose(99.0, "
    "values, rtol=0, atol=1e-06)": "with rtol=0 np.isclose is symmetric",
    # ---------------------------------------------------------------- spt.prep
    _SP + "resample::np.clip(np.searchsorted(x, g, side='right') - 1, 0, len(x) - 2) -> "
    "np.clip(0, np.searchsorted(x, g, side='right') - 1, len(x) - 2)": _CLIP,
    _SP + "resample::np.clip(w, 0.0, 1.0) -> np.clip(0.0, w, 1.0)": _CLIP,
    _SP + "resample::np.clip(w, 0.0, 1.0) -> np.clip(w, 0.0, 2.0)": "w exceeds 1 only beyond "
    "the last native pixel, where inside is False: flux and ivar 0 either way",
    _SP + "resample::ok &= out_ivar > 0 -> ok |= out_ivar > 0": "out_ivar > 0 only where ok "
    "already holds (it is 0 elsewhere by construction)",
    _SP + "write_npz::16 * 2 ** 20 -> 17 * 2 ** 20": "read block size only: the same bytes",
    _SP + "write_npz::2 ** 20 -> 2 * 20 [2]": "read block size only: the same bytes",
    _SP + "write_npz::2 ** 20 -> 2 ** 21 [2]": "read block size only: the same bytes",
    _SP + "check_readable::max(len(report), 1) -> max(1, len(report))": _SYM,
    _SP + "<module>::(1980, 1, 1, 0, 0, 0) -> (1980, 1, 1, 0, 0, 1)": "zip stores seconds in "
    "units of two: second 1 is written as 0",
    _SP + "_MemoryArray.array::np.empty(self.shape, self.dtype) -> np.empty(self.dtype, "
    "self.shape)": _ONE_BLOCK,
    _SP + "preprocess_arrays::(0, grid.size) -> (1, grid.size)": _ONE_BLOCK,
    _SP + "_stream::strict=True -> strict=False": "paths and ids are checked to have the same "
    "length just above",
    _SP + "_stream::not progress -> progress": _DISPLAY,
    _SP + "_stream.collect::bar.update(size) -> pass": _DISPLAY,
    _SP + "preprocess_files::progress=True -> progress=False": _DISPLAY,
    _SP + "preprocess_arrays::progress=False -> progress=True": _DISPLAY,
    _SP + "_stream::workers > 1 -> workers > 2": _CHUNKSIZE,
    _SP + "_stream::max(1, len(chunk) // (4 * workers)) -> max(2, len(chunk) // (4 * "
    "workers))": _CHUNKSIZE,
    _SP + "_stream::4 * workers -> 5 * workers": _CHUNKSIZE,
    _SP + "_mapper::(*initargs, True) -> (*initargs, False)": _THREADS,
    _SP + "_init_worker::threadpool_limits(1) -> pass": _THREADS,
    _SP + "_init_worker::threadpool_limits(1) -> threadpool_limits(2)": _THREADS,
    _SP + "preprocess_one::np.where(ok, cont, 1.0) -> np.where(ok, cont, 2.0)": "safe is read "
    "only where ok (both results are np.where(ok, ...))",
    _SP + "read_npz_rows::min(n_rows, shape[0]) -> min(shape[0], n_rows)": _SYM,
    _SP + "continuum::min(int(cfg['continuum_window_pix']), idx.size) -> min(idx.size, "
    "int(cfg['continuum_window_pix']))": _SYM,
    _AN + "outlier_hits::at[:, None] + _BASE_OFFSETS -> at[:, None] - _BASE_OFFSETS": "the "
    "offsets are symmetric about 0 (-6..-3, 3..6): the same flank pixels",
    _AN + "outlier_hits::strict=True -> strict=False": "one base per peak",
    _AN + "outlier_hits::np.maximum(sigma, 1.4826 * mad) -> np.maximum(1.4826 * mad, sigma)": _SYM,
    _OSC + "np.linspace(-1.0, 1.0, n_win) -> np.linspace(1.0, -1.0, n_win)": _AFFINE,
    _OSC + "-1.0 -> -2.0": _AFFINE,
    _OSC + "np.linspace(-1.0, 1.0, n_win) -> np.linspace(-1.0, 2.0, n_win)": _AFFINE,
    _OSC + "np.clip(resid, -c['clip'] * scale, c['clip'] * scale) -> np.clip(-c['clip'] * "
    "scale, resid, c['clip'] * scale)": _CLIP,
    _OSC + "np.clip(np.searchsorted(lam, grid), 1, lam.size - 1) -> np.clip(1, "
    "np.searchsorted(lam, grid), lam.size - 1)": _CLIP,
    _OSC + "lam.size - 1 -> lam.size + 1": "the grid stops before lam[-1] (np.arange), so "
    "searchsorted never exceeds lam.size - 1 and the upper bound is never used",
    _OSC + "np.minimum(grid - lam[j - 1], lam[j] - grid) -> np.minimum(lam[j] - grid, grid - "
    "lam[j - 1])": _SYM,
    _OSC + "np.maximum(np.sum(resid ** 2, axis=1), 1e-300) -> np.maximum(1e-300, "
    "np.sum(resid ** 2, axis=1))": _SYM,
    _OSC + "max(1, round(c['smooth_aa'] / step)) -> max(round(c['smooth_aa'] / step), 1)": _SYM,
    _OSC + "max(1, round(c['step_aa'] / step)) -> max(round(c['step_aa'] / step), 1)": _SYM,
    _OSC + "np.where(bright, smooth, 1.0) -> np.where(bright, smooth, 2.0)": "the filled "
    "values are where bright is False, and every window holding one is dropped (whole)",
    _AN + "_pixel_edges::min(lo + 1, n - 1) -> min(n - 1, lo + 1)": _SYM,
    _AN + "_pixel_edges::max(hi - 1, 0) -> max(0, hi - 1)": _SYM,
    _AN + "detect_missing::max(best, width) -> max(width, best)": _SYM,
    _AN + "detect_missing::min(hull[0], lo) -> min(lo, hull[0])": _SYM,
    _AN + "detect_missing::max(hull[1], hi) -> max(hi, hull[1])": _SYM,
    _AN + "detect_missing::np.where(finite, flux, 0) -> np.where(finite, flux, 1)": "the "
    "filled pixels are the non-finite ones, empty anyway (~finite)",
    _AN + "detect_missing::float(np.median(np.abs(flux[finite]))) if finite.any() else 0.0 -> "
    "float(np.median(np.abs(flux[finite]))) if finite.any() else 1.0": "with no finite flux "
    "every pixel is empty anyway (~finite)",
    _AN + "detect_negative::min(region[0], lo) -> min(lo, region[0])": _SYM,
    _AN + "detect_negative::max(region[1], hi) -> max(hi, region[1])": _SYM,
    _AN + "detect_negative::sig > best -> sig >= best": "an equal significance leaves best "
    "the same",
    _AN + "detect_negative::med < 0 -> med <= 0": "usable pixels have non-zero flux and the "
    "odd-sized median filter returns one of them: never exactly 0",
    _AN + "_local_contrast::max(left.min(), right.min()) -> max(right.min(), left.min())": _SYM,
    _AN + "_local_contrast::min(left.max(), right.max()) -> min(right.max(), left.max())": _SYM,
    _AN + "_local_contrast::sign > 0 -> sign >= 0 [1]": _SIGN,
    _AN + "_local_contrast::sign > 0 -> sign >= 0 [2]": _SIGN,
    _AN + "shared_by_template::hit[1] > 0 -> hit[1] >= 0": _SIGN,
    _AN + "apply_template::r[1] -> r[2] [1]": _SCORE,
    _AN + "apply_template::r[1] -> r[2] [3]": _SCORE,
    _AN + "apply_template::strict=True -> strict=False": "one flag per anomaly type",
    "spt/prep/crossmatch.py::crossmatch::drop=True -> drop=False [2]": "the LAMOST rows are "
    "taken by position and only the _LAMOST_KEEP columns are kept: an index column is never "
    "read",
    "spt/prep/features.py::_strata::-1 -> -2 [1]": "numpy reads any negative size in reshape "
    "as the one unknown dimension",
    "spt/prep/features.py::_strata::break -> continue": "with no finite row the ids stay 0 "
    "and are all set to -1 below, however many columns follow",
    "spt/prep/features.py::_strata::np.linspace(0, 1, n_bins + 1) -> np.linspace(1, 0, n_bins "
    "+ 1)": "np.unique sorts the edges: the same bins",
    "spt/prep/features.py::_strata::np.where(finite, col, 0.0) -> np.where(finite, col, "
    "1.0)": "the filled rows are the non-finite ones, set to -1 below",
    "spt/prep/features.py::split_indices::np.minimum(np.floor(cum * members.size + "
    "rng.random()).astype(np.int64), members.size) -> np.minimum(members.size, "
    "np.floor(cum * members.size + rng.random()).astype(np.int64))": _SYM,
    "spt/prep/features.py::_weights::ivar > 0 -> ivar >= 0": "an ivar of 0 gives the weight "
    "0 either way",
    "spt/prep/features.py::_weights::np.median(row[row > 0]) if (row > 0).any() else 1.0 -> "
    "np.median(row[row > 0]) if (row > 0).any() else 2.0": "a row without a positive weight "
    "is all zeros, whatever it is divided by",
    "spt/prep/features.py::weighted_projection::X.shape[0] -> X.shape[1]": "the general path "
    "gives the same (0, k) float32 array for no spectra (checked: weights, normal matrices "
    "and solve all accept 0 rows)",
    "spt/prep/features.py::_normal_matrices::chunk=1024 -> chunk=1025": "chunk size only "
    "bounds memory: the rows are independent",
    "spt/prep/features.py::projected_noise::draws < 1 or len(ivar) == 0 -> draws < 1 and "
    "len(ivar) == 0": "with no draws or no spectra the loop writes nothing into the zeros",
    "spt/prep/features.py::projected_noise::np.where(good, ivar, 1.0) -> np.where(good, ivar, "
    "2.0)": "the filled values are where good is False, which the outer np.where sets to 0",
    "spt/prep/features.py::projected_noise::np.where(good, 1.0 / np.sqrt(np.where(good, ivar, "
    "1.0)), 0.0) -> np.where(good, 1.0 / np.sqrt(np.where(good, ivar, 1.0)), 1.0)": "masked "
    "pixels have weight 0 in both projections, so their noise is multiplied by 0",
    _SP + "check_spectrum::np.all(np.isfinite(wave)) -> np.any(np.isfinite(wave))": "a NaN "
    "wavelength also makes np.diff(wave) > 0 False, which the same test requires",
    _LB + "fit_age_mass_relation::max(sigma, 1e-12) -> max(1e-12, sigma)": _SYM,
    _LB + "flag_label_outliers::max(sigma, 1e-12) -> max(1e-12, sigma)": _SYM,
    _LB + "fit_age_mass_relation::np.array_equal(new, inlier) -> np.array_equal(inlier, new)": _SYM,
    _LB + "fit_age_mass_relation::break -> continue": "once the inliers repeat, every further "
    "pass refits the same stars and gets the same coefficients, residuals and inliers",
    _LB + "fit_age_mass_relation::np.where(finite[:, None], X, 0.0) -> np.where(finite[:, "
    "None], X, 1.0)": "the rows it fills are the non-finite ones, whose residual is set to NaN "
    "by the np.where around it",
    _LB + "flag_label_outliers::strict=True -> strict=False": "each row has one value per "
    "LABEL_FLAGS column",
    "spt/prep/select.py::rejection_table::strict=True -> strict=False [1]": "two columns of one "
    "frame",
    "spt/prep/select.py::rejection_table::strict=True -> strict=False [2]": "two columns of one "
    "frame",
    "spt/prep/select.py::rejection_table::ignore_index=True -> ignore_index=False": "the index "
    "is never read (columns are set from arrays and lists) and is reset at the end",
    "spt/prep/features.py::build_features::strict=True -> strict=False": "three splits, three "
    "parts",
    "spt/prep/features.py::fit_pca::min(n, p) -> min(p, n)": _SYM,
    _SP + "_stream::max(1, len(chunk) // (4 * workers)) -> max(len(chunk) // (4 * workers), "
    "1)": _SYM,
    # ---------------------------------------------------------------- spt.catalog
    _FITS + "<module>::STAR_MERGE_ROWS = 100000 -> STAR_MERGE_ROWS = 100001": _MEMORY,
    _FITS + "<module>::STAR_CHUNK_MIN = 500 -> STAR_CHUNK_MIN = 501": _MEMORY,
    _FITS + "<module>::SPILL_ROWS = 200000 -> SPILL_ROWS = 200001": _MEMORY,
    _FITS + "merge_fields::strict=True -> strict=False": "the two lists have the same names, "
    "checked just above, so the same length",
    _FITS + "merge_fields::max(x.width, y.width) -> max(y.width, x.width)": _SYM,
    _FITS + "table_header::np.zeros(0, dtype=f.dtype) -> np.zeros(1, dtype=f.dtype)": "only "
    "the header and record type are kept, and NAXIS2 is set to n_rows after (checked: the "
    "header of a 1-row table is then the same bytes)",
    _FITS + "write_tables::Path(path).parent.mkdir(parents=True, exist_ok=True) -> pass": "the "
    "atomic_path just after makes the folder, parents too",
    _FITS + "write_tables::parents=True -> parents=False": "as the dropped mkdir: atomic_path "
    "has made the folders before",
    _FITS + "gather::ignore_index=True -> ignore_index=False": "the frame is sorted by obsid "
    "and its index reset right after",
    _FITS + "_scan.flush::ignore_index=True -> ignore_index=False": "rows are picked by a "
    "boolean array and their index is reset after",
    _FITS + "_scan.flush::drop=True -> drop=False": _BY_NAME + " (mark_primary, combine_spectra)",
    _FITS + "_scan::(0, -1) -> (1, -1)": _EMPTY_RANGE,
    _FITS + "_scan::-1 -> 1 [1]": _EMPTY_RANGE,
    _FITS + "_scan::-1 -> -2 [1]": _EMPTY_RANGE,
    _FITS + "_scan:::0 -> :1": "the rows' frame is used only when no bucket has a star, so "
    "every row is unusable (flagged or unpredicted), and one of them alone makes no star either",
    _FITS + "_stars::max(STAR_CHUNK_MIN, STAR_MERGE_ROWS // n_buckets) -> max(STAR_MERGE_ROWS "
    "// n_buckets, STAR_CHUNK_MIN)": _SYM,
    _FITS + "_stars::merge_fields(fields, here, 'STARS') -> merge_fields(here, fields, "
    "'STARS')": "both are combine_spectra's columns (same names): kinds and widths merge "
    "symmetrically",
    _FITS + "_stars::np.zeros(0, np.int64) -> np.zeros(1, np.int64)": "the list is empty only "
    "when there is no row at all, and then no catalogue row looks it up",
    _FITS + "_clusters::max(end, shard.hi) -> max(shard.hi, end)": _SYM,
    _FITS + "_catalog_blocks::ignore_index=True -> ignore_index=False": "the rows are sorted "
    "and their index reset right after",
    _FITS + "_catalog_blocks::drop=True -> drop=False": _BY_NAME + " (records writes the "
    "fields' columns)",
    _FITS + "_catalog_blocks::f.name != 'primary' -> f.name == 'primary'": "records() converts "
    "every column to its field's dtype anyway (float64 for kind f)",
    _FITS + "_Rows.__init__::self._at = 0 -> self._at = 1": "never read before take() sets it "
    "to 0 with the first chunk",
    _FITS + "_Rows.take::min(self._at + n, len(self._head)) -> min(len(self._head), self._at "
    "+ n)": _SYM,
    _FITS + "_merged_stars::-1 -> -2": "the end marker only has to be a negative bucket",
    _FITS + "_merged_stars::ignore_index=True -> ignore_index=False": "the block is written by "
    "column (records); its index is never read",
    _FITS + "write_catalog::max(1, math.ceil(total / bucket_bytes)) -> max(math.ceil(total / "
    "bucket_bytes), 1)": _SYM,
    _FITS + "file_md5::1 << 20 -> 2 << 20": "read size only: the digest of the same bytes",
    _FITS + "file_md5::1 << 20 -> 1 << 21": "read size only: the digest of the same bytes",
    "spt/catalog/predict.py::predict_targets::drop=True -> drop=False": _BY_NAME,
    "spt/catalog/predict.py::_predict_chunk::strict=True -> strict=False": "the report has a "
    "row per target, and the default reasons as many",
    "spt/catalog/predict.py::header_targets::column != 'designation' -> column == "
    "'designation'": "designation is set again two lines below, and ra, dec, snrg go through "
    "pd.to_numeric, which reads None as NaN",
    "spt/catalog/stars.py::star_buckets::n_buckets <= 1 -> n_buckets < 1": "a hash modulo 1 is "
    "0 for every row, as the early return's zeros",
    "spt/catalog/stars.py::combine_spectra::sort=True -> sort=False [1]": "the rows are sorted "
    "by star just above (and head() does not sort)",
    "spt/catalog/stars.py::combine_spectra::sort=True -> sort=False [2]": "reindexed to "
    "first.index right after",
    "spt/catalog/stars.py::combine_spectra::sort=True -> sort=False [3]": "reindexed to "
    "first.index right after",
    "spt/catalog/stars.py::combine_spectra::np.maximum(rel ** 2 - floor ** 2, _MIN_VARIANCE) -> "
    "np.maximum(_MIN_VARIANCE, rel ** 2 - floor ** 2)": _SYM + " (NaN from either side)",
    _TG + "<module>::CHUNK_ROWS = 200000 -> CHUNK_ROWS = 200001": "chunk size only bounds "
    "memory: the same giants for any chunk_rows (tested with 2 and 100)",
    _TG + "_csv_kind::gzipped = False -> gzipped = True": "returned only beside is_csv False, "
    "when the flag is not used",
    _TG + "_giants_from_csv::drop=True -> drop=False": "_with_columns keeps only TARGET_COLUMNS",
    _TG + "shard_size_for::max(shard_size, -(-n_targets // max_shards)) -> max(-(-n_targets "
    "// max_shards), shard_size)": _SYM,
    _TG + "shard_names::max(1, -(-n_targets // shard_size)) -> max(-(-n_targets // "
    "shard_size), 1)": _SYM,
    _TG + "write_shards::out.mkdir(parents=True, exist_ok=True) -> pass": "write_csv's "
    "atomic_path makes the folder (parents too) for the first shard, and there is always one; "
    "the glob of a missing folder finds nothing",
    _ISO + "np.hypot(star['age_err'].to_numpy(float) / age, star['e_age_iso'] / iso_age) -> "
    "np.hypot(star['e_age_iso'] / iso_age, star['age_err'].to_numpy(float) / age)": "hypot is "
    "symmetric",
}
