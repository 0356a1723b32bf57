"""spt.prep: the survivors of mutation testing (benchmarks/mutation.py), killed by numbers.

The four anomaly detectors, the preprocessing chain (resampling, continuum, the npz it
writes, its report), the label-outlier fit and the feature split and projection run on
constructed LAMOST-like giants with each kind of anomaly injected as the mock survey injects
it (`spt.sources.simulate._inject_anomaly`), and their outputs are compared with the numbers
this code gave when the test was written (``PINNED``, tests/support/pinned_prep.json;
regenerate with ``python tests/test_mutants_prep.py`` only after checking that a change is
meant). This is
characterisation: a changed threshold, window, comparison or sign in a detector or in the
chain moves these numbers. Where a number can be told without the code, a test says so.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

if __name__ == "__main__":  # regeneration: import the package as the tests do
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spt.io.lamost import write_spectrum
from spt.prep import anomalies, features, labels, spectra
from spt.sources.simulate import _inject_anomaly
from tests.support.spectra import giant

KINDS = [None, "oscillation", "missing", "outlier", "negative", "outlier", "oscillation",
         "missing", "negative", "outlier", None]  # fmt: skip


def constructed() -> list:
    """Giants of several S/N and temperatures, each with the anomaly of KINDS; the last has
    LAMOST's zero padding at both ends."""
    out = []
    for i, kind in enumerate(KINDS):
        spec = giant(seed=i, snr=30.0 + 10 * i, teff=4400.0 + 50 * i)
        spec.obsid = 100 + i
        if kind:
            _inject_anomaly(kind, spec.wavelength, spec.flux, spec.ivar,
                            np.random.default_rng(1000 + i))  # fmt: skip
        out.append(spec)
    out[-1].flux[:60] = 0.0
    out[-1].flux[-80:] = 0.0
    return out


