"""The per-star error model against its alternatives, on a finished default run (mock only).

Refits the error model of the run's paper's model on different calibration samples,
covariates and forms, and prints, for each, the test split's coverage of the noise-free truth
(within 1 sigma by S/N quartile and state, within 2 sigma), RMS error / mean sigma in six sigma
bins, and the coverage of the field survey's unflagged in-domain giants per population (base,
shifted: `catalog.field_survey`):

- shipped: the run's own quoted errors (out-of-fold sample, predict.error_covariates);
- validation only: the same covariates fitted on the validation split alone;
- folds, no [Fe/H]: the out-of-fold sample, clump probability and distance only;
- folds, clump only: the out-of-fold sample, clump probability only;
- folds, Student-t 68 %: a Student-t likelihood (label noise deconvolved by Gauss-Hermite
  quadrature) on the shipped covariates, quoting the half-width that holds 68.3 %.

Then, per seismic state, how the shipped error model covers each model it is applied to: the
fold models on their out-of-fold stars (what it is fitted on) and the paper's model and its
replicate seeds and the fold models themselves on the test split (within 1 sigma, RMS / sigma,
median |error| / sigma), and their age within 1 sigma by true age (sigma is calibrated given
the prediction, not given the truth); and each of those models (the paper's, its replicate
seeds, the fold models) on the field survey's unflagged giants by population and state.

    python benchmarks/error_calibration.py /tmp/final10
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from astropy.table import Table
from scipy.optimize import minimize
from scipy.special import gammaln
from scipy.stats import t as student_t

from spt.catalog.targets import read_shard
from spt.io.predictions import load_split, split_labels
from spt.io.seismic import RED_CLUMP, RGB
from spt.model.crossfit import load_out_of_fold
from spt.model.predict import predict_mc
from spt.model.store import load_model
from spt.model.trust import (
    calibration_sample,
    fit_calibrated_errors,
    load_trust,
    star_info,
)
from spt.model.uncertainty import (
    ADDITIVE_TERMS,
    FEH_COVARIATE,
    STATE_COVARIATE,
    ErrorModel,
    _additive_design,
    _additive_variance,
    coverage,
)
from spt.prep.features import load_pca, transform_spectra
from spt.prep.spectra import common_grid, merge_config, preprocess_arrays, template_from_npz
from spt.validation.evaluate import trust_groups

GH_X, GH_W = np.polynomial.hermite.hermgauss(24)


def t_nll(x: np.ndarray, r: np.ndarray, e: np.ndarray) -> Callable[[np.ndarray], float]:
    """Negative log likelihood of log residuals ``r``: Student-t of variance from the additive
    design ``x`` (last parameter log(nu - 2)) convolved with Gaussian label noise ``e``."""

    def nll(p: np.ndarray) -> float:
        nu = 2.0 + np.exp(p[-1])
        scale = np.sqrt((_additive_variance(x, p[:-1]) + 1e-12) * (nu - 2) / nu)
        z = (r[:, None] - np.sqrt(2) * e[:, None] * GH_X[None]) / scale[:, None]
        lp = (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
              - (nu + 1) / 2 * np.log1p(z**2 / nu) - np.log(scale)[:, None])  # fmt: skip
        top = lp.max(axis=1, keepdims=True)
        return -float(np.sum(top[:, 0] + np.log(np.sum(GH_W * np.exp(lp - top), axis=1))))

    return nll


@dataclass(frozen=True)
class Stars:
    """Stars to score: predictions, what the error model reads, the truth, groups to report."""

    mean: np.ndarray
    std_mc: np.ndarray
    snr: np.ndarray
    features: np.ndarray
    params: np.ndarray
    truth: np.ndarray
    groups: dict[str, np.ndarray]


def report(name: str, sigma: np.ndarray, stars: Stars, bins: bool = True) -> None:
    """One line per label: 1-sigma coverage per group, 2-sigma coverage (per group unless
    ``bins``), binned RMS / sigma (``bins``)."""
    for j, label in enumerate(("age", "mass")):
        err = stars.truth[:, j] - stars.mean[:, j]
        cov = {g: 100 * coverage(err[m], sigma[m, j]) for g, m in stars.groups.items()}
        two = {g: 100 * coverage(err[m], 2 * sigma[m, j]) for g, m in stars.groups.items()}
        one = " ".join(f"{v:.0f}" if bins else f"{v:.1f}" for v in cov.values())
        if not bins:
            twos = " ".join(f"{v:.1f}" for v in two.values())
            print(f"{name:24s} {label:4s} 1s [{one}]  2s [{twos}]")
            continue
        parts = np.array_split(np.argsort(sigma[:, j]), 6)
        ratio = " ".join(f"{np.sqrt(np.mean(err[b] ** 2)) / sigma[b, j].mean():.2f}" for b in parts)
        print(f"{name:24s} {label:4s} 1s [{one}]  2s {two['all']:.1f}  rms/sigma [{ratio}]")


def test_stars(run: Path, sample: pd.DataFrame, test: dict[str, np.ndarray]) -> Stars:
    """The test split's predictions (the run's file) against the noise-free truth."""
    pred = pd.read_csv(run / "results/predictions/spt_mahalanobis.csv")
    truth = pd.read_csv(run / "resources/simulated/truth.csv").drop_duplicates("obsid")
    truth = truth.set_index("obsid").reindex(pred["obsid"])[["age", "mass"]].to_numpy()
    snr, params = star_info(pred["obsid"].to_numpy(), sample)
    phase = sample.drop_duplicates("obsid").set_index("obsid").reindex(pred["obsid"])["phase"]
    return Stars(pred[["age", "mass"]].to_numpy(), pred[["age_err_mc", "mass_err_mc"]].to_numpy(),
                 snr, test["X"], params, truth, trust_groups(snr, phase.to_numpy()))  # fmt: skip


def field_stars(run: Path) -> tuple[Stars, np.ndarray, dict[str, np.ndarray]]:
    """The field survey's unflagged in-domain giants (catalogue rows) with their PCA vectors,
    grouped by population; their shipped sigma; and their groups by population and state."""
    rows = Table.read(run / "results/catalog/spt_catalog.fits", hdu="CATALOG")
    cat = rows[[c for c in rows.colnames if c != "reasons"]].to_pandas()
    truth = pd.read_csv(run / "resources/simulated/field/truth.csv")
    cat = cat.merge(truth[["obsid", "domain", "population", "phase"]], on="obsid")
    cat = cat[(cat["domain"] == "in") & ~cat["flag_warn"] & cat["age"].notna()]
    targets = pd.concat(
        [read_shard(p) for p in sorted((run / "results/catalog/targets").glob("*.csv"))]
    )
    paths = targets.set_index("obsid").loc[cat["obsid"], "path"].map(lambda p: str(run / p))
    cfg = yaml.safe_load((run / "config/config.yaml").read_text())
    spectra = merge_config(cfg["preprocess"]["spectra"])
    grid = common_grid(spectra["wave_min"], spectra["wave_max"], spectra["log_step"])
    template = template_from_npz(run / "results/data/spectra.npz")
    _, arrays = preprocess_arrays(paths.tolist(), cat["obsid"].tolist(), grid, spectra,
                                  anomaly_cfg=cfg["anomalies"], template=template)  # fmt: skip
    features = transform_spectra(load_pca(run / "results/features/pca.joblib"),
                                 arrays["flux"], arrays["ivar"])  # fmt: skip
    true = truth.set_index("obsid").loc[cat["obsid"], ["age", "mass"]].to_numpy()
    groups = {p: (cat["population"] == p).to_numpy() for p in sorted(cat["population"].unique())}
    params = cat[["teff", "logg", "feh"]].to_numpy(float)
    stars = Stars(cat[["age", "mass"]].to_numpy(), cat[["age_err_mc", "mass_err_mc"]].to_numpy(),
                  cat["snrg"].to_numpy(float), features, params, true, groups)  # fmt: skip
    states = {f"{p} {state}": groups[p] & (cat["phase"] == code).to_numpy()
              for p in groups for code, state in ((RGB, "RGB"), (RED_CLUMP, "RC"))}  # fmt: skip
    return stars, cat[["age_err", "mass_err"]].to_numpy(), states


def by_state(
    run: Path, trust, sample: pd.DataFrame, oof: dict, train: dict, tests: Stars,
    field: Stars, states: dict[str, np.ndarray],
) -> None:  # fmt: skip
    """Within 1 sigma, RMS / sigma and median |z| of the shipped sigma per seismic state, for
    the fold models (out-of-fold sample), each seed of the paper's model and each fold model
    (test split); then each of those models on the field survey's unflagged giants by
    population and state (within 1 sigma, RMS of the log error)."""
    truth = pd.read_csv(run / "resources/simulated/truth.csv").drop_duplicates("obsid")
    truth = truth.set_index("obsid")
    phase = sample.drop_duplicates("obsid").set_index("obsid")["phase"]
    cal = calibration_sample(oof, train, sample, trust.state, trust.density,
                             trust.errors.terms[len(ADDITIVE_TERMS) :])  # fmt: skip
    s = cal.stars
    sigma = trust.errors.sigma(s["mean"], s["std_mc"], cal.snr, covariates=cal.covariates)
    rows = {"fold models, out-of-fold": (s["obsid"], s["mean"], sigma)}
    cov = trust.covariates(tests.features, tests.params)
    replicates = sorted((run / "results/replicates/predictions").glob("spt_mahalanobis_r*.csv"))
    preds = [run / "results/predictions/spt_mahalanobis.csv", *replicates]
    obsid = pd.read_csv(preds[0])["obsid"].to_numpy()
    for path in preds:
        pred = pd.read_csv(path)
        mean = pred[["age", "mass"]].to_numpy()
        std = pred[["age_err_mc", "mass_err_mc"]].to_numpy()
        sigma = trust.errors.sigma(mean, std, tests.snr, covariates=cov)
        rows[f"{path.stem}, test"] = (pred["obsid"].to_numpy(), mean, sigma)
    # the fold models themselves on the test split (their checkpoints hold the kept weights)
    model = load_model(run / "results/models/spt_mahalanobis.pt", device="cpu")
    weights = {"paper's model": {k: v.clone() for k, v in model.state_dict().items()}}
    for path in sorted((run / "results/replicates/models").glob("spt_mahalanobis_r*.pt")):
        weights[path.stem] = load_model(path, device="cpu").state_dict()
    for path in sorted((run / "results/models/checkpoints/folds").glob("*.pt")):
        best = torch.load(path, map_location="cpu", weights_only=False)["best"]
        weights[f"fold model {path.stem}"] = best
        model.load_state_dict(best)
        mean, std = predict_mc(model, tests.features, passes=50, seed=20240110)
        sigma = trust.errors.sigma(mean, std, tests.snr, covariates=cov)
        rows[f"fold model {path.stem}, test"] = (obsid, mean, sigma)
    for name, (obsid, mean, sigma) in rows.items():
        z = (truth.loc[obsid, ["age", "mass"]].to_numpy() - mean) / sigma
        state = phase.reindex(obsid).to_numpy()
        parts = []
        for code, group in ((RGB, "RGB"), (RED_CLUMP, "RC")):
            m = state == code
            parts += [f"{group} {label} {100 * np.mean(np.abs(z[m, j]) < 1):.1f} % "
                      f"{np.sqrt(np.mean(z[m, j] ** 2)):.2f} {np.median(np.abs(z[m, j])):.2f}"
                      for j, label in enumerate(("age", "mass"))]  # fmt: skip
        print(f"{name:34s} " + " | ".join(parts))
        true_age = truth.loc[obsid, "age"].to_numpy()
        ages = [(f"true age {lo:g}-{hi:g} Gyr", (true_age >= lo) & (true_age < hi))
                for lo, hi in ((0, 2), (2, 10), (10, np.inf))]  # fmt: skip
        print(" " * 35 + " | ".join(
            f"{g} {100 * np.mean(np.abs(z[m, 0]) < 1):.0f} % (n={m.sum()})" for g, m in ages
        ))  # fmt: skip
    print("field survey, unflagged in-domain giants (within 1 sigma age / mass, RMS log error):",
          ", ".join(f"{g} n={m.sum()}" for g, m in states.items()))  # fmt: skip
    field_cov = trust.covariates(field.features, field.params)
    for name, state in weights.items():
        model.load_state_dict(state)
        mean, std = predict_mc(model, field.features, passes=50, seed=20240110)
        z = (field.truth - mean) / trust.errors.sigma(mean, std, field.snr, covariates=field_cov)
        within = 100 * (np.abs(z) < 1)
        log_err = np.log(mean / field.truth)
        print(f"{name:34s} " + " | ".join(
            f"{g} {within[m, 0].mean():.0f} / {within[m, 1].mean():.0f} % "
            f"{np.sqrt(np.mean(log_err[m, 0] ** 2)):.3f}" for g, m in states.items()
        ))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished default run (simulated source)")
    args = ap.parse_args()
    run = args.run
    path = run / "results/models/spt_mahalanobis.pt"
    model, trust = load_model(path, device="cpu"), load_trust(path)
    sample = pd.read_csv(run / "results/data/sample.csv")
    train, val, test = (
        load_split(run / f"results/features/{s}.npz") for s in ("train", "val", "test")
    )
    labels = split_labels(val)
    oof = load_out_of_fold(sorted((run / "results/models/folds").glob("*.npz")))
    mean_v, std_v = predict_mc(model, val["X"], passes=50, seed=20240110)
    val_sample = {**val, "mean": mean_v, "std_mc": std_v}
    shipped = list(trust.errors.terms[len(ADDITIVE_TERMS) :])
    tests = test_stars(run, sample, test)
    field, field_sigma, states = field_stars(run)
    print("test split groups:", ", ".join(tests.groups), "| field groups:", ", ".join(field.groups))

    def quoted(errors: ErrorModel, density, stars: Stars) -> np.ndarray:
        t = dataclasses.replace(trust, errors=errors, density=density)
        cov = t.covariates(stars.features, stars.params)
        return errors.sigma(stars.mean, stars.std_mc, stars.snr, covariates=cov)

    report("shipped", pd.read_csv(run / "results/predictions/spt_mahalanobis.csv")[
        ["age_err", "mass_err"]].to_numpy(), tests)  # fmt: skip
    report("shipped, field", field_sigma, field, bins=False)
    fits = {
        "validation only": (val_sample, shipped),
        "folds, no [Fe/H]": (oof, [c for c in shipped if c != FEH_COVARIATE]),
        "folds, clump only": (oof, [STATE_COVARIATE]),
    }
    for name, (cal, names) in fits.items():
        density, errors = fit_calibrated_errors(
            cal, train, sample, trust.state, trust.density, labels, "additive", names
        )
        report(name, quoted(errors, density, tests), tests)
        report(name + ", field", quoted(errors, density, field), field, bins=False)

    # Student-t on the out-of-fold sample and the shipped covariates, quoting the 68.3 % width
    cal = calibration_sample(oof, train, sample, trust.state, trust.density, shipped)
    errors = fit_calibrated_errors(oof, train, sample, trust.state, trust.density, labels,
                                   "additive", shipped)[1]  # fmt: skip
    o, t_trust = cal.stars, dataclasses.replace(trust, density=cal.density)
    names = errors.terms[len(ADDITIVE_TERMS) :]
    sigma_t = {"test": np.empty_like(tests.mean), "field": np.empty_like(field.mean)}
    for j in range(2):
        x = _additive_design(o["mean"][:, j], o["std_mc"][:, j], cal.snr,
                             [cal.covariates[k] for k in names])  # fmt: skip
        r = np.log(o["y"][:, j] / o["mean"][:, j])
        e = o["y_err"][:, j] / o["y"][:, j]
        start = np.r_[errors.coef[j], np.log(5.0)]
        fit = minimize(t_nll(x, r, e), start, method="Nelder-Mead",
                       options={"maxiter": 20000, "xatol": 1e-6, "fatol": 1e-8})  # fmt: skip
        nu = 2.0 + np.exp(fit.x[-1])
        width = student_t.ppf(0.5 + 0.6827 / 2, nu) * np.sqrt((nu - 2) / nu)
        for key, stars in (("test", tests), ("field", field)):
            cov = t_trust.covariates(stars.features, stars.params)
            xt = _additive_design(stars.mean[:, j], stars.std_mc[:, j], stars.snr,
                                  [cov[k] for k in names])  # fmt: skip
            rel = np.sqrt(_additive_variance(xt, fit.x[:-1])) * width
            sigma_t[key][:, j] = np.maximum(stars.mean[:, j] * rel, stars.std_mc[:, j])
        print(f"Student-t {('age', 'mass')[j]}: nu = {nu:.1f}, 68 % half-width = {width:.3f} sd")
    report("folds, Student-t 68 %", sigma_t["test"], tests)
    report("folds, Student-t, field", sigma_t["field"], field, bins=False)
    print("by state (within 1 sigma, RMS / sigma, median |z|; Gaussian: 68.3 %, 1, 0.67):")
    by_state(run, trust, sample, oof, train, tests, field, states)


if __name__ == "__main__":
    main()
