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


if __name__ == "__main__":
    numbers = {"detectors": detector_numbers(), "chain": chain_numbers(),
               "labels": label_numbers(), "features": feature_numbers()}  # fmt: skip
    PINNED_PATH.write_text(json.dumps(numbers, indent=0, sort_keys=True) + "\n")