def plain(value):
    """Python floats, bools, ints and strings (NaN as None) for the pinned values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, pd.Series):
        return plain(value.to_numpy())
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def records(frame: pd.DataFrame) -> list:
    return plain(frame.to_dict("records"))


# ---------------------------------------------------------------- what is pinned
def detector_numbers() -> dict:
    specs = constructed()
    flags = anomalies.flag_spectra([s.obsid for s in specs], specs)
    grid = spectra.common_grid()
    norm = [spectra.preprocess_one(s, grid) for s in specs]
    template = anomalies.population_template(
        np.array([f for f, _, _ in norm]), np.array([iv for _, iv, _ in norm]), grid
    )
    with_template = anomalies.flag_spectra([s.obsid for s in specs], specs, template=template)
    again = anomalies.apply_template(flags, template)  # from the hits' text (rounded)
    pd.testing.assert_series_equal(again["outlier"], with_template["outlier"])
    return {"flags": records(flags), "with_template": records(with_template),
            "applied": records(again[["outlier", "outlier_lo", "outlier_hi", "outlier_score",
                                      "reasons"]]),
            "template": [float(np.sum(template[1])), float(np.std(template[1]))]}  # fmt: skip


def chain_numbers() -> dict:
    specs = constructed()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = []
        for spec in specs:
            write_spectrum(folder / f"{spec.obsid}.fits", spec)
            paths.append(str(folder / f"{spec.obsid}.fits"))
        (folder / "bad.fits").write_bytes(b"not a spectrum")
        paths += [str(folder / "bad.fits"), ""]
        ids = [s.obsid for s in specs] + [98, 99]
        grid = spectra.common_grid(4000.0, 8000.0, 2e-4)
        report = spectra.preprocess_files(
            paths, ids, grid, {}, workers=1, chunk_size=4, out_path=folder / "s.npz",
            anomaly_cfg={}, progress=False, min_template_rows=5,
        )  # fmt: skip
        data = spectra.load_spectra(folder / "s.npz")
        mem_report, mem = spectra.preprocess_arrays(
            paths, ids, grid, {}, anomaly_cfg={}, chunk_size=3, min_template_rows=5
        )
        pd.testing.assert_frame_equal(mem_report, report)
        for key in ("flux", "ivar", "wavelength", "obsid"):
            np.testing.assert_array_equal(mem[key], data[key])
        wave, tflux = spectra.template_from_npz(folder / "s.npz", max_rows=6)
        first = spectra.read_npz_rows(folder / "s.npz", "flux", 2)
        n_bad = spectra.check_readable(report, 0.5)
    good = data["ivar"] > 0
    report["problem"] = report["problem"].str.replace(tmp, "<tmp>", regex=False)
    return {
        "report": records(report),
        "flux_rows": plain(np.where(good, data["flux"], 0.0).sum(axis=1)),
        "ivar_rows": plain(data["ivar"].astype(np.float64).sum(axis=1)),
        "shapes": [list(data["flux"].shape), data["flux"].dtype.str, data["obsid"].tolist()],
        "template": [float(np.sum(tflux)), float(np.sum(wave)), len(wave)],
        "first_rows": plain(np.nansum(first, axis=1)),
        "unreadable": n_bad,
    }


def label_numbers() -> dict:
    rng = np.random.default_rng(7)
    n = 80
    mass = rng.uniform(0.8, 2.5, n)
    feh = rng.normal(-0.2, 0.3, n)
    age = 10 ** (0.9 - 2.5 * np.log10(mass) + 0.2 * feh + rng.normal(0, 0.05, n))
    age[:4] *= 3.0  # off the relation
    mass[4] = 0.3  # invalid mass
    age[5] = 15.0  # old, but within 2 sigma of 14 Gyr
    age[7] = 16.0  # too old
    frame = pd.DataFrame({"kic": np.arange(n), "age": age, "mass": mass, "feh": feh,
                          "e_age": 0.2 * age, "e_mass": 0.05 * mass})  # fmt: skip
    frame.loc[6, "e_age"] = 2.0 * age[6]  # unconstrained age
    frame.loc[7, "e_age"] = 0.5  # 16 Gyr is more than 2 sigma above 14
    frame.loc[8, "e_mass"] = np.nan  # unknown error: too large
    frame.loc[9, "feh"] = np.nan  # filled with the median
    out = labels.flag_label_outliers(frame)
    resid, sigma, inlier = labels.fit_age_mass_relation(age, mass, feh)
    mass_only = labels.flag_label_outliers(frame, labels=["mass"])
    return {
        "flags": records(out.drop(columns=["relation_resid_dex", "relation_z"])),
        "resid": plain(out["relation_resid_dex"].round(9)),
        "z": plain(out["relation_z"].round(6)),
        "fit": [float(np.nansum(resid)), float(np.nansum(resid**2)), sigma, int(inlier.sum())],
        "no_feh": plain(labels.fit_age_mass_relation(age, mass, None)[1]),
        "mass_only": records(mass_only),
    }


def feature_numbers() -> dict:
    rng = np.random.default_rng(11)
    n, p = 40, 120
    lab = np.column_stack([rng.uniform(1, 10, n), rng.uniform(0.8, 2.0, n)])
    lab[3, 0] = np.nan
    strata = features._strata(lab, 3)
    train, val, test = features.split_indices(n, lab, [0.6, 0.2, 0.2], seed=5, n_bins=3)
    flux = 1.0 + 0.1 * rng.standard_normal((n, p))
    ivar = rng.uniform(50.0, 400.0, (n, p))
    ivar[rng.random((n, p)) < 0.05] = 0.0
    ivar[:, 7] = 0.0  # a pixel no spectrum has: the fallback
    fill = features.impute_values(flux[:20], ivar[:20])
    weights = features._weights(ivar)
    pca = features.fit_pca(features.impute(flux[:20], ivar[:20], fill), 4, seed=2)
    weighted = features.weighted_projection(pca, features.impute(flux, ivar, fill), ivar)
    noise = features.projected_noise(pca, ivar, 3, (2, 1), "weighted")
    plain_noise = features.projected_noise(pca, ivar, 2, (2, 1), "plain")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spectra.write_npz(folder / "s.npz", {
            "flux": flux.astype(np.float32), "ivar": ivar.astype(np.float32),
            "wavelength": np.linspace(4000.0, 5000.0, p), "obsid": np.arange(n) + 500,
        })  # fmt: skip
        table = pd.DataFrame({"obsid": np.arange(n) + 500, "kic": np.arange(n), "age": lab[:, 0],
                              "mass": lab[:, 1], "e_age": 0.5, "e_mass": 0.1})  # fmt: skip
        summary = features.build_features(
            folder / "s.npz", table, [0.6, 0.2, 0.2], 4, seed=1, out_dir=folder / "f",
            n_bins=3, noise_draws=2,
        )  # fmt: skip
        splits = {name: dict(np.load(folder / "f" / f"{name}.npz")) for name in features.SPLITS}
        bundle = features.load_pca(folder / "f" / "pca.joblib")
        again = features.pca_from_arrays(features.pca_to_arrays(bundle))
        X = features.transform_spectra(again, flux[:5], ivar[:5])
    return {
        "strata": strata.tolist(),
        "split": [train.tolist(), val.tolist(), test.tolist()],
        "fill": [float(fill.sum()), float(fill[7])],
        "weights": [float(weights.sum()), float(weights[0, :5].sum())],
        "weighted": float(np.abs(weighted).sum()),
        "noise": [list(noise.shape), float(np.abs(noise).sum()), float(np.abs(plain_noise).sum())],
        "summary": plain(summary),
        "splits": {
            k: {a: float(np.nansum(np.abs(v[a].astype(np.float64)))) for a in ("X", "y", "kic")}
            for k, v in splits.items()
        },
        "x_noise": float(np.abs(splits["train"]["X_noise"]).sum()),
        "reprojected": float(np.abs(X).sum()),
    }


# ---------------------------------------------------------------- comparison
def assert_close(got, want, where: str = "") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for k in want:
            assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, float) and math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9), (
            where, got, want
        )  # fmt: skip
    else:
        assert got == want and type(got) is type(want), (where, got, want)


def test_the_detectors_on_constructed_anomalies() -> None:
    """Bugs: any threshold, window, comparison or sign of the four detectors or the template
    veto changed: flags, regions, scores and hits move. By construction: spectrum 102 has a
    run of zeros 100-800 A wide, 104 a negative stretch, 101 and 106 a modulated continuum."""
    got = detector_numbers()
    assert_close(got, PINNED["detectors"], "detectors")
    flags = pd.DataFrame(got["flags"]).set_index("obsid")
    assert flags.loc[[102, 107], "missing"].all() and flags.loc[[104, 108], "negative"].all()
    assert flags.loc[[101, 106], "oscillation"].all() and not flags.loc[100].iloc[:16:4].any()


def test_the_preprocessing_chain() -> None:
    """Bugs: resampling, continuum, coverage, the npz rows, the report's problems and anomaly
    columns, the template and the unreadable count changed. By construction: two rows (an
    unreadable file, an empty path) are not ok and count as unreadable."""
    got = chain_numbers()
    assert_close(got, PINNED["chain"], "chain")
    assert got["unreadable"] == 2 and [r["ok"] for r in got["report"]][-2:] == [False, False]


def test_the_label_outlier_cut() -> None:
    """Bugs: the age-mass relation's design, clipping or robust sigma changed; a cut's bound
    moved. By construction: star 4 has an invalid mass, 7 an impossible age, 6 a large error."""
    got = label_numbers()
    assert_close(got, PINNED["labels"], "labels")
    flags = pd.DataFrame(got["flags"]).set_index("kic")
    assert flags.loc[4, "mass_invalid"] and flags.loc[7, "age_invalid"]
    assert flags.loc[6, "large_error"] and not flags.loc[5, "age_invalid"]


def test_the_feature_split_and_projection() -> None:
    """Bugs: the strata, the split's cuts, the imputation, the weights, the projections, the
    noise draws or the files of build_features changed. By construction: the split has every
    row once and the pixel no spectrum has is filled with 1."""
    got = feature_numbers()
    assert_close(got, PINNED["features"], "features")
    rows = [i for part in got["split"] for i in part]
    assert sorted(rows) == list(range(40)) and got["fill"][1] == 1.0


#: The numbers this code gave (tests/support/pinned_prep.json, written by running this file).
PINNED_PATH = Path(__file__).resolve().parent / "support" / "pinned_prep.json"
PINNED: dict = json.loads(PINNED_PATH.read_text()) if PINNED_PATH.exists() else {}


# ---------------------------------------------------------------- single behaviours
def test_resample_ends_masks_and_infinite_ivar() -> None:
    """Bugs: the first or last native pixel taken for outside the data, the first interval
    skipped, a masked neighbour ignored at the last pixel, not-ok grid pixels given flux or
    ivar, an infinite ivar (zero variance) kept as usable."""
    x = 10 ** (3.0 + 0.01 * np.arange(6))
    flux = np.array([1.0, 3.0, 5.0, 7.0, 9.0, 11.0])
    ivar = np.array([1.0, 0.5, 0.25, 1.0, 1.0, 1.0])
    good = np.array([True, True, True, True, False, True])
    mid = 10 ** (3.0 + 0.01 * np.array([0.5, 1.5, 3.5]))
    grid = np.concatenate([[x[0] * 0.999], [x[0]], mid, [x[5]], [x[5] * 1.001]])
    f, iv, ok = spectra.resample(x, flux, ivar, good, grid)
    assert ok.tolist() == [False, True, True, True, False, True, False]
    np.testing.assert_allclose(f[ok], [1.0, 2.0, 4.0, 11.0], rtol=1e-9)
    np.testing.assert_allclose(iv[ok], [1.0, 1 / 1.5, 1 / 3.0, 1.0], rtol=1e-9)
    assert (f[~ok] == 0).all() and (iv[~ok] == 0).all()
    inf = ivar.copy()
    inf[1] = np.inf
    _, iv2, ok2 = spectra.resample(x, flux, inf, good, x[:3])
    assert ok2.tolist() == [True, False, True] and iv2[1] == 0


def test_common_grid_bounds() -> None:
    """Bugs: a zero or equal bound accepted, a positive bound below 1 refused, the last grid
    point lost to rounding (a ratio of exactly ten steps)."""
    assert len(spectra.common_grid(1000.0, 10000.0, 0.1)) == 11
    assert len(spectra.common_grid(0.5, 5.0, 0.5)) == 3
    for lo, hi in ((0.0, 10.0), (5.0, 5.0)):
        try:
            spectra.common_grid(lo, hi)
        except ValueError:
            continue
        raise AssertionError((lo, hi))


def test_check_spectrum_limits() -> None:
    """Bugs: the pixel-count limits exclusive, NaN and inf counts subtracted, a wavelength
    with a NaN or a repeated value accepted."""
    cfg = spectra.merge_config({"min_pixels": 3900, "max_pixels": 3900, "max_nonfinite": 1})
    spectra.check_spectrum(giant(1), cfg)  # 3900 pixels: both limits inclusive

    def problem(change) -> str:
        spec = giant(1)
        change(spec)
        try:
            spectra.check_spectrum(spec, cfg)
        except spectra.SpectrumProblem as exc:
            return str(exc)
        return ""

    def two_bad(s) -> None:
        s.flux[5], s.ivar[9] = np.nan, np.inf

    def nan_wave(s) -> None:
        s.wavelength[7] = np.nan

    def flat_wave(s) -> None:
        s.wavelength[8] = s.wavelength[7]

    assert problem(two_bad).startswith("non-finite: 2")
    assert problem(nan_wave).startswith("bad wavelength")
    assert problem(flat_wave).startswith("bad wavelength")


def npz_numbers() -> list:
    """Size and MD5 of write_npz's file of two small arrays."""
    import hashlib

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npz"
        spectra.write_npz(path, NPZ_ARRAYS)
        raw = path.read_bytes()
    return [len(raw), hashlib.md5(raw).hexdigest()]


