"""The per-star error model against its alternatives, on a finished default run (mock only).

Refits the error model of the run's paper's model on different calibration samples and forms,
and prints, for each, the test split's coverage of the noise-free truth (within 1 sigma by S/N
quartile and state, within 2 sigma) and RMS error / mean sigma in six sigma bins:

- shipped: the run's own quoted errors (out-of-fold sample, clump probability and distance);
- validation only: the same form fitted on the validation split (the previous default);
- folds, no distance: the out-of-fold sample without the distance covariate;
- folds, Student-t 68 %: a Student-t likelihood (label noise deconvolved by Gauss-Hermite
  quadrature), quoting the half-width that holds 68.3 %.

    python benchmarks/error_calibration.py /tmp/final8
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln
from scipy.stats import t as student_t

from spt.io.predictions import load_split, split_labels
from spt.model.crossfit import load_out_of_fold
from spt.model.predict import predict_mc
from spt.model.store import load_model
from spt.model.trust import (
    calibration_sample,
    fit_calibrated_errors,
    load_trust,
    star_info,
)
from spt.model.uncertainty import ErrorModel, _additive_design, _additive_variance, coverage
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


def report(name: str, sigma: np.ndarray, pred: np.ndarray, truth: np.ndarray, groups) -> None:
    """One line per label: 1-sigma coverage per group, 2-sigma coverage, binned RMS / sigma."""
    for j, label in enumerate(("age", "mass")):
        err = truth[:, j] - pred[:, j]
        one = " ".join(f"{100 * coverage(err[m], sigma[m, j]):.0f}" for m in groups.values())
        two = 100 * coverage(err, 2 * sigma[:, j])
        bins = np.array_split(np.argsort(sigma[:, j]), 6)
        ratio = " ".join(f"{np.sqrt(np.mean(err[b] ** 2)) / sigma[b, j].mean():.2f}" for b in bins)
        print(f"{name:24s} {label:4s} 1s [{one}]  2s {two:.1f}  rms/sigma [{ratio}]")


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

    pred = pd.read_csv(run / "results/predictions/spt_mahalanobis.csv")
    truth = pd.read_csv(run / "resources/simulated/truth.csv").drop_duplicates("obsid")
    truth = truth.set_index("obsid").reindex(pred["obsid"])[["age", "mass"]].to_numpy()
    snr, params = star_info(pred["obsid"].to_numpy(), sample)
    phase = sample.drop_duplicates("obsid").set_index("obsid").reindex(pred["obsid"])["phase"]
    groups = trust_groups(snr, phase.to_numpy())
    print("groups:", ", ".join(groups))
    mean = pred[["age", "mass"]].to_numpy()
    std_mc = pred[["age_err_mc", "mass_err_mc"]].to_numpy()

    def quoted(errors: ErrorModel, density) -> np.ndarray:
        t = dataclasses.replace(trust, errors=errors, density=density)
        return errors.sigma(mean, std_mc, snr, covariates=t.covariates(test["X"], params))

    report("shipped", pred[["age_err", "mass_err"]].to_numpy(), mean, truth, groups)
    fits = {
        "validation only": (val_sample, trust.density),
        "folds, no distance": (oof, None),
    }
    for name, (cal, density) in fits.items():
        density, errors = fit_calibrated_errors(
            cal, train, sample, trust.state, density, labels, "additive"
        )
        report(name, quoted(errors, density), mean, truth, groups)

    # Student-t on the out-of-fold sample, quoting the 68.3 % half-width
    cal = calibration_sample(oof, train, sample, trust.state, trust.density)
    errors = fit_calibrated_errors(oof, train, sample, trust.state, trust.density, labels,
                                   "additive")[1]  # fmt: skip
    o, snr_o, cov_o = cal.stars, cal.snr, cal.covariates
    cov_t = dataclasses.replace(trust, density=cal.density).covariates(test["X"], params)
    names = errors.terms[3:]
    sigma_t = np.empty_like(mean)
    for j in range(2):
        x = _additive_design(o["mean"][:, j], o["std_mc"][:, j], snr_o, [cov_o[k] for k in names])
        r = np.log(o["y"][:, j] / o["mean"][:, j])
        e = o["y_err"][:, j] / o["y"][:, j]
        start = np.r_[errors.coef[j], np.log(5.0)]
        fit = minimize(t_nll(x, r, e), start, method="Nelder-Mead",
                       options={"maxiter": 20000, "xatol": 1e-6, "fatol": 1e-8})  # fmt: skip
        nu = 2.0 + np.exp(fit.x[-1])
        xt = _additive_design(mean[:, j], std_mc[:, j], snr, [cov_t[k] for k in names])
        width = student_t.ppf(0.5 + 0.6827 / 2, nu) * np.sqrt((nu - 2) / nu)
        rel = np.sqrt(_additive_variance(xt, fit.x[:-1])) * width
        sigma_t[:, j] = np.maximum(mean[:, j] * rel, std_mc[:, j])
        print(f"Student-t {('age', 'mass')[j]}: nu = {nu:.1f}, 68 % half-width = {width:.3f} sd")
    report("folds, Student-t 68 %", sigma_t, mean, truth, groups)


if __name__ == "__main__":
    main()
