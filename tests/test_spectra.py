"""Spectral preprocessing: grid, masking, resampling, normalisation, bad inputs, streamed npz."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spt.io.lamost import LamostSpectrum, spectrum_path, write_spectrum
from spt.prep.spectra import (
    DEFAULTS,
    RawArray,
    SpectraMissingError,
    SpectrumProblem,
    check_readable,
    common_grid,
    load_spectra,
    merge_config,
    preprocess_arrays,
    preprocess_files,
    preprocess_one,
    read_npz_rows,
    template_from_npz,
    write_npz,
)
from tests.support.spectra import giant

LAMOST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lamost"
GRID = common_grid()


def flat(n: int = 3900, coeff0: float = 3.5682, level: float = 1000.0, snr: float = 1e4):
    """A flat, almost noiseless spectrum (for exact checks of the resampling)."""
    wave = 10 ** (coeff0 + 1e-4 * np.arange(n))
    flux = level * (1 + np.random.default_rng(n).standard_normal(n) / snr)
    ivar = np.full(n, (snr / level) ** 2, dtype=np.float32)
    return wave, flux, ivar


def spectrum(wave, flux, ivar, andmask=None, header=None, obsid=1) -> LamostSpectrum:
    n = len(wave)
    andmask = np.zeros(n, dtype=np.int32) if andmask is None else andmask
    return LamostSpectrum(
        obsid,
        wave,
        np.asarray(flux, dtype=np.float32),
        np.asarray(ivar, dtype=np.float32),
        andmask,
        andmask.copy(),
        header or {"OBSID": obsid},
    )


# --------------------------------------------------------------------------- grid
def test_common_grid():
    assert GRID[0] == pytest.approx(3850.0)
    assert GRID[-1] <= 8900.0 and GRID[-1] > 8898.0
    steps = np.diff(np.log10(GRID))
    assert np.allclose(steps, 1e-4, rtol=0, atol=1e-12)
    assert len(GRID) == 3640
    assert len(common_grid(4000, 5000, 1e-3)) == 97
    with pytest.raises(ValueError, match="wave_min"):
        common_grid(5000, 4000)
    with pytest.raises(ValueError, match="log_step"):
        common_grid(4000, 5000, 0)


def test_merge_config_rejects_typos():
    assert merge_config({"rest_frame": True})["rest_frame"] is True
    with pytest.raises(KeyError, match="wave_mni"):
        merge_config({"wave_mni": 4000})


# --------------------------------------------------------------------------- resampling
def test_resampling_conserves_line_position_and_depth():
    wave, flux, ivar = flat(coeff0=3.56824)  # native pixels offset by 0.4 pixel from the grid
    centre, sigma, depth = 6000.37, 2.6, 0.5  # a resolved line, sigma ~ 2 pixels
    flux = flux * (1 - depth * np.exp(-0.5 * ((wave - centre) / sigma) ** 2))
    norm, _, info = preprocess_one(spectrum(wave, flux, ivar), GRID)
    sel = np.abs(GRID - centre) < 15
    absorbed = 1 - norm[sel]
    fitted_centre = np.sum(GRID[sel] * absorbed) / np.sum(absorbed)
    assert fitted_centre == pytest.approx(centre, abs=0.05)
    truth = depth * np.exp(-0.5 * ((GRID[sel] - centre) / sigma) ** 2)
    assert np.abs(absorbed - truth).max() < 0.015  # linear interpolation of a 2-pixel line
    assert absorbed.max() == pytest.approx(depth, rel=0.04)
    ew_grid = np.trapezoid(absorbed, GRID[sel])
    assert ew_grid == pytest.approx(depth * sigma * np.sqrt(2 * np.pi), rel=0.01)
    assert info["coverage"] == 1.0 and info["z_applied"] == 0.0


def test_masked_pixels_do_not_leak():
    wave, flux, ivar = flat(coeff0=3.56824)
    andmask = np.zeros(len(wave), dtype=np.int32)
    k = int(np.searchsorted(wave, 6000.0))
    flux[k] = 1e7  # a cosmic ray the pipeline masked
    andmask[k] = 1 << 23
    flux[k + 50] = -1e7  # and a pixel with no inverse variance
    ivar[k + 50] = 0
    norm, nivar, _ = preprocess_one(spectrum(wave, flux, ivar, andmask), GRID)
    assert np.all(np.abs(norm - 1) < 1e-3)  # no trace of either value anywhere
    bad = np.flatnonzero(nivar == 0)
    distance = np.min([np.abs(GRID[bad] - wave[j]) for j in (k, k + 50)], axis=0)
    assert len(bad) == 4  # each bad native pixel masks the two grid pixels it touches
    assert distance.max() < 1.4  # one grid pixel at 6000 A
    assert np.all(norm[bad] == DEFAULTS["fill_value"])


def test_uncovered_and_zero_padded_pixels_are_missing():
    wave, flux, ivar = flat(n=3300, coeff0=np.log10(3950.0))  # 3950-8455 A
    flux[-25:] = 0.0  # LAMOST's zero padding, with a positive ivar
    norm, nivar, info = preprocess_one(spectrum(wave, flux, ivar), GRID)
    assert np.all(nivar[GRID < 3950] == 0) and np.all(norm[GRID < 3950] == 1.0)
    assert np.all(nivar[(GRID > 3951) & (GRID < wave[-27])] > 0)
    assert np.all(nivar[GRID > wave[-26]] == 0)
    assert info["wave_lo"] == pytest.approx(3950.0) and info["wave_hi"] == pytest.approx(wave[-26])
    assert 0.5 < info["coverage"] < 1.0


def test_normalisation_is_near_one_and_independent_of_snr():
    means = []
    for snr in (10.0, 200.0):
        norm = np.mean([preprocess_one(giant(s, snr=snr, masked=0), GRID)[0] for s in range(12)], 0)
        red = (GRID > 6000) & (GRID < 8800)
        assert np.median(norm[red]) == pytest.approx(1.0, abs=0.02)
        means.append(norm)
    for lo, hi in ((4200, 5000), (5000, 6500), (6500, 8800)):
        sel = (GRID > lo) & (GRID < hi)
        assert abs(np.median(means[0][sel]) - np.median(means[1][sel])) < 0.01


def test_normalised_ivar_scales_with_the_continuum():
    wave, flux, ivar = flat(level=250.0, snr=50.0)
    _, nivar, _ = preprocess_one(spectrum(wave, flux, ivar), GRID)
    assert np.median(nivar) == pytest.approx(50.0**2, rel=0.01)  # S/N 50 -> sigma 0.02


def test_rest_frame_shift_only_when_asked_and_plausible():
    wave, flux, ivar = flat()
    z = 1e-3
    flux = flux * (1 - 0.5 * np.exp(-0.5 * ((wave - 6000 * (1 + z)) / 2.5) ** 2))
    spec = spectrum(wave, flux, ivar, header={"OBSID": 1, "Z": z})

    def centre(norm):
        sel = np.abs(GRID - 6003) < 20
        return np.sum(GRID[sel] * (1 - norm[sel])) / np.sum(1 - norm[sel])

    assert centre(preprocess_one(spec, GRID)[0]) == pytest.approx(6006.0, abs=0.05)
    norm, _, info = preprocess_one(spec, GRID, {"rest_frame": True})
    assert centre(norm) == pytest.approx(6000.0, abs=0.05) and info["z_applied"] == z
    failed = spectrum(wave, flux, ivar, header={"OBSID": 1, "Z": -9999.0})
    assert preprocess_one(failed, GRID, {"rest_frame": True})[2]["z_applied"] == 0.0


# --------------------------------------------------------------------------- bad inputs
BAD_CASES = {
    "all-NaN": lambda w, f, v: (w, np.full_like(f, np.nan), v),
    "non-finite": lambda w, f, v: (w, np.where(np.arange(len(f)) == 7, np.inf, f), v),
    "zero variance: no pixel": lambda w, f, v: (w, f, np.zeros_like(v)),
    "zero variance: flux is constant": lambda w, f, v: (w, np.full_like(f, 3.0), v),
    "wrong length": lambda w, f, v: (w[:100], f[:100], v[:100]),
    "insufficient coverage": lambda w, f, v: (w, np.where(w < 7000, 0.0, f), v),
}


@pytest.mark.parametrize("reason", list(BAD_CASES))
def test_bad_spectra_raise_a_reason(reason):
    spec = giant(3)
    wave, flux, ivar = BAD_CASES[reason](spec.wavelength, spec.flux.astype(float), spec.ivar)
    with pytest.raises(SpectrumProblem, match=reason.split(":")[0]) as err:
        preprocess_one(spectrum(wave, flux, ivar), GRID)
    assert reason.split(": ")[-1] in str(err.value) or reason == "wrong length"


def write_survey(tmp_path: Path, n_good: int = 6) -> tuple[list[Path], list[int], dict[int, str]]:
    """Good spectra plus one file of each kind of problem; returns paths, ids, expected reasons."""
    spectra_dir = tmp_path / "spectra"
    ids, expected = [], {}
    for i in range(n_good):
        spec = giant(100 + i, snr=30 + 10 * i)
        write_spectrum(spectrum_path(spectra_dir, spec.obsid), spec, layout="AB"[i % 2])
        ids.append(spec.obsid)
    base = giant(200)
    for j, (reason, make) in enumerate(BAD_CASES.items()):
        obsid = 300 + j
        wave, flux, ivar = make(base.wavelength, base.flux.astype(float), base.ivar)
        write_spectrum(spectrum_path(spectra_dir, obsid), spectrum(wave, flux, ivar, obsid=obsid))
        ids.append(obsid)
        expected[obsid] = reason.split(":")[0]
    garbage = spectrum_path(spectra_dir, 400)
    garbage.write_bytes(gzip.compress(b"SIMPLE  =    T" + b"\0" * 100))
    good = spectrum_path(spectra_dir, ids[0]).read_bytes()
    truncated = spectrum_path(spectra_dir, 401)
    truncated.write_bytes(good[: len(good) // 2])
    ids += [400, 401, 402]  # 402 has no file at all
    expected |= {400: "unreadable", 401: "unreadable", 402: "unreadable"}
    return [spectrum_path(spectra_dir, i) for i in ids], ids, expected


def test_preprocess_files_flags_problems_and_keeps_order(tmp_path):
    paths, ids, expected = write_survey(tmp_path)
    out = tmp_path / "spectra.npz"
    report = preprocess_files(paths, ids, GRID, workers=1, chunk_size=4, out_path=out)
    assert report["obsid"].tolist() == ids
    for row in report.itertuples():
        if row.obsid in expected:
            assert not row.ok and row.problem.startswith(expected[row.obsid]), row
        else:
            assert row.ok and row.problem == "" and row.coverage > 0.97
    data = load_spectra(out)
    assert data["flux"].dtype == np.float32 and data["ivar"].dtype == np.float32
    assert data["wavelength"].dtype == np.float64 and data["obsid"].dtype == np.int64
    assert data["flux"].shape == data["ivar"].shape == (len(ids), len(GRID))
    assert data["obsid"].tolist() == ids
    ok = report["ok"].to_numpy()
    assert np.isnan(data["flux"][~ok]).all() and (data["ivar"][~ok] == 0).all()
    assert np.isfinite(data["flux"][ok]).all()
    single = preprocess_one(giant(100, snr=30), GRID)[0]
    assert np.array_equal(data["flux"][0], single)


def test_preprocess_files_is_reproducible_across_workers_and_chunks(tmp_path):
    paths, ids, _ = write_survey(tmp_path, n_good=4)
    outs = []
    for k, (workers, chunk) in enumerate([(1, 100), (2, 3), (2, 100)]):
        out = tmp_path / f"s{k}.npz"
        report = preprocess_files(paths, ids, GRID, None, workers, chunk, out, anomaly_cfg={})
        outs.append(out.read_bytes())
        assert {"oscillation", "missing", "outlier", "negative", "reasons"} <= set(report.columns)
    assert outs[0] == outs[1] == outs[2]
    assert not list(tmp_path.glob(".s*"))  # no temporary files left behind


def test_preprocess_files_runs_the_detectors(tmp_path):
    spectra_dir = tmp_path / "spectra"
    ids = []
    for seed in range(8):
        spec = giant(500 + seed, snr=40)
        if seed == 3:
            sel = (spec.wavelength > 6000) & (spec.wavelength < 6200)
            spec.flux[sel], spec.ivar[sel] = 0, 0
        write_spectrum(spectrum_path(spectra_dir, spec.obsid), spec)
        ids.append(spec.obsid)
    paths = [spectrum_path(spectra_dir, i) for i in ids]
    report = preprocess_files(paths, ids, GRID, out_path=tmp_path / "s.npz", anomaly_cfg={})
    assert report.loc[report["missing"], "obsid"].tolist() == [503]
    assert report.loc[3, "reasons"] == "missing values"
    assert not report[["oscillation", "outlier", "negative"]].any().any()


def test_small_batches_use_a_given_template(tmp_path):
    # Every spectrum has a saturated, box-like line at 6200 A: an outlier in each of them ...
    spectra_dir = tmp_path / "spectra"
    ids = []
    for seed in range(6):
        spec = giant(600 + seed, snr=80)
        i = int(np.searchsorted(spec.wavelength, 6200.0))
        spec.flux[i : i + 2] *= 0.1
        write_spectrum(spectrum_path(spectra_dir, spec.obsid), spec)
        ids.append(spec.obsid)
    paths = [spectrum_path(spectra_dir, i) for i in ids]
    out = tmp_path / "s.npz"
    # ... six spectra are too few for a population template of their own (min 50) ...
    alone = preprocess_files(paths, ids, GRID, out_path=out, anomaly_cfg={}, progress=False)
    assert alone["outlier"].all()
    # ... but the template of a population that has the line (here: these spectra) vetoes it.
    template = template_from_npz(out)
    with np.load(out) as data:
        usable = np.where(data["ivar"] > 0, data["flux"], np.nan)
        assert np.allclose(template[1], np.nanmedian(usable, axis=0), atol=1e-6)
        assert np.array_equal(read_npz_rows(out, "flux", 2), data["flux"][:2])
    again = preprocess_files(
        paths, ids, GRID, out_path=out, anomaly_cfg={}, progress=False, template=template
    )
    assert not again["outlier"].any()
    assert (again["reasons"] == "").all()


def test_preprocess_files_rejects_empty_and_mismatched_input(tmp_path):
    with pytest.raises(ValueError, match="no spectra"):
        preprocess_files([], [], GRID, out_path=tmp_path / "s.npz")
    with pytest.raises(ValueError, match="ids"):
        preprocess_files([tmp_path / "a"], [1, 2], GRID, out_path=tmp_path / "s.npz")


def test_real_lamost_files_preprocess():
    files = sorted(LAMOST.glob("*.fits.gz")) if LAMOST.is_dir() else []
    if not files:
        pytest.skip(f"real LAMOST files not available under {LAMOST}")
    from spt.io.lamost import read_spectrum

    for path in files:
        spec = read_spectrum(path)
        norm, nivar, info = preprocess_one(spec, GRID)
        good = nivar > 0
        assert info["coverage"] > (0.7 if "sp01-092" in path.name else 0.97), path.name
        assert np.median(norm[good]) == pytest.approx(1.0, abs=0.05), path.name
        assert np.isfinite(norm).all() and np.all(nivar >= 0)


# --------------------------------------------------------------------------- npz writing
def test_write_npz_streams_and_is_byte_reproducible(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.standard_normal((1500, 3001)).astype(np.float32)  # 18 MB: two copy blocks
    raw = RawArray(tmp_path / "big.raw", np.float32, big.shape)
    for block in np.array_split(big, 7):
        raw.append(block)
    raw.close()
    arrays = {"flux": raw, "obsid": np.arange(1500, dtype=np.int64), "w": np.linspace(0, 1, 5)}
    write_npz(tmp_path / "a.npz", arrays)
    write_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as data:
        assert np.array_equal(data["flux"], big) and data["obsid"][-1] == 1499
        assert sorted(data.files) == ["flux", "obsid", "w"]
    bad = RawArray(tmp_path / "short.raw", np.float32, (3, 3))
    bad.append(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="expected"):
        bad.close()


def test_report_frame_types(tmp_path):
    paths, ids, _ = write_survey(tmp_path, n_good=2)
    report = preprocess_files(paths, ids, GRID, out_path=tmp_path / "s.npz", progress=False)
    assert isinstance(report, pd.DataFrame)
    assert report["ok"].dtype == bool
    assert set(report.columns) >= {"obsid", "ok", "problem", "coverage", "snr_median"}


def test_arrays_in_memory_equal_the_written_file(tmp_path: Path) -> None:
    """preprocess_arrays returns exactly what preprocess_files writes, report included; an
    empty path (a spectrum the manifest lacks) gets its row and the reason."""
    paths = []
    for seed in range(3):
        spec = giant(seed)
        spec.obsid = 100 + seed
        paths.append(tmp_path / f"{spec.obsid}.fits")
        write_spectrum(paths[-1], spec)
    paths.append("")
    ids = [100, 101, 102, 103]
    report = preprocess_files(paths, ids, GRID, out_path=tmp_path / "s.npz", anomaly_cfg={},
                              progress=False, chunk_size=2)  # fmt: skip
    mem_report, arrays = preprocess_arrays(paths, ids, GRID, anomaly_cfg={}, chunk_size=2)
    written = load_spectra(tmp_path / "s.npz")
    for key in ("flux", "ivar", "wavelength", "obsid"):
        np.testing.assert_array_equal(arrays[key], written[key])
    pd.testing.assert_frame_equal(mem_report, report)
    assert report["ok"].tolist() == [True, True, True, False]
    assert report.loc[3, "problem"].startswith("no spectrum file")
    assert np.isnan(arrays["flux"][3]).all() and not arrays["ivar"][3].any()


def test_unreadable_spectra_are_named_and_stop_the_run_past_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = pd.DataFrame(
        {
            "obsid": [1, 2, 3, 4],
            "ok": [True, False, False, False],
            "problem": ["", "no spectrum file (x)", "unreadable: truncated", "too few pixels"],
        }
    )
    caplog.set_level("WARNING", logger="spt.prep.spectra")
    assert check_readable(report, max_fraction=0.5) == 2  # 2 of 4: at the limit, goes on
    assert "spectrum 2: no spectrum file" in caplog.text
    assert "spectrum 3: unreadable: truncated" in caplog.text
    assert "spectrum 4" not in caplog.text  # readable, rejected for another reason
    with pytest.raises(SpectraMissingError, match=r"2 of 4 spectra \(50.0%\).*obsid 2: no spec"):
        check_readable(report, max_fraction=0.25, where=" (manifest m.csv)")


def test_a_killed_runs_scratch_folder_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".s.npz.abc123"
    stale.mkdir()
    (stale / "flux.raw").write_bytes(b"x" * 10)
    spec = giant(0)
    spec.obsid = 7
    write_spectrum(tmp_path / "7.fits", spec)
    preprocess_files([tmp_path / "7.fits"], [7], GRID, out_path=tmp_path / "s.npz", progress=False)
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["7.fits", "s.npz"]