NPZ_ARRAYS = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "obsid": np.arange(2)}


def test_npz_members_are_fixed_and_plain(tmp_path) -> None:
    """Bugs: another timestamp or permission in the zip (the file is no longer reproducible),
    zip64 records forced on small members, pickled objects allowed."""
    import zipfile

    spectra.write_npz(tmp_path / "x.npz", NPZ_ARRAYS)
    with zipfile.ZipFile(tmp_path / "x.npz") as zf:
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.external_attr == 0o644 << 16
            assert info.extra == b""
    assert b"PK\x06\x06" not in (tmp_path / "x.npz").read_bytes()
    assert npz_numbers() == PINNED["npz"]
    try:
        spectra.write_npz(tmp_path / "o.npz", {"o": np.array([{}], dtype=object)})
    except ValueError:
        return
    raise AssertionError("an object array was pickled")


def test_check_readable_counts_and_messages(caplog) -> None:
    """Bugs: more than 20 offenders logged (or the 'more' line at 20), an empty report let
    through, a one-row report refused, six examples in the message."""
    bad = pd.DataFrame({"obsid": range(21), "problem": "unreadable: x"})
    with caplog.at_level("WARNING", logger="spt.prep.spectra"):
        assert spectra.check_readable(bad, 1.0) == 21
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 21 and lines[-1] == "... and 1 more spectra that could not be read"
    caplog.clear()
    with caplog.at_level("WARNING", logger="spt.prep.spectra"):
        spectra.check_readable(bad.iloc[:20], 1.0)
    assert len(caplog.records) == 20
    assert spectra.check_readable(pd.DataFrame({"obsid": [1], "problem": [""]}), 0.0) == 0
    try:  # one row, unreadable: a share of 1, not 1/2
        spectra.check_readable(bad.iloc[:1], 0.7)
        raise AssertionError("one unreadable row of one let through")
    except spectra.SpectraMissingError:
        pass
    for frame in (bad.iloc[:0], bad.iloc[:7]):
        try:
            spectra.check_readable(frame, 0.5)
        except spectra.SpectraMissingError as exc:
            assert str(exc).count("obsid ") == min(len(frame), 5)
            continue
        raise AssertionError(len(frame))


