"""Split and PCA: stratification, determinism, no test information in the fit, clear errors,
byte-identical outputs, and the PCA variance figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spt.io.predictions import load_split, split_labels
from spt.prep.features import (
    DEFAULTS,
    FeatureConfigError,
    apply_pca,
    build_features,
    fit_pca,
    load_pca,
    projected_noise,
    split_indices,
    transform_spectra,
    weighted_projection,
)
from spt.prep.spectra import write_npz

N_PIX = 400


def labels(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mass = 10 ** rng.normal(0.1, 0.08, n)
    age = 10 ** (1.0 - 3.2 * np.log10(mass) + 0.05 * rng.standard_normal(n))
    return np.column_stack([age, mass])


def survey(tmp_path: Path, n: int = 150, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    """A spectra.npz whose spectra depend on the labels, and the matching star table."""
    rng = np.random.default_rng(seed)
    y = labels(n, seed)
    wave = np.linspace(4000, 8000, N_PIX)
    basis = np.stack([np.sin(wave / s) for s in (50, 80, 130, 210, 340)])
    coeff = np.column_stack([np.log(y), rng.standard_normal((n, 3))])
    flux = (1 + 0.05 * coeff @ basis + 0.01 * rng.standard_normal((n, N_PIX))).astype(np.float32)
    ivar = np.full((n, N_PIX), 1e4, dtype=np.float32)
    ivar[rng.random((n, N_PIX)) < 0.01] = 0  # masked pixels
    obsid = np.arange(n, dtype=np.int64) * 7 + 1000
    path = tmp_path / "spectra.npz"
    write_npz(path, {"flux": flux, "ivar": ivar, "wavelength": wave, "obsid": obsid})
    table = pd.DataFrame(
        {
            "kic": obsid + 5_000_000,
            "obsid": obsid,
            "age": y[:, 0],
            "e_age": 0.2 * y[:, 0],
            "mass": y[:, 1],
            "e_mass": 0.05 * y[:, 1],
        }
    )
    return path, table


# --------------------------------------------------------------------------- split
def test_split_sizes_disjoint_and_stratified():
    n = 2000
    y = labels(n)
    train, val, test = split_indices(n, y, [0.7, 0.1, 0.2], seed=3)
    assert len(set(train) | set(val) | set(test)) == n
    assert len(train) + len(val) + len(test) == n
    assert abs(len(train) - 1400) <= 16 and abs(len(val) - 200) <= 16 and abs(len(test) - 400) <= 16
    for part in (train, val, test):
        assert np.all(np.diff(part) > 0)
    # Every quantile bin of age and of mass is split in proportion.
    for col in range(2):
        bins = np.searchsorted(np.quantile(y[:, col], [0.25, 0.5, 0.75]), y[:, col])
        for b in range(4):
            share = np.isin(np.flatnonzero(bins == b), test).mean()
            assert share == pytest.approx(0.2, abs=0.04)


def test_split_is_seeded():
    y = labels(500)
    a = split_indices(500, y, [0.7, 0.1, 0.2], seed=1)
    b = split_indices(500, y, [0.7, 0.1, 0.2], seed=1)
    c = split_indices(500, y, [0.7, 0.1, 0.2], seed=2)
    assert all(np.array_equal(x, z) for x, z in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])


def test_split_handles_nan_labels_and_rejects_bad_fractions():
    y = labels(100)
    y[:5, 0] = np.nan
    train, val, test = split_indices(100, y, [0.8, 0.0, 0.2], seed=0)
    assert len(val) == 0 and len(train) + len(test) == 100
    for bad in ([0.5, 0.5], [0.7, 0.2, 0.2], [0.0, 0.5, 0.5], [1.2, -0.1, -0.1]):
        with pytest.raises(FeatureConfigError, match="fractions"):
            split_indices(100, y, bad, seed=0)
    with pytest.raises(FeatureConfigError, match="empty"):
        split_indices(0, None, [0.7, 0.1, 0.2], seed=0)


# --------------------------------------------------------------------------- PCA
def test_pca_component_limits_are_clear_errors():
    X = np.random.default_rng(0).standard_normal((20, 10))
    assert fit_pca(X, 10).n_components_ == 10
    with pytest.raises(FeatureConfigError, match="n_components = 21 is impossible with 20"):
        fit_pca(np.random.default_rng(0).standard_normal((20, 30)), 21)
    with pytest.raises(FeatureConfigError, match="of 10 pixels"):
        fit_pca(X, 11)
    with pytest.raises(FeatureConfigError, match="between 1 and"):
        fit_pca(X, 0)
    assert apply_pca(fit_pca(X, 3), X[:0]).shape == (0, 3)


def test_build_features_outputs(tmp_path):
    npz, table = survey(tmp_path)
    summary = build_features(npz, table, [0.7, 0.1, 0.2], 8, seed=5, out_dir=tmp_path / "f")
    assert summary["n_train"] + summary["n_val"] + summary["n_test"] == len(table)
    assert summary["explained_variance"] > 0.9
    seen = []
    for name in ("train", "val", "test"):
        with np.load(tmp_path / "f" / f"{name}.npz") as data:
            noise = ["X_noise"] if name == "train" else []  # augmentation: training split only
            expected = ["X", "kic", "labels", "obsid", "y", "y_err", *noise]
            assert sorted(data.files) == sorted(expected)
            if noise:
                assert data["X_noise"].shape == (len(data["X"]), DEFAULTS["noise_draws"], 8)
                assert data["X_noise"].dtype == np.float32
            assert data["labels"].tolist() == ["age", "mass"]
            assert data["X"].dtype == np.float32 and data["X"].shape[1] == 8
            assert data["y"].dtype == np.float32 and data["y"].shape == (len(data["X"]), 2)
            assert data["obsid"].dtype == np.int64 and data["kic"].dtype == np.int64
            rows = table.set_index("obsid").loc[data["obsid"]]
            assert np.allclose(data["y"], rows[["age", "mass"]].to_numpy(), rtol=1e-6)
            assert np.allclose(data["y_err"], rows[["e_age", "e_mass"]].to_numpy(), rtol=1e-6)
            assert np.array_equal(data["kic"], rows["kic"].to_numpy())
            seen += data["obsid"].tolist()
    assert sorted(seen) == sorted(table["obsid"].tolist())
    bundle = load_pca(tmp_path / "f" / "pca.joblib")
    assert bundle["pca"].n_components_ == 8 and bundle["fill"].shape == (N_PIX,)
    with np.load(npz) as spectra, np.load(tmp_path / "f" / "test.npz") as test:
        rows = np.searchsorted(spectra["obsid"], test["obsid"])
        again = transform_spectra(bundle, spectra["flux"][rows], spectra["ivar"][rows])
        assert np.allclose(again, test["X"], atol=1e-5)


def test_same_seed_gives_identical_files(tmp_path):
    npz, table = survey(tmp_path)
    names = ("train.npz", "val.npz", "test.npz", "pca.joblib")
    outs = []
    for k, seed in enumerate((11, 11, 12)):
        out = tmp_path / f"run{k}"
        build_features(npz, table, [0.7, 0.1, 0.2], 6, seed=seed, out_dir=out)
        outs.append([(out / name).read_bytes() for name in names])
    assert outs[0] == outs[1]
    assert outs[0][2] != outs[2][2]


def test_pca_never_sees_the_test_split(tmp_path):
    npz, table = survey(tmp_path)
    build_features(npz, table, [0.7, 0.1, 0.2], 6, seed=4, out_dir=tmp_path / "a")
    with np.load(tmp_path / "a" / "test.npz") as t, np.load(tmp_path / "a" / "train.npz") as tr:
        test_ids, train_ids = t["obsid"], tr["obsid"]
    with np.load(npz) as data:
        arrays = {k: data[k].copy() for k in data.files}

    def rebuilt(changed_obsid: int, name: str) -> tuple[object, dict[str, bytes]]:
        a = {k: v.copy() for k, v in arrays.items()}
        row = int(np.flatnonzero(a["obsid"] == changed_obsid)[0])
        a["flux"][row] = 50.0  # a wildly different spectrum
        a["ivar"][row, :200] = 0  # with masked pixels (imputed from the training median)
        write_npz(tmp_path / f"{name}.npz", a)
        build_features(tmp_path / f"{name}.npz", table, [0.7, 0.1, 0.2], 6, 4, tmp_path / name)
        files = {n: (tmp_path / name / n).read_bytes() for n in ("train.npz", "pca.joblib")}
        return load_pca(tmp_path / name / "pca.joblib"), files

    reference = load_pca(tmp_path / "a" / "pca.joblib")
    pca_test, files_test = rebuilt(int(test_ids[0]), "b")
    assert np.array_equal(pca_test["pca"].components_, reference["pca"].components_)
    assert np.array_equal(pca_test["fill"], reference["fill"])
    assert files_test["train.npz"] == (tmp_path / "a" / "train.npz").read_bytes()
    assert files_test["pca.joblib"] == (tmp_path / "a" / "pca.joblib").read_bytes()
    pca_train, _ = rebuilt(int(train_ids[0]), "c")  # the control: a training spectrum matters
    assert not np.allclose(pca_train["pca"].components_, reference["pca"].components_)


def test_build_features_errors(tmp_path):
    npz, table = survey(tmp_path, n=40)
    out = tmp_path / "f"
    with pytest.raises(FeatureConfigError, match="no stars left after filtering"):
        build_features(npz, table.iloc[:0], [0.7, 0.1, 0.2], 5, 0, out)
    with pytest.raises(FeatureConfigError, match="n_components = 50 is impossible"):
        build_features(npz, table, [0.7, 0.1, 0.2], 50, 0, out)
    with pytest.raises(KeyError, match="no spectrum"):
        build_features(npz, table.assign(obsid=table["obsid"] + 1), [0.7, 0.1, 0.2], 5, 0, out)
    with pytest.raises(KeyError, match="mass"):
        build_features(npz, table.drop(columns="mass"), [0.7, 0.1, 0.2], 5, 0, out)
    with np.load(npz) as data:
        arrays = {k: data[k].copy() for k in data.files}
    arrays["flux"][3] = np.nan  # a spectrum preprocessing could not use
    write_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(ValueError, match="could not be preprocessed"):
        build_features(tmp_path / "bad.npz", table, [0.7, 0.1, 0.2], 5, 0, out)
    assert not out.exists()  # nothing half-written


def test_pca_variance_figure_is_reproducible(tmp_path):
    from spt.paper.plots.preprocessing import plot_pca_variance

    npz, table = survey(tmp_path)
    build_features(npz, table, [0.7, 0.1, 0.2], 10, 0, tmp_path / "f")
    bundle = load_pca(tmp_path / "f" / "pca.joblib")
    blobs = []
    for k in range(2):
        pdf = plot_pca_variance(bundle, tmp_path / f"pca{k}.pdf")
        png = pdf.with_suffix(".png")
        a, b = pdf.read_bytes(), png.read_bytes()
        assert a.startswith(b"%PDF-") and a.rstrip().endswith(b"%%EOF") and len(a) > 3000
        assert b.startswith(b"\x89PNG\r\n\x1a\n") and len(b) > 3000
        blobs.append((a, b))
    assert blobs[0] == blobs[1]


# --------------------------------------------------------------------------- chosen labels
@pytest.mark.parametrize("chosen", [["mass"], ["age"]])
def test_one_label_features_hold_that_label_only(tmp_path, chosen):
    """y and y_err hold the chosen label only; the npz names it; a NaN other label is harmless."""
    npz, table = survey(tmp_path)
    other = "age" if chosen == ["mass"] else "mass"
    table[other] = np.nan  # a seismic table without that label
    table[f"e_{other}"] = np.nan
    build_features(npz, table, [0.7, 0.1, 0.2], 8, seed=5, out_dir=tmp_path / "f", labels=chosen)
    for name in ("train", "val", "test"):
        split = load_split(tmp_path / "f" / f"{name}.npz")
        assert split_labels(split) == tuple(chosen)
        assert split["y"].shape == (len(split["X"]), 1) and split["y_err"].shape == split["y"].shape
        rows = table.set_index("obsid").loc[split["obsid"]]
        assert np.allclose(split["y"][:, 0], rows[chosen[0]].to_numpy(), rtol=1e-6)
        assert np.allclose(split["y_err"][:, 0], rows[f"e_{chosen[0]}"].to_numpy(), rtol=1e-6)


def test_one_label_split_is_stratified_on_that_label(tmp_path):
    """With one label the strata are its quantile bins: each bin goes to test in proportion."""
    npz, table = survey(tmp_path, n=400)
    build_features(npz, table, [0.7, 0.1, 0.2], 8, seed=5, out_dir=tmp_path / "f", labels=["mass"])
    test = load_split(tmp_path / "f" / "test.npz")
    mass = table["mass"].to_numpy()
    bins = np.searchsorted(np.quantile(mass, [0.25, 0.5, 0.75]), mass, side="right")
    in_test = table["obsid"].isin(test["obsid"]).to_numpy()
    for b in range(4):
        assert in_test[bins == b].mean() == pytest.approx(0.2, abs=0.02)


def test_labels_must_be_known_and_ordered(tmp_path):
    npz, table = survey(tmp_path, n=40)
    for bad, match in ((["mass", "age"], "order"), (["teff"], "subset"), ([], "subset")):
        with pytest.raises(ValueError, match=match):
            build_features(npz, table, [0.7, 0.1, 0.2], 4, out_dir=tmp_path / "f", labels=bad)
    with pytest.raises(KeyError, match="mass"):
        build_features(
            npz, table.drop(columns=["mass"]), [0.7, 0.1, 0.2], 4, out_dir=tmp_path / "f",
            labels=["mass"],
        )  # fmt: skip


def test_old_split_without_names_reads_as_age_and_mass():
    assert split_labels({"y": np.zeros((2, 2))}) == ("age", "mass")
    assert split_labels({"labels": np.array(["mass"])}) == ("mass",)


@pytest.mark.parametrize("projection", ["weighted", "plain"])
def test_projected_noise_has_each_spectrums_own_variance(projection):
    """The draws' covariance is what the projection does to the pixel noise: plain
    P diag(1/ivar) P^T, weighted (P diag(ivar) P^T)^-1 (least squares); a masked pixel adds
    nothing, a noisier spectrum gets more."""
    rng = np.random.default_rng(3)
    n_pix = 40
    pca = fit_pca(rng.standard_normal((60, n_pix)), 4)
    ivar = np.full((2, n_pix), 100.0)
    ivar[1] = 25.0  # twice the noise
    ivar[1, :20] = 0.0  # masked half: only the usable pixels are noisy
    ivar[1, 30:] = 400.0  # and some pixels far better than others
    weighted = projection == "weighted"
    draws = projected_noise(pca, ivar, 4000, seed=(1, 2), projection=projection)
    assert draws.shape == (2, 4000, 4) and draws.dtype == np.float32
    P = pca.components_
    for i in range(2):
        inv = np.where(ivar[i] > 0, 1.0 / np.where(ivar[i] > 0, ivar[i], 1.0), 0.0)
        expected = np.linalg.inv((P * ivar[i]) @ P.T) if weighted else (P * inv) @ P.T
        got = np.cov(draws[i], rowvar=False)
        assert np.allclose(np.diag(got), np.diag(expected), rtol=0.1)
        assert np.allclose(draws[i].mean(axis=0), 0.0, atol=4 * np.sqrt(np.diag(expected) / 4000))
    assert np.array_equal(draws, projected_noise(pca, ivar, 4000, (1, 2), projection))
    assert not np.array_equal(draws, projected_noise(pca, ivar, 4000, (1, 3), projection))
    assert projected_noise(pca, ivar, 0, seed=1).shape == (2, 0, 4)


def test_weighted_projection_is_least_squares_in_ivar():
    """Equal weights give the plain projection; a masked pixel's value does not matter; with
    pixels of very unequal noise the weighted coefficients scatter less than the plain ones."""
    rng = np.random.default_rng(4)
    n_pix = 60
    pca = fit_pca(rng.standard_normal((80, n_pix)), 5)
    truth = rng.standard_normal((300, 5))
    clean = truth @ pca.components_ + pca.mean_
    equal = np.ones((300, n_pix))
    assert np.allclose(weighted_projection(pca, clean, equal), apply_pca(pca, clean), atol=1e-4)
    ivar = np.where(np.arange(n_pix) < 30, 1e4, 1.0)[None, :].repeat(300, axis=0)
    noisy = clean + rng.standard_normal(clean.shape) / np.sqrt(ivar)
    err_w = weighted_projection(pca, noisy, ivar) - truth
    err_p = apply_pca(pca, noisy) - truth
    assert np.sqrt(np.mean(err_w**2)) < 0.2 * np.sqrt(np.mean(err_p**2))
    masked = ivar.copy()
    masked[:, 5] = 0.0
    garbage = noisy.copy()
    garbage[:, 5] = 1e6
    assert np.allclose(
        weighted_projection(pca, garbage, masked), weighted_projection(pca, noisy, masked)
    )
    assert weighted_projection(pca, noisy[:0], ivar[:0]).shape == (0, 5)


def test_noise_draws_setting(tmp_path):
    npz, table = survey(tmp_path)
    for name, draws in (("off", 0), ("on", 3)):
        build_features(npz, table, [0.7, 0.1, 0.2], 6, 4, tmp_path / name, noise_draws=draws)
    assert load_pca(tmp_path / "on/pca.joblib")["projection"] == "weighted"
    with np.load(tmp_path / "off/train.npz") as off, np.load(tmp_path / "on/train.npz") as on:
        assert "X_noise" not in off.files and on["X_noise"].shape == (len(on["X"]), 3, 6)
        assert np.array_equal(off["X"], on["X"])  # the features themselves do not change
        # the survey's noise is 0.01 per pixel: the draws are that small, not the signal's size
        assert 0 < np.abs(on["X_noise"]).mean() < 0.1 * np.abs(on["X"]).mean()
    with pytest.raises(FeatureConfigError, match="noise_draws must be 0 or more"):
        build_features(npz, table, [0.7, 0.1, 0.2], 6, 4, tmp_path / "x", noise_draws=-1)
    with pytest.raises(FeatureConfigError, match="projection must be one of"):
        build_features(npz, table, [0.7, 0.1, 0.2], 6, 4, tmp_path / "x", projection="fast")
