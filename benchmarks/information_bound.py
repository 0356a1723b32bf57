"""How well could any method do on the mock survey? A Cramér-Rao bound from the spectra.

Goal: how close SPT comes to the information the spectra carry (mock only).
Run: ``python benchmarks/information_bound.py RUN_DIR`` on a finished default run.

Usage: python benchmarks/information_bound.py RUN_DIR [--config config/config.yaml] [--field]

RUN_DIR is a finished default run (``resources/simulated/truth.csv`` and
``results/features/{train,test}.npz``). For every star the script computes the Fisher matrix
of its continuum-normalised spectrum with respect to the six labels the mock spectra depend on
(Teff, log g, [Fe/H], [alpha/M], [C/Fe], [N/Fe]), with the star's pixel noise, and so the
smallest covariance any unbiased estimate of those labels can have (Cramér-Rao). The bound is
optimistic: no extinction, perfect continuum, no masked pixels, no nuisance parameters.
It then draws labels with that covariance for the training and test stars, fits the best
mapping it can (gradient boosting) from the drawn labels to the catalogue age and mass, and
prints the test Delta_P: roughly the best Delta_P these spectra allow, beside the label-noise
floor (noise-free labels) and the same mapping from exact labels.

It does the same with the information left after the PCA step: the Fisher matrix of the
star's PCA coefficients (the gradients projected onto the components of
``results/features/pca.joblib``, with the noise projected likewise; for the plain and for the
inverse-variance-weighted projection) on the pipeline's wavelength grid, beside the full
spectrum on that same grid. The gap between them is what reducing the spectrum to its
components loses, whatever model follows.

With ``--field`` it also scores the run's mock field survey (its clean in-domain giants, by
``population``: base and shifted) against the noise-free truth: the same bound-limited mapping,
trained on the training stars, beside SPT's catalogue values. The ratio shifted / base of the
bound is what any method trained on this training set can hope for on the shifted population.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.ensemble import HistGradientBoostingRegressor

from spt.prep.features import load_pca
from spt.sources.simulate import SpectrumModel, _efficiency, planck
from spt.validation.metrics import delta_p

REPO = Path(__file__).resolve().parents[1]
PARAMS = ("teff", "logg", "feh", "alpha", "cfe", "nfe")
STEPS = {"teff": 10.0, "logg": 0.02, "feh": 0.01, "alpha": 0.01, "cfe": 0.01, "nfe": 0.01}


def pixel_sigma(model: SpectrumModel, stars: pd.DataFrame, beta: float) -> np.ndarray:
    """Noise of the normalised flux per master-grid pixel, as the simulator sets it."""
    wave = 10**model.log_wave
    counts = planck(wave[None, :], stars["teff"].to_numpy()[:, None]) * _efficiency(wave)
    counts = counts * model.normalised_flux(stars)
    gband = (wave > 4000) & (wave < 5500)
    cg = np.median(counts[:, gband], axis=1, keepdims=True)
    rel = counts / cg
    snr = stars["snrg"].to_numpy()[:, None] * rel / np.sqrt((rel + beta) / (1 + beta))
    return 1.0 / snr


def fisher_bound(
    model: SpectrumModel,
    stars: pd.DataFrame,
    beta: float,
    wavelength: np.ndarray | None = None,
    components: np.ndarray | None = None,
    weighted: bool = False,
) -> np.ndarray:
    """Cramér-Rao covariance (n, 6, 6) of PARAMS for each star.

    With ``wavelength`` the gradients and noise are taken on that grid (the pipeline's, same
    log step as the simulator's); with ``components`` (k, pixels) too, the Fisher matrix is
    that of the PCA coefficients: gradients G = P J and noise covariance P diag(sigma^2) P^T
    for the plain projection; for the inverse-variance-weighted one (``weighted``) the
    coefficients are A^-1 P W f with A = P W P^T, W = diag(1/sigma^2), so F = G'^T A^-1 G'
    with G' = P W J.
    """
    sigma = pixel_sigma(model, stars, beta)
    grads = []
    for p in PARAMS:
        up, down = stars.copy(), stars.copy()
        up[p] += STEPS[p]
        down[p] -= STEPS[p]
        grads.append((model.normalised_flux(up) - model.normalised_flux(down)) / (2 * STEPS[p]))
    J = np.stack(grads, axis=1)  # (n, 6, pixels)
    if wavelength is not None:
        logw = np.log10(wavelength)
        J, sigma = (
            np.apply_along_axis(lambda r: np.interp(logw, model.log_wave, r), -1, a)
            for a in (J, sigma)
        )
    if components is None:
        Jw = J / sigma[:, None, :]  # whitened
        return np.linalg.inv(np.einsum("nip,njp->nij", Jw, Jw))
    scale = sigma**-2 if weighted else np.ones_like(sigma)
    G = np.einsum("kp,nip->nki", components, J * scale[:, None, :])  # (n, k, 6)
    power = -2 if weighted else 2  # A = P W P^T, or the noise covariance P diag(sigma^2) P^T
    out = np.empty((len(stars), len(PARAMS), len(PARAMS)))
    for i in range(len(stars)):
        middle = (components * sigma[i] ** power) @ components.T
        out[i] = np.linalg.inv(G[i].T @ np.linalg.solve(middle, G[i]))
    return out


def draw(stars: pd.DataFrame, cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Labels with Cramér-Rao errors (one multivariate-normal draw per star)."""
    chol = np.linalg.cholesky(cov)
    noise = np.einsum("nij,nj->ni", chol, rng.standard_normal((len(stars), len(PARAMS))))
    return stars[list(PARAMS)].to_numpy() + noise


def fit_predict(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
    """Gradient boosting per label in log space (a flexible, near-optimal mapping)."""
    out = []
    for j in range(ytr.shape[1]):
        m = HistGradientBoostingRegressor(max_iter=400, learning_rate=0.05, random_state=0)
        out.append(np.exp(m.fit(Xtr, np.log(ytr[:, j])).predict(Xte)))
    return np.stack(out, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--config", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--field", action="store_true", help="score the field survey too")
    args = parser.parse_args()
    sim = yaml.safe_load(args.config.read_text())["simulate"]
    truth = pd.read_csv(args.run_dir / "resources/simulated/truth.csv").drop_duplicates("obsid")
    truth = truth.set_index("obsid")
    splits = {}
    for name in ("train", "test"):
        d = np.load(args.run_dir / f"results/features/{name}.npz")
        splits[name] = (truth.loc[d["obsid"]].reset_index(), d["y"].astype(float))
    model = SpectrumModel(sim["resolution"], sim["n_forest_lines"], sim["line_list_seed"])
    bundle = load_pca(args.run_dir / "results/features/pca.joblib")
    k = bundle["pca"].n_components_
    wave, components = bundle["wavelength"], bundle["pca"].components_
    grid = {
        "grid": {"wavelength": wave},
        "pca": {"wavelength": wave, "components": components},
        "weighted": {"wavelength": wave, "components": components, "weighted": True},
    }
    rng = np.random.default_rng(0)
    drawn, crb = {}, {}
    for name, (stars, _) in splits.items():
        crb[name] = fisher_bound(model, stars, sim["background_fraction"])
        drawn[name] = draw(stars, crb[name], rng)
        for kind, extra in grid.items():
            crb[f"{name} {kind}"] = fisher_bound(model, stars, sim["background_fraction"], **extra)
            drawn[f"{name} {kind}"] = draw(stars, crb[f"{name} {kind}"], rng)
    snr = splits["test"][0]["snrg"].median()
    print(f"median Cramér-Rao 1-sigma of the test stars' labels (median S/N_g {snr:.0f}):")
    for kind in ("", " grid", " pca", " weighted"):
        c = crb[f"test{kind}"]
        sd = np.sqrt(np.median(np.diagonal(c, axis1=1, axis2=2), axis=0))
        cn = np.sqrt(np.median(c[:, 4, 4] + c[:, 5, 5] - 2 * c[:, 4, 5]))
        where = {"": "simulator grid", " grid": "pipeline grid", " pca": f"{k} PCA coefficients",
                 " weighted": f"{k} weighted coefficients"}  # fmt: skip
        cells = ", ".join(f"{p} {s:.3g}" for p, s in zip(PARAMS, sd, strict=True))
        print(f"  {where[kind]:<26}{cells}, [C/N] {cn:.3g}")

    (train, y_tr), (test, y_te) = splits["train"], splits["test"]
    exact = fit_predict(train[list(PARAMS)].to_numpy(), y_tr, test[list(PARAMS)].to_numpy())
    bound = fit_predict(drawn["train"], y_tr, drawn["test"])
    on_grid = fit_predict(drawn["train grid"], y_tr, drawn["test grid"])
    on_pca = fit_predict(drawn["train pca"], y_tr, drawn["test pca"])
    on_weighted = fit_predict(drawn["train weighted"], y_tr, drawn["test weighted"])
    noise_free = test[["age", "mass"]].to_numpy()
    print(f"{'test split, Delta_P vs catalogue labels':<68}{'age %':>8}{'mass %':>8}")
    for name, pred in (
        ("label-noise floor (noise-free labels)", noise_free),
        ("mapping from exact spectral labels", exact),
        ("mapping from Cramér-Rao-limited labels (bound)", bound),
        ("  the same, pipeline grid (3850-8900 A)", on_grid),
        (f"  the same, from the {k} PCA coefficients (plain projection)", on_pca),
        (f"  the same, from the {k} PCA coefficients (weighted projection)", on_weighted),
    ):
        dp = [delta_p(pred[:, j], y_te[:, j]) for j in range(2)]
        print(f"{name:<68}{dp[0]:>8.2f}{dp[1]:>8.2f}")
    if args.field:
        field_check(
            args.run_dir, model, sim["background_fraction"], train, drawn["train"], y_tr, rng
        )


def field_check(
    run_dir: Path,
    model: SpectrumModel,
    beta: float,
    train: pd.DataFrame,
    drawn_train: np.ndarray,
    y_tr: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Delta_P against the truth of the field survey's clean in-domain giants per population:
    mappings from exact and from Cramér-Rao-limited labels (trained on the training stars)
    and SPT's catalogue values (unflagged rows)."""
    from astropy.table import Table

    truth = pd.read_csv(run_dir / "resources/simulated/field/truth.csv")
    stars = truth[(truth["domain"] == "in") & truth["anomaly"].isna()].reset_index(drop=True)
    bound = fit_predict(drawn_train, y_tr, draw(stars, fisher_bound(model, stars, beta), rng))
    exact = fit_predict(train[list(PARAMS)].to_numpy(), y_tr, stars[list(PARAMS)].to_numpy())
    rows = Table.read(run_dir / "results/catalog/spt_catalog.fits", hdu="CATALOG")
    cat = rows[["obsid", "age", "mass", "flag_warn"]].to_pandas().set_index("obsid")
    spt = cat.reindex(stars["obsid"])
    clean = (~spt["flag_warn"].astype(bool) & spt["age"].notna()).to_numpy()
    true = stars[["age", "mass"]].to_numpy()
    print("field survey, clean in-domain giants, Delta_P vs noise-free truth  age % mass %")
    for pop in sorted(stars["population"].unique()):
        sel = (stars["population"] == pop).to_numpy()
        for name, pred, keep in (
            ("exact spectral labels", exact, sel),
            ("Cramér-Rao-limited labels (bound)", bound, sel),
            ("SPT, unflagged", spt[["age", "mass"]].to_numpy(), sel & clean),
        ):
            dp = [delta_p(pred[keep, j], true[keep, j]) for j in range(2)]
            print(f"  {pop:<8} {name:<36} n={keep.sum():<5}{dp[0]:>8.2f}{dp[1]:>8.2f}")  # fmt: skip
    old = truth[truth["domain"] == "old"].reset_index(drop=True)
    if len(old) >= 20:
        base = stars[stars["population"] == "base"].reset_index(drop=True)
        separable_old(model, beta, base, old, rng)


def separable_old(
    model: SpectrumModel,
    beta: float,
    base: pd.DataFrame,
    old: pd.DataFrame,
    rng: np.random.Generator,
) -> None:
    """How well could any flag tell the field's very old giants from in-domain ones? An oracle
    classifier that is shown both (2-fold cross-validated gradient boosting on their
    Cramér-Rao-limited labels): its recall of the old stars where it flags 1 % and 5 % of the
    in-domain giants, an upper bound for a flag that never sees an old star."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_predict

    x = np.vstack([draw(s, fisher_bound(model, s, beta), rng) for s in (base, old)])
    y = np.r_[np.zeros(len(base)), np.ones(len(old))]
    clf = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=0)
    score = cross_val_predict(clf, x, y, cv=2, method="predict_proba")[:, 1]
    for rate in (0.01, 0.05):
        cut = np.quantile(score[y == 0], 1 - rate)
        recall = np.mean(score[y == 1] > cut)
        print(f"  very old giants ({len(old)}), oracle on the bound's labels: recall "
              f"{100 * recall:.0f} % at {100 * rate:.0f} % of in-domain flagged")  # fmt: skip


if __name__ == "__main__":
    main()