def test_chunks_of_one_and_a_new_output_folder(tmp_path) -> None:
    """Bugs: a chunk size of 1 refused; the output's folders not made."""
    spec = giant(3)
    write_spectrum(tmp_path / "a.fits", spec)
    grid = spectra.common_grid(4000.0, 8000.0, 2e-4)
    report = spectra.preprocess_files([str(tmp_path / "a.fits")] * 2, [1, 2], grid,
                                      chunk_size=1, out_path=tmp_path / "x" / "y" / "s.npz",
                                      progress=False)  # fmt: skip
    assert report["ok"].tolist() == [True, True]
    assert spectra.load_spectra(tmp_path / "x" / "y" / "s.npz")["flux"].shape == (2, grid.size)
    import zipfile

    raw = (tmp_path / "x" / "y" / "s.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "x" / "y" / "s.npz") as zf:  # no zip64 records forced
        offsets = [info.header_offset for info in zf.infolist()]
    assert [int.from_bytes(raw[o + 28 : o + 30], "little") for o in offsets] == [0] * 4


def test_crossmatch_radius_below_one_and_rounding() -> None:
    """Bugs: a radius below 1 arcsec refused; separations rounded to other decimals."""
    from spt.prep.crossmatch import crossmatch

    seismic = pd.DataFrame({"kic": [1], "ra": [10.0], "dec": [0.0], "age": 5.0, "e_age": 1.0,
                            "mass": 1.2, "e_mass": 0.1})  # fmt: skip
    catalog = pd.DataFrame({"obsid": [11], "ra": [10.0], "dec": [0.123456789 / 3600.0],
                            "snrg": [50.0]})  # fmt: skip
    matched = crossmatch(seismic, catalog, 0.5).matched
    assert matched["separation_arcsec"].tolist() == [0.1235]


if __name__ == "__main__":
    numbers = {"detectors": detector_numbers(), "chain": chain_numbers(),
               "labels": label_numbers(), "features": feature_numbers(),
               "npz": npz_numbers()}  # fmt: skip
    PINNED_PATH.write_text(json.dumps(numbers, indent=0, sort_keys=True) + "\n")


def label_frame(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    mass = rng.uniform(0.9, 2.0, n)
    age = 10 ** (0.9 - 2.5 * np.log10(mass) + rng.normal(0, 0.03, n))
    return pd.DataFrame({"kic": np.arange(n), "age": age, "mass": mass, "e_age": 0.1 * age,
                         "e_mass": 0.05 * mass})  # fmt: skip


def test_label_cut_bounds_are_inclusive_where_documented() -> None:
    """Bugs: an age of 0 let through or 14 Gyr refused, masses at 0.5 or 5 refused, a relative
    error of exactly the limit refused, a NaN age error taken for 1 Gyr instead of 0, the
    [Fe/H] column asked of a table without it."""
    frame = label_frame()
    frame.loc[0, ["age", "e_age"]] = [0.0, 0.0]
    frame.loc[1, ["age", "e_age"]] = [14.0, 0.0]
    frame.loc[2, "mass"], frame.loc[3, "mass"] = 0.5, 5.0
    frame.loc[4, "e_age"] = frame.loc[4, "age"]  # relative error exactly 1
    frame.loc[5, "e_mass"] = 0.5 * frame.loc[5, "mass"]  # exactly 0.5
    frame.loc[6, ["age", "e_age"]] = [15.0, np.nan]
    out = labels.flag_label_outliers(frame)
    assert out["age_invalid"].tolist()[:7] == [True, False, False, False, False, False, True]
    assert not out.loc[[2, 3], "mass_invalid"].any()
    assert not out.loc[[4, 5], "large_error"].any() and out.loc[6, "large_error"]


def test_label_fit_needs_enough_stars_and_skips_nan() -> None:
    """Bugs: the fit's minimum number of stars moved, a star with one NaN label fitted, every
    star invalid sent to the fit, one valid star not."""
    frame = label_frame(6)
    resid, _, _ = labels.fit_age_mass_relation(frame["age"], frame["mass"], None)
    assert np.isfinite(resid).all()
    try:
        labels.fit_age_mass_relation(frame["age"][:5], frame["mass"][:5], None)
        raise AssertionError("5 stars fitted with 3 coefficients")
    except ValueError:
        pass
    frame = label_frame(20)
    mass = frame["mass"].to_numpy().copy()
    feh = np.zeros(20)
    mass[3], feh[5] = np.nan, np.nan
    resid, _, inlier = labels.fit_age_mass_relation(frame["age"], mass, feh)
    assert np.isnan(resid[[3, 5]]).all() and np.isfinite(np.delete(resid, [3, 5])).all()
    assert not inlier[[3, 5]].any()
    bad = frame.assign(mass=0.1)
    out = labels.flag_label_outliers(bad)
    assert out["relation_resid_dex"].isna().all() and out["mass_invalid"].all()
    one = frame.assign(mass=[1.0] + [0.1] * 19)
    try:
        labels.flag_label_outliers(one)
        raise AssertionError("one valid star fitted")
    except ValueError:
        pass


def test_feature_edges() -> None:
    """Bugs: a zero training fraction caught only later, one star refused, one component
    refused, a single spectrum projected or noised as none, one noise draw dropped."""
    try:
        features.split_indices(10, None, [0.0, 0.5, 0.5])
        raise AssertionError("no training fraction accepted")
    except features.FeatureConfigError as exc:
        assert str(exc).startswith("fractions must be")
    train, val, test = features.split_indices(1, None, [1.0, 0.0, 0.0])
    assert (train.tolist(), val.tolist(), test.tolist()) == ([0], [], [])
    rng = np.random.default_rng(4)
    flux = 1 + 0.1 * rng.standard_normal((6, 30))
    ivar = rng.uniform(1.0, 9.0, (6, 30))
    pca = features.fit_pca(flux, 1, seed=0)
    assert pca.n_components_ == 1
    pca = features.fit_pca(flux, 3, seed=0)
    many = features.weighted_projection(pca, flux, ivar)
    np.testing.assert_allclose(features.weighted_projection(pca, flux[:1], ivar[:1]), many[:1],
                               rtol=1e-5)  # fmt: skip
    one = features.projected_noise(pca, ivar[:1], 1, 0)
    assert one.shape == (1, 1, 3) and np.abs(one).sum() > 0


def test_build_features_refusals(tmp_path) -> None:
    """Bugs: a repeated obsid, an obsid without a spectrum, a spectrum with one NaN or with no
    usable pixel let into the split; a single noise draw not written."""
    rng = np.random.default_rng(5)
    n, p = 12, 40
    flux = (1 + 0.1 * rng.standard_normal((n, p))).astype(np.float32)
    ivar = rng.uniform(1.0, 9.0, (n, p)).astype(np.float32)
    flux[10, 3] = np.nan
    ivar[11] = 0.0
    spectra.write_npz(tmp_path / "s.npz", {"flux": flux, "ivar": ivar, "obsid": np.arange(n),
                                           "wavelength": np.linspace(4000, 5000, p)})  # fmt: skip
    table = pd.DataFrame({"obsid": np.arange(10), "kic": np.arange(10),
                          "age": rng.uniform(1, 9, 10), "mass": rng.uniform(1, 2, 10)})  # fmt: skip
    out = tmp_path / "f"
    summary = features.build_features(tmp_path / "s.npz", table, [0.6, 0.2, 0.2], 2, seed=0,
                                      out_dir=out, n_bins=2, noise_draws=1)  # fmt: skip
    assert summary["n_train"] + summary["n_val"] + summary["n_test"] == 10
    assert np.load(out / "train.npz")["X_noise"].shape[1] == 1
    cases = {
        "repeats": pd.concat([table, table.iloc[:1]], ignore_index=True),
        "no spectrum": table.assign(obsid=[*range(9), 99]),
        "could not be preprocessed": table.assign(obsid=[*range(9), 10]),
        "could not be preprocessed ": table.assign(obsid=[*range(9), 11]),
    }
    for text, frame in cases.items():
        try:
            features.build_features(tmp_path / "s.npz", frame, [0.6, 0.2, 0.2], 2,
                                    out_dir=tmp_path / "g", n_bins=2)  # fmt: skip
        except (KeyError, ValueError) as exc:
            assert text.strip() in str(exc), (text, exc)
            continue
        raise AssertionError(text)


# ---------------------------------------------------------------- the detectors' helpers
BOX = anomalies.DEFAULTS["outlier"]


def test_box_width_edges() -> None:
    """Bugs: the box_in, box_out and box_out_other bounds made exclusive, a wider box taken,
    an excursion at either end of the window measured."""
    d = np.zeros(11)
    d[5] = 1.0
    assert anomalies._box_width(d, 5, BOX) == 1
    for left, right, width in ((0.7, 0.0, 2), (0.0, 0.7, 2), (0.8, 0.8, 3)):
        e = d.copy()
        e[4], e[6] = left, right
        assert anomalies._box_width(e, 5, BOX) == width, (left, right)
    e = d.copy()
    e[3:7] = [0.8, 0.8, 1.0, 0.8]
    assert anomalies._box_width(e, 5, BOX) == 0  # four pixels wide
    e = d.copy()
    e[4], e[6] = 0.25, 0.5  # both flanks exactly at their bounds
    assert anomalies._box_width(e, 5, BOX) == 1
    assert anomalies._box_width(np.array([0.0, 0.0, 0.0, 1.0, 0.8]), 3, BOX) == 0
    assert anomalies._box_width(np.array([0.8, 1.0, 0.0, 0.0, 0.0]), 1, BOX) == 0


def test_local_contrast_windows() -> None:
    """Bugs: the core, left or right window shifted, the ends' limits moved, a side below 1
    (or 0) handled as none."""
    v = np.full(20, 10.0)
    v[8], v[7], v[10], v[6] = 15.0, 2.0, 3.0, 9.0
    # core 7..9 picks 8; left 4..6 (min 9), right 10..12 (min 3): side 9
    assert math.isclose(anomalies._local_contrast(v, 8, 1), 6 / 9)
    assert math.isclose(anomalies._local_contrast(v * 0.01, 8, 1), 6 / 9)
    w = np.full(20, 10.0)
    w[8] = 4.0
    w[4], w[12] = 12.0, 11.0  # side = min(max left, max right) = 11
    assert math.isclose(anomalies._local_contrast(w, 8, -1), 7 / 11)
    assert anomalies._local_contrast(-v, 8, 1) == 0.0 and anomalies._local_contrast(-w, 8, -1) == 0
    p = np.full(20, 10.0)
    for i in (5, 14):
        q = p.copy()
        q[i] = 20.0
        assert math.isclose(anomalies._local_contrast(q, i, 1), 1.0), i
    for i in (4, 15):
        q = p.copy()
        q[i] = 20.0
        assert anomalies._local_contrast(q, i, 1) == 0.0, i


def test_pixel_edges_and_data_edges() -> None:
    """Bugs: the half pixel beyond a run taken from the wrong neighbour at either end; gaps
    found one pixel off or at their limit; the edge distance exclusive or a sum."""
    wave = np.array([10.0, 11.0, 13.0, 16.0, 20.0])
    assert anomalies._pixel_edges(wave, slice(0, 1)) == (9.5, 10.0)
    assert anomalies._pixel_edges(wave, slice(4, 5)) == (20.0, 22.0)
    assert anomalies._pixel_edges(wave, slice(1, 3)) == (10.0, 14.0)  # half the next spacing
    lam = np.r_[np.arange(0.0, 11.0), np.arange(30.0, 41.0)]
    inside = anomalies._away_from_edges(lam, 2.0, 10.0)
    assert lam[inside].tolist() == [*range(2, 9), *range(32, 39)]
    whole = anomalies._away_from_edges(lam, 2.0, 19.0 + 1.0)  # a gap of exactly 20: none
    assert lam[whole].tolist() == [*range(2, 11), *range(30, 39)]


def test_missing_and_negative_regions() -> None:
    """Bugs: two regions not joined into their hull, the level a mean or taken only when all
    flux is finite, the negative run's width or limits off, a short spectrum flagged."""
    n = 1000
    wave = 4000.0 + np.arange(n, dtype=float)
    flux = np.full(n, 100.0)
    ivar = np.ones(n)
    flux[0] = np.nan
    flux[200:260], ivar[200:260] = 1.0, 0.0  # no ivar, flux below 2 % of the median: empty
    flux[500:580] = 0.0
    flux[900:910] = 1e5  # raises the mean level, not the median
    flux[700:760], ivar[700:760] = 5.0, 0.0  # above 2 % of the median, below 2 % of the mean
    flag, region, score = anomalies.detect_missing(wave, flux, ivar)
    assert flag and region == (4199.5, 4579.5) and score == 80.0
    neg = np.full(n, 100.0)
    neg[300:321] = -40.0  # 21 pixels: 20 A from the first to the last
    neg[600:650] = -40.0
    neg[650:660] = 0.5  # small positive flux right after: not part of the run
    flag, region, score = anomalies.detect_negative(wave, neg, np.full(n, 4.0))
    assert flag and region == (4300.0, 4649.0)
    assert math.isclose(score, 40.0 * 50 / math.sqrt(50 / 4.0))
    assert anomalies.detect_negative(wave[:10], neg[:10], np.ones(10)) == (False, None, 0.0)


def test_templates_and_scores() -> None:
    """Bugs: a template of one spectrum refused, an unusable pixel not set to 1, hits near
    the template's ends judged, the region or score of a re-decided outlier taken from the
    wrong place, NaN flags read as set, a bad setting accepted for no spectra, the counts of
    the detection scores."""
    wave = np.linspace(5000.0, 5100.0, 101)
    _, tf = anomalies.population_template(np.ones((1, 101)), np.r_[0.0, np.ones(100)][None],
                                           wave)  # fmt: skip
    assert tf[0] == 1.0 and len(tf) == 101
    dip = np.ones(101)
    dip[50] = 0.5
    template = (wave, dip)
    assert anomalies.shared_by_template((5050.0, -1, 9.0, 0.5), template)
    assert not anomalies.shared_by_template((5050.0, 1, 9.0, 0.5), template)
    assert not anomalies.shared_by_template((5000.0, -1, 9.0, 0.5), template)
    assert not anomalies.shared_by_template((5100.0, -1, 9.0, 0.5), template)
    assert not anomalies.shared_by_template((5053.0, -1, 9.0, 0.5), template)
    flags = pd.DataFrame({"obsid": [1], "oscillation": [np.nan], "missing": [False],
                          "outlier": [False], "negative": [True],
                          "outlier_hits": ["5020.00:+1:9.0:0.5000"]})  # fmt: skip
    out = anomalies.apply_template(flags, template)
    assert out.loc[0, "outlier"] and (out.loc[0, "outlier_lo"], out.loc[0, "outlier_hi"]) == (
        5018.0, 5022.0)  # fmt: skip
    assert out.loc[0, "outlier_score"] == 9.0
    assert out.loc[0, "reasons"] == "outliers; negative values"
    try:
        anomalies.flag_spectra([1, 2], [(wave, np.ones(101), np.ones(101))])
        raise AssertionError("two obsids for one spectrum accepted")
    except ValueError:
        pass
    try:
        anomalies.flag_spectra([], [], {"bogus": {}})
        raise AssertionError("an unknown detector accepted")
    except KeyError:
        pass
    truth = pd.DataFrame({"obsid": [1, 2, 3, 4, 5], "anomaly": ["missing", "missing", "", "",
                                                                "missing"]})  # fmt: skip
    got = pd.DataFrame({"obsid": [1, 2, 3, 4, 5], "oscillation": False, "outlier": False,
                        "negative": False, "missing": [True, False, True, True, True]})  # fmt: skip
    row = anomalies.detection_scores(got, truth).set_index("type").loc["missing"]
    assert (row["TP"], row["FP"], row["FN"]) == (2, 2, 1)
    assert math.isclose(row["recall"], 2 / 3) and math.isclose(row["precision"], 2 / 4)


def flat(n: int = 400, level: float = 100.0):
    wave = 5000.0 + np.arange(n, dtype=float)
    return wave, np.full(n, level), np.ones(n)


def test_outlier_hits_on_a_flat_spectrum() -> None:
    """Bugs: the highest pixel of a spike (lowest of a trough) not the one reported, a spike
    on a continuum below 5 % of the median level reported (or the ones after it lost), the
    minimum of 3 x ref_pix usable pixels moved."""
    wave, flux, ivar = flat()
    flux[100:102] = [180.0, 200.0]  # a two-pixel spike: its peak is at 5101
    flux[200:202] = [40.0, 30.0]  # a two-pixel trough: its bottom is at 5201
    flux[250:300] = 3.0  # a faint stretch (3 % of the median) ...
    flux[275] = 50.0  # ... with a spike on it: no continuum to be an outlier of
    flux[330] = 200.0
    hits = anomalies.outlier_hits(wave, flux, ivar)
    assert [(w, s) for w, s, _, _ in hits] == [(5101.0, 1), (5201.0, -1), (5330.0, 1)]
    assert [round(z, 6) for _, _, z, _ in hits] == [100.0, 70.0, 100.0]
    assert [round(r, 6) for _, _, _, r in hits] == [1.0, 0.7, 1.0]
    cfg = {"edge_aa": 2.0}
    for n, found in ((45, 1), (44, 0)):
        wave, flux, ivar = flat(n)
        flux[22] = 200.0
        assert len(anomalies.outlier_hits(wave, flux, ivar, cfg)) == found, n


def sinusoid(amplitude: float, period: float, lo: float = 4000.0, hi: float = 7000.0):
    wave = np.arange(lo, hi, 1.0)
    flux = 100.0 * (1 + amplitude * np.sin(2 * np.pi * wave / period))
    return wave, flux, np.ones(wave.size)


def test_oscillation_windows_band_and_amplitude() -> None:
    """Bugs: a modulation over the whole range not found over the whole range, a gap the
    windows may bridge refused (or a wider one bridged), a low amplitude or a period outside
    the band flagged, a short spectrum given a score."""
    flag, region, score = anomalies.detect_oscillation(*sinusoid(0.1, 100.0))
    assert flag and region == (4000.0, 7000.0) and score > 0.9
    for amplitude, period in ((0.025, 100.0), (0.2, 22.0)):
        assert not anomalies.detect_oscillation(*sinusoid(amplitude, period))[0], period
    wave, flux, ivar = sinusoid(0.1, 100.0)
    for width, end in ((15, 7000.0), (25, 6900.0)):
        keep = (wave < 6890) | (wave >= 6890 + width)
        flag, region, _ = anomalies.detect_oscillation(wave[keep], flux[keep], ivar[keep])
        assert flag and region == (4000.0, end), width
    assert anomalies.detect_oscillation(*sinusoid(0.1, 100.0, 4000.0, 4500.0)) == (
        False, None, 0.0)  # fmt: skip
    assert anomalies.detect_oscillation(*sinusoid(0.1, 100.0, 4000.0, 4040.0)) == (
        False, None, 0.0)  # fmt: skip


def test_npz_readers_refuse_objects_and_skip_broken_rows(tmp_path) -> None:
    """Bugs: pickled objects loaded from an npz; a template row with a NaN (a row
    preprocessing could not fill) taken into the median."""
    np.savez(tmp_path / "o.npz", flux=np.array([{}], dtype=object))
    try:
        spectra.load_spectra(tmp_path / "o.npz")
        raise AssertionError("an object array was unpickled")
    except ValueError:
        pass
    flux = np.array([[1.0, 1.0], [3.0, np.nan], [2.0, 2.0]], dtype=np.float32)
    spectra.write_npz(tmp_path / "s.npz", {"flux": flux, "ivar": np.ones((3, 2), np.float32),
                                           "wavelength": np.array([1.0, 2.0])})  # fmt: skip
    _, template = spectra.template_from_npz(tmp_path / "s.npz")
    assert template.tolist() == [1.5, 1.5]


def test_preprocess_one_edges() -> None:
    """Bugs: a continuum below 1e-3 of the median kept (the floor divided instead of scaled),
    a redshift of exactly max_abs_z refused, the continuum's median window even."""
    grid = spectra.common_grid()
    spec = giant(1)
    spec.flux[1000:1600] *= 1e-4
    norm, ivar, _ = spectra.preprocess_one(spec, grid)
    centre = (grid > spec.wavelength[1150]) & (grid < spec.wavelength[1450])
    assert centre.sum() > 200 and (ivar[centre] == 0).all() and (norm[centre] == 1.0).all()
    for header, z in (({"Z": 0.01}, 0.01), ({}, 0.0), ({"Z": "x"}, 0.0), ({"Z": 0.0101}, 0.0)):
        spec = giant(2)
        spec.header = header
        assert spectra.preprocess_one(spec, grid, {"rest_frame": True})[2]["z_applied"] == z
    flux = np.sin(np.arange(300.0) / 7.0) + np.arange(300.0) / 50.0
    good = np.zeros(300, bool)
    good[::3] = True  # 100 usable pixels: an odd window of 101
    cfg = spectra.merge_config({})
    want = ndimage.gaussian_filter1d(
        np.interp(np.arange(300), np.flatnonzero(good),
                  ndimage.median_filter(flux[good], size=101, mode="nearest")),
        cfg["continuum_smooth_pix"], mode="nearest",
    )  # fmt: skip
    np.testing.assert_allclose(spectra.continuum(flux, good, cfg), want, rtol=1e-12)


def test_in_process_preprocessing_leaves_blas_threads_alone(tmp_path) -> None:
    """Bug: the thread limit meant for worker processes applied to the caller's process."""
    from threadpoolctl import threadpool_info

    write_spectrum(tmp_path / "a.fits", giant(4))
    before = [pool["num_threads"] for pool in threadpool_info()]
    spectra.preprocess_arrays([str(tmp_path / "a.fits")], [1], spectra.common_grid())
    assert [pool["num_threads"] for pool in threadpool_info()] == before


def test_small_weights_seeds_and_messages(tmp_path) -> None:
    """Bugs: pixels with an inverse variance below 1 taken for masked, the weights' scale
    taken over zeros or only values above 1, the default seeds other than 0, an empty set's
    fill of the wrong length, a lone finite row put in stratum 0, six examples of repeated
    obsids."""
    w = features._weights(np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 0.5, 0.25, 0.0], [0.0] * 4]))
    assert w[0].tolist() == [0.0, 0.5, 1.0, 1.5] and w[2].tolist() == [0.0] * 4
    np.testing.assert_allclose(w[1], [0.0, 0.5 / 0.375, 0.25 / 0.375, 0.0])
    flux = np.array([[1.0, 2.0], [3.0, 4.0]])
    small = np.full((2, 2), 0.5)
    assert features.impute(flux, small, np.zeros(2)).tolist() == flux.tolist()
    assert features.impute_values(flux, small).tolist() == [2.0, 3.0]
    assert features.impute_values(np.zeros((0, 5)), np.zeros((0, 5))).tolist() == [1.0] * 5
    rng = np.random.default_rng(9)
    X = 1 + 0.1 * rng.standard_normal((100, 600))  # randomized SVD: the seed matters
    pca = features.fit_pca(X, 3)
    np.testing.assert_array_equal(pca.components_, features.fit_pca(X, 3, 0).components_)
    assert not np.array_equal(pca.components_, features.fit_pca(X, 3, 1).components_)
    noise = features.projected_noise(pca, np.full((2, 600), 0.5), 1, 0, "plain")
    assert (np.abs(noise) > 0).all()
    lab = rng.uniform(1, 10, (30, 2))
    for a, b in zip(features.split_indices(30, lab), features.split_indices(30, lab, seed=0),
                    strict=True):  # fmt: skip
        assert a.tolist() == b.tolist()
    assert features._strata(np.array([[1.0], [np.nan], [np.nan]]), 2).tolist() == [1, -1, -1]
    n, p = 10, 20
    spectra.write_npz(tmp_path / "s.npz", {
        "flux": (1 + 0.1 * rng.standard_normal((n, p))).astype(np.float32),
        "ivar": np.full((n, p), 0.5, np.float32), "obsid": np.arange(n),
        "wavelength": np.linspace(4000, 5000, p),
    })  # fmt: skip
    table = pd.DataFrame({"obsid": np.arange(n), "kic": np.arange(n), "age": lab[:n, 0],
                          "mass": lab[:n, 1]})  # fmt: skip
    a = features.build_features(tmp_path / "s.npz", table, [0.6, 0.2, 0.2], 2,
                                out_dir=tmp_path / "a", n_bins=2, noise_draws=0)  # fmt: skip
    b = features.build_features(tmp_path / "s.npz", table, [0.6, 0.2, 0.2], 2, seed=0,
                                out_dir=tmp_path / "b", n_bins=2, noise_draws=0)  # fmt: skip
    assert a == b
    twice = pd.concat([table, table.iloc[:7]], ignore_index=True)
    try:
        features.build_features(tmp_path / "s.npz", twice, [0.6, 0.2, 0.2], 2,
                                out_dir=tmp_path / "c", n_bins=2)  # fmt: skip
        raise AssertionError("repeated obsids accepted")
    except ValueError as exc:
        assert str(exc) == "star table repeats obsid(s) [0, 1, 2, 3, 4]"


