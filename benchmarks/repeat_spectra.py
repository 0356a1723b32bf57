"""A label-free check of the error model's noise term: two spectra of one star (mock only).

Usage: python benchmarks/repeat_spectra.py RUN_DIR

RUN_DIR is a finished default run. The mock survey observes some seismic stars twice
(``simulate.repeat_fraction``); the cross-match keeps the best spectrum and drops the other.
This script predicts both spectra of every such star through the catalogue's own path
(`spt.model.trust.predict_trusted`: preprocessing, anomaly detectors, PCA, MC dropout,
per-star error, flags), each star with a model that never saw its label (its fold model for a
training or validation star, the paper's model for a test star), and keeps the pairs whose
two spectra both come out unflagged.

What two spectra of one star disagree by is the noise (and MC) part of the error alone: the
floor (what a spectrum cannot tell about this star) is the same in both. So the log
difference d = log(y_1 / y_2) should have variance N_1 + N_2, N the error model's noise and
MC terms (the catalogue's ``_err``^2 - ``_err_floor``^2), fitted on labels; here no label
enters. Printed per
label: the pairs, lambda = mean(d^2 / (N_1 + N_2)) (1 when the noise term is right; the
maximum-likelihood scale of the noise term on the pairs) with its bootstrap 68 % interval,
the share of |d| within sqrt(N_1 + N_2) (Gaussian: 68.3 %), and both per bin of the pair's
lower S/N. Then, for the stars whose two spectra are both unflagged, Delta_P and coverage of
the truth for the highest-S/N spectrum alone, for the catalogue's STARS combination
(`spt.catalog.stars.combine_spectra`: the floor shared, the noise averaged) and for the naive
combination that treats each spectrum's whole error as independent. Survey data have repeats
too (LAMOST observed the Kepler field many times): the same check runs on real spectra once
both of a star's spectra are at hand.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from spt.catalog.stars import combine_spectra
from spt.io.predictions import load_split
from spt.model.store import load_model
from spt.model.trust import load_trust, predict_trusted
from spt.prep.features import load_pca
from spt.prep.spectra import common_grid, merge_config, preprocess_arrays, template_from_npz
from spt.validation.metrics import delta_p

SEED = 20240110
BINS = (0.0, 30.0, 60.0, 100.0, np.inf)


def pairs_of(run: Path) -> pd.DataFrame:
    """Each sample star with a second spectrum: its kept obsid ``a``, the other ``b`` and the
    model that never saw its label (``f0``... for the out-of-fold pool, ``paper`` for the test)."""
    truth = pd.read_csv(run / "resources/simulated/truth.csv")
    spectra = truth[truth["role"].isin(["seismic", "repeat"])].groupby("kic")["obsid"].apply(list)
    sample = pd.read_csv(run / "results/data/sample.csv").drop_duplicates("obsid")
    model_of = {o: "paper" for o in load_split(run / "results/features/test.npz")["obsid"]}
    for path in sorted((run / "results/models/folds").glob("*.npz")):
        with np.load(path) as fold:
            model_of.update({o: path.stem for o in fold["obsid"]})
    rows = []
    for kic, a in zip(sample["kic"], sample["obsid"], strict=True):
        others = [o for o in spectra.get(kic, []) if o != a]
        if others and a in model_of:
            rows.append((a, others[0], model_of[a]))
    return pd.DataFrame(rows, columns=["a", "b", "model"])


def predict_pairs(run: Path, pairs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Both spectra of each pair through `predict_trusted`, each group with its own model: the
    catalogue rows (the star's kept obsid as its designation) and, per pair, the log
    difference, the two spectra's noise-and-MC variance, whether both are unflagged and the
    lower S/N."""
    cfg = yaml.safe_load((run / "config/config.yaml").read_text())
    spec = merge_config(cfg["preprocess"]["spectra"])
    grid = common_grid(spec["wave_min"], spec["wave_max"], spec["log_step"])
    template = template_from_npz(run / "results/data/spectra.npz")
    bundle = load_pca(run / "results/features/pca.joblib")
    catalog = pd.read_csv(run / "resources/simulated/lamost_catalog.csv").set_index("obsid")
    paths = pd.read_csv(run / "resources/simulated/spectra.csv").set_index("obsid")["path"]
    main = run / "results/models/spt_mahalanobis.pt"
    model, trust = load_model(main, device="cpu"), load_trust(main)
    paper = {k: v.clone() for k, v in model.state_dict().items()}
    out: dict[str, list[np.ndarray]] = {"d": [], "noise": [], "clean": [], "snr": []}
    frames = []
    for name, group in pairs.groupby("model", sort=True):
        weights = paper
        if name != "paper":
            check = run / f"results/models/checkpoints/folds/{name}.pt"
            weights = torch.load(check, map_location="cpu", weights_only=False)["best"]
        model.load_state_dict(weights)
        obsid = np.concatenate([group["a"], group["b"]])
        report, arrays = preprocess_arrays(
            [str(run / paths[o]) for o in obsid], obsid.tolist(), grid, spec,
            anomaly_cfg=cfg["anomalies"], template=template,
        )  # fmt: skip
        snr = catalog.loc[obsid, "snrg"].to_numpy(float)
        params = catalog.loc[obsid, ["teff", "logg", "feh"]].to_numpy(float)
        pred = predict_trusted(model, trust, arrays["flux"], arrays["ivar"], bundle, snr,
                               params, report, 50, SEED)  # fmt: skip
        star = np.concatenate([group["a"], group["a"]]).astype(str)
        frames.append(pred.assign(obsid=obsid, designation=star, snrg=snr))
        labels = list(trust.errors.labels)
        mean = pred[labels].to_numpy(float)
        usable = np.isfinite(mean).all(axis=1)
        # what a spectrum does not share with the star's other spectra: sigma^2 - floor^2
        sigma, floor = (pred[[f"{k}{s}" for k in labels]].to_numpy(float) / mean
                        for s in ("_err", "_err_floor"))  # fmt: skip
        noise = sigma**2 - floor**2
        n = len(group)
        warn = pred["flag_warn"].to_numpy(bool)
        out["d"].append(np.log(mean[:n] / mean[n:]))
        out["noise"].append(noise[:n] + noise[n:])
        out["clean"].append(~warn[:n] & ~warn[n:] & usable[:n] & usable[n:])
        out["snr"].append(np.minimum(snr[:n], snr[n:]))
    return pd.concat(frames, ignore_index=True), {k: np.concatenate(v) for k, v in out.items()}