def test_contrast_thresholds_and_crossmatch_columns() -> None:
    """Bugs: a flank at exactly zero divided by; the spike threshold used for troughs or the
    trough one for spikes; an index column left in the matched table, or its rows
    misnumbered; one empty side matched anyway."""
    from spt.prep.crossmatch import CrossmatchError, crossmatch

    v = np.full(20, 10.0)
    v[8], v[4:7], v[10:13] = 15.0, 0.0, 0.0
    assert anomalies._local_contrast(v, 8, 1) == 0.0
    wave = np.linspace(5000.0, 5100.0, 101)
    for sign, depth, shared in ((-1, 0.8, True), (1, 1.2, False)):  # contrast 0.2 both
        flux = np.ones(101)
        flux[50] = depth
        assert anomalies.shared_by_template((5050.0, sign, 9.0, 0.2), (wave, flux)) == shared
    seismic = pd.DataFrame({"kic": [2, 1], "ra": [10.0, 20.0], "dec": [0.0, 0.0], "age": 5.0,
                            "e_age": 1.0, "mass": 1.2, "e_mass": 0.1}, index=[7, 3])  # fmt: skip
    catalog = pd.DataFrame({"obsid": [11, 12], "ra": [20.0, 10.0], "dec": [0.0, 0.0],
                            "snrg": [50.0, 40.0]}, index=[5, 9])  # fmt: skip
    matched = crossmatch(seismic, catalog, 2.0).matched
    assert "index" not in matched.columns and matched.index.equals(pd.RangeIndex(2))
    assert matched["kic"].tolist() == [1, 2] and matched["obsid"].tolist() == [11, 12]
    try:
        crossmatch(seismic, catalog.assign(ra=np.nan), 2.0)
        raise AssertionError("nothing matched without an error")
    except CrossmatchError as exc:
        assert "nothing to match" in str(exc)


def test_detector_bounds_are_inclusive() -> None:
    """Bugs: a run of exactly min_width_aa or a flux of exactly zero_tol x the level not
    counted, a spike exactly sky_halfwidth_aa from a sky line kept, the first or last pixel
    a spike may sit on (7, n - 8) moved, a narrow negative run's width taken as a sum, exactly
    smooth_pix usable pixels refused."""
    wave, flux, ivar = flat(600)
    flux[100:140] = 0.0  # 40 pixels: 40 A from edge to edge
    assert anomalies.detect_missing(wave, flux, ivar) == (True, (5099.5, 5139.5), 40.0)
    wave, flux, ivar = flat(600)
    flux[300:345], ivar[300:345] = 2.0, 0.0  # exactly 2 % of the median, no ivar
    assert anomalies.detect_missing(wave, flux, ivar)[0]
    wave, flux, ivar = flat(400)
    flux[205] = 200.0
    sky = {"sky_lines_aa": [5200.0], "sky_halfwidth_aa": 5.0}
    assert anomalies.outlier_hits(wave, flux, ivar, sky) == []
    cfg = {"edge_aa": 2.0}
    wave, flux, ivar = flat(60)
    flux[7], flux[52] = 200.0, 200.0
    assert [h[0] for h in anomalies.outlier_hits(wave, flux, ivar, cfg)] == [5007.0, 5052.0]
    wave, flux, ivar = flat(60)
    flux[53] = 200.0
    assert anomalies.outlier_hits(wave, flux, ivar, cfg) == []
    wave, flux, ivar = flat(400)
    flux[200:210] = -40.0  # very significant, but 9 A wide
    flag, region, score = anomalies.detect_negative(wave, flux, np.full(400, 4.0))
    assert not flag and region is None and math.isclose(score, 400.0 / math.sqrt(10 / 4.0))
    wave, flux, ivar = flat(15, -10.0)
    flag, _, score = anomalies.detect_negative(wave, flux, ivar, {"edge_aa": 0.0})
    assert math.isclose(score, 150.0 / math.sqrt(15.0))


def test_oscillation_with_one_window_or_none() -> None:
    """Bugs: exactly one window's worth of data refused, or none searched as if there were."""
    flag, region, _ = anomalies.detect_oscillation(*sinusoid(0.1, 100.0, 4000.0, 5001.0))
    assert flag and region == (4000.0, 5000.0)  # 500 samples of 2 A: one window
    wave, flux, ivar = sinusoid(0.1, 100.0, 4000.0, 5500.0)
    keep = (wave < 4700) | (wave >= 4750)  # every window crosses this gap
    assert anomalies.detect_oscillation(wave[keep], flux[keep], ivar[keep]) == (False, None, 0.0)