def combined(run: Path, rows: pd.DataFrame, labels: tuple[str, ...]) -> None:
    """Delta_P and 1-sigma coverage of the truth for the stars whose two spectra are both
    unflagged: the highest-S/N spectrum alone, `combine_spectra` (the floor shared), and
    the naive combination that treats each spectrum's whole error as independent."""
    truth = pd.read_csv(run / "resources/simulated/truth.csv").drop_duplicates("obsid")
    truth = truth.set_index("obsid")
    stars = combine_spectra(rows)
    both = stars[stars["n_spectra"] == 2]
    best = rows.set_index("obsid").loc[both["obsid"]]
    naive = combine_spectra(rows.assign(**{f"{k}_err_floor": 0.0 for k in labels}))
    naive = naive.set_index("star").loc[both["star"]]
    true = truth.loc[both["designation"].astype(np.int64), list(labels)].to_numpy()
    print(f"stars whose two spectra are both unflagged: {len(both)}; Delta_P (%) and within "
          "1 sigma (%) against the truth:")  # fmt: skip
    for j, label in enumerate(labels):
        parts = []
        for name, frame in (("best spectrum", best), ("combined", both), ("naive", naive)):
            y, err = frame[label].to_numpy(float), frame[f"{label}_err"].to_numpy(float)
            inside = 100 * np.mean(np.abs(true[:, j] - y) <= err)
            parts.append(f"{name} {delta_p(y, true[:, j]):.2f} / {inside:.1f}")
        print(f"  {label}: " + " | ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished default run (simulated source)")
    run = ap.parse_args().run
    trust = load_trust(run / "results/models/spt_mahalanobis.pt")
    if trust is None or trust.errors.kind != "additive":
        raise SystemExit("the run's model has no additive error model to check")
    pairs = pairs_of(run)
    rows, res = predict_pairs(run, pairs)
    keep = res["clean"]
    print(f"{len(pairs)} stars with two spectra ({(pairs['model'] == 'paper').sum()} test, "
          f"the rest out-of-fold); both spectra unflagged: {keep.sum()}")  # fmt: skip
    rng = np.random.default_rng(SEED)
    for j, label in enumerate(trust.errors.labels):
        ratio = res["d"][keep, j] ** 2 / res["noise"][keep, j]
        inside = np.abs(res["d"][keep, j]) <= np.sqrt(res["noise"][keep, j])
        boot = [ratio[rng.integers(0, len(ratio), len(ratio))].mean() for _ in range(2000)]
        lo, hi = np.quantile(boot, [0.16, 0.84])
        print(f"{label}: lambda = {ratio.mean():.2f} [{lo:.2f}, {hi:.2f}], "
              f"within 1 sqrt(N1 + N2): {100 * inside.mean():.1f} %")  # fmt: skip
        snr = res["snr"][keep]
        d = res["d"][keep, j]
        for a, b in itertools.pairwise(BINS):
            m = (snr >= a) & (snr < b)
            if m.any():
                rms = np.sqrt(np.mean(d[m] ** 2))
                print(f"  lower S/N {a:g}-{b:g}: {m.sum()} pairs, lambda = {ratio[m].mean():.2f}, "
                      f"within {100 * inside[m].mean():.1f} %, RMS d {rms:.3f}")  # fmt: skip
    combined(run, rows, trust.errors.labels)


if __name__ == "__main__":
    main()
