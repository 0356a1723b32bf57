"""Per-star errors and quality flags of a finished run, measured on a mock field survey.

Given a run directory (default /tmp/before, a finished default run), draws a field survey
(giants like the training set, stars it lacks, a shifted population), preprocesses and
projects it with the run's own settings and PCA, predicts with the run's model (MC dropout),
fits the error model and the domain model on the run's train/val splits, and prints
coverage against the noise-free truth, RMS/sigma per sigma bin, flag precision and recall.

    python benchmarks/bench_uncertainty_flags.py [--run /tmp/before] [--n-spectra 3000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from spt.io.predictions import load_split
from spt.model.flags import Flag, fit_domain_model, quality_flags, reconstruction_chi2
from spt.model.predict import predict_mc
from spt.model.store import load_model
from spt.model.uncertainty import (
    coverage_table,
    fit_error_floor,
    fit_error_model,
    total_std,
)
from spt.prep.features import load_pca, transform_spectra
from spt.prep.spectra import (
    common_grid,
    load_spectra,
    merge_config,
    preprocess_files,
    template_from_npz,
)
from spt.sources.simulate import simulate_field_survey
from spt.validation.metrics import delta_p

LABELS = ("age", "mass")
ANOMALIES = ("oscillation", "missing", "outlier", "negative")


def groups(snr: np.ndarray, phase: np.ndarray) -> dict[str, np.ndarray]:
    """Masks: all, S/N quartiles (of these stars) and evolutionary states."""
    q = np.quantile(snr, [0.25, 0.5, 0.75])
    b = np.digitize(snr, q)
    out = {"all": np.ones(len(snr), bool)}
    for k in range(4):
        lo = snr[b == k].min() if (b == k).any() else np.nan
        hi = snr[b == k].max() if (b == k).any() else np.nan
        out[f"S/N Q{k + 1} [{lo:.0f},{hi:.0f}]"] = b == k
    for code, name in ((1, "RGB"), (2, "RC"), (0, "dwarf/subgiant")):
        if (phase == code).any():
            out[name] = phase == code
    return out


def print_coverage(
    title: str, pred: np.ndarray, truth: np.ndarray, sigmas: dict[str, np.ndarray], g: dict
) -> None:
    """Within 1 and 2 sigma of the truth per group, one column pair per error variant."""
    print(f"\n== {title}: fraction within 1σ / 2σ of the noise-free truth (ideal .683/.954)")
    for j, label in enumerate(LABELS):
        tables = {
            name: coverage_table(pred[:, j] - truth[:, j], s[:, j], g) for name, s in sigmas.items()
        }
        head = "".join(f"{name:>22s}" for name in sigmas)
        print(f"  {label:5s} {'group':24s}{'n':>6s}{head}")
        for key in g:
            if key not in next(iter(tables.values())):
                continue
            n = next(iter(tables.values()))[key][0]
            cells = "".join(
                f"{tables[name][key][1]:>14.3f} / {tables[name][key][2]:.3f}" for name in sigmas
            )
            print(f"        {key:24s}{n:6d}{cells}")


def print_binned(title: str, pred: np.ndarray, truth: np.ndarray, sigma: np.ndarray) -> None:
    """RMS error / mean quoted sigma in quantile bins of sigma (>= 30 stars per bin)."""
    print(f"\n== {title}: RMS error / mean quoted σ per σ bin (goal 0.8-1.25)")
    for j, label in enumerate(LABELS):
        s, err = sigma[:, j], pred[:, j] - truth[:, j]
        n_bins = max(1, min(6, len(s) // 30))
        edges = np.quantile(s, np.linspace(0, 1, n_bins + 1))
        b = np.clip(np.digitize(s, edges[1:-1]), 0, n_bins - 1)
        cells = []
        for k in range(n_bins):
            m = b == k
            if m.sum() >= 30:
                ratio = np.sqrt(np.mean(err[m] ** 2)) / np.mean(s[m])
                cells.append(f"[{edges[k]:.2f},{edges[k + 1]:.2f}] n={m.sum()} {ratio:.2f}")
        print(f"  {label:5s} " + " | ".join(cells))


def split_arrays(run: Path, model: Any, passes: int, seed: int) -> dict[str, dict[str, Any]]:
    """Features, labels, MC predictions, S/N, LAMOST parameters, truth of train/val/test."""
    sample = pd.read_csv(run / "results/data/sample.csv").set_index("obsid")
    truth = pd.read_csv(run / "resources/simulated/truth.csv").drop_duplicates("obsid")
    truth = truth.set_index("obsid")
    spectra = load_spectra(run / "results/data/spectra.npz")
    row_of = pd.Series(np.arange(len(spectra["obsid"])), index=spectra["obsid"])
    bundle = load_pca(run / "results/features/pca.joblib")
    out: dict[str, dict[str, Any]] = {}
    for name in ("train", "val", "test"):
        s = load_split(run / f"results/features/{name}.npz")
        ids = s["obsid"]
        s["snr"] = sample.loc[ids, "snrg"].to_numpy(float)
        s["params"] = sample.loc[ids, ["teff_lamost", "logg_lamost", "feh_lamost"]].to_numpy(float)
        s["truth"] = truth.loc[ids, ["age", "mass"]].to_numpy(float)
        s["phase"] = truth.loc[ids, "phase"].to_numpy(int)
        if name != "train":
            s["mean"], s["std_mc"] = predict_mc(model, s["X"], passes=passes, seed=seed)
            rows = row_of.loc[ids].to_numpy()
            s["chi2"] = reconstruction_chi2(
                bundle["pca"], bundle["fill"], spectra["flux"][rows], spectra["ivar"][rows]
            )
        out[name] = s
    return out


def field_arrays(
    run: Path, cfg: dict, out: Path, n: int, shifted: float, seed: int, passes: int, workers: int
) -> dict[str, Any]:
    """Simulate, preprocess, project and predict the field survey."""
    t0 = time.perf_counter()
    field = {"n_spectra": n, "shifted_fraction": shifted}
    simulate_field_survey(cfg["simulate"], seed, out, workers=workers, field=field)
    truth = pd.read_csv(out / "truth.csv", keep_default_na=False)
    cat = pd.read_csv(out / "lamost_catalog.csv").set_index("obsid").loc[truth["obsid"]]
    t1 = time.perf_counter()
    pcfg = merge_config(cfg["preprocess"]["spectra"])
    grid = common_grid(pcfg["wave_min"], pcfg["wave_max"], pcfg["log_step"])
    paths = [out / "spectra" / f"{o}.fits.gz" for o in truth["obsid"]]
    report = preprocess_files(
        paths, list(truth["obsid"]), grid, pcfg, workers=workers, out_path=out / "spectra.npz",
        anomaly_cfg=cfg.get("anomalies", {}), progress=False,
        template=template_from_npz(run / "results/data/spectra.npz"),
    )  # fmt: skip
    spectra = load_spectra(out / "spectra.npz")
    t2 = time.perf_counter()
    ok = report["ok"].to_numpy(bool)
    bundle = load_pca(run / "results/features/pca.joblib")
    k = bundle["pca"].n_components_
    X = np.full((len(truth), k), np.nan)
    X[ok] = transform_spectra(bundle, spectra["flux"][ok], spectra["ivar"][ok])
    chi2 = np.full(len(truth), np.nan)
    chi2[ok] = reconstruction_chi2(
        bundle["pca"], bundle["fill"], spectra["flux"][ok], spectra["ivar"][ok]
    )
    mean = np.full((len(truth), 2), np.nan)
    std = np.full((len(truth), 2), np.nan)
    model = load_model(run / "results/models/spt.pt", device="cpu")
    mean[ok], std[ok] = predict_mc(model, X[ok].astype(np.float32), passes=passes, seed=seed)
    t3 = time.perf_counter()
    print(
        f"field survey: {len(truth)} spectra; simulate {t1 - t0:.0f} s, preprocess "
        f"{t2 - t1:.0f} s, PCA + MC dropout {t3 - t2:.0f} s; {int((~ok).sum())} unreadable"
    )
    return {
        "truth": truth,
        "report": report,
        "ok": ok,
        "X": X,
        "chi2": chi2,
        "mean": mean,
        "std_mc": std,
        "snr": cat["snrg"].to_numpy(float),
        "params": cat[["teff", "logg", "feh"]].to_numpy(float),
    }


def main() -> None:
    """Run the benchmark and print its tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("/tmp/before"))
    ap.add_argument("--n-spectra", type=int, default=3000)
    ap.add_argument("--shifted-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--passes", type=int, default=None, help="MC passes (default: the config's)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--percentile", type=float, default=99.0)
    args = ap.parse_args()
    run = args.run
    cfg_path = run / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    passes = args.passes or int(cfg["predict"]["mc_passes"])
    model = load_model(run / "results/models/spt.pt", device="cpu")
    t0 = time.perf_counter()
    sp = split_arrays(run, model, passes, args.seed)
    print(f"splits predicted with {passes} MC passes in {time.perf_counter() - t0:.0f} s")
    tr, va, te = sp["train"], sp["val"], sp["test"]

    # ------------------------------------------------------------ error models on validation
    domain = fit_domain_model(
        tr["X"], tr["snr"], tr["params"], tr["y"], va["X"], va["mean"], va["std_mc"],
        va["chi2"], percentile=args.percentile,
    )  # fmt: skip
    n_comp = tr["X"].shape[1]

    def dist(X: np.ndarray) -> np.ndarray:
        return domain.mahalanobis(X) / np.sqrt(n_comp)

    floors = np.array(
        [fit_error_floor(va["mean"][:, j], va["std_mc"][:, j], va["y"][:, j], va["y_err"][:, j])
         for j in range(2)]
    )  # fmt: skip
    em = fit_error_model(va["mean"], va["std_mc"], va["snr"], va["y"], va["y_err"])
    em_c = fit_error_model(
        va["mean"], va["std_mc"], va["snr"], va["y"], va["y_err"], scale_method="coverage"
    )
    em_d = fit_error_model(
        va["mean"], va["std_mc"], va["snr"], va["y"], va["y_err"], distance=dist(va["X"])
    )
    print("\nerror model (S/N + MC): terms", em.terms, "coef", np.round(em.coef, 3).tolist(),
          "scale", np.round(em.scale, 3).tolist())  # fmt: skip
    print("error model (+ distance): coef", np.round(em_d.coef, 3).tolist(),
          "scale", np.round(em_d.scale, 3).tolist())  # fmt: skip
    print("coverage-step scale (brief's variant):", np.round(em_c.scale, 3).tolist())
    print("constant floor f:", np.round(floors, 3).tolist())

    def variants(s: dict[str, Any]) -> dict[str, np.ndarray]:
        return {
            "constant floor": total_std(s["mean"], s["std_mc"], floors),
            "per-star S/N+MC": em.sigma(s["mean"], s["std_mc"], s["snr"]),
            "same, coverage scale": em_c.sigma(s["mean"], s["std_mc"], s["snr"]),
            "per-star +distance": em_d.sigma(s["mean"], s["std_mc"], s["snr"], dist(s["X"])),
        }

    for name, s in (("validation (fit split)", va), ("test split", te)):
        print_coverage(name, s["mean"], s["truth"], variants(s), groups(s["snr"], s["phase"]))

    # ------------------------------------------------------------ field survey
    with tempfile.TemporaryDirectory() as tmp:
        f = field_arrays(run, cfg, Path(tmp) / "field", args.n_spectra, args.shifted_fraction,
                         args.seed, passes, args.workers)  # fmt: skip
    truth = f["truth"]
    n = len(truth)
    flags = quality_flags(
        domain, n, readable=f["ok"], anomalies={a: f["report"][a] for a in ANOMALIES},
        snr=f["snr"], features=f["X"], params=f["params"], mean=f["mean"],
        std_mc=f["std_mc"], chi2=f["chi2"],
    )  # fmt: skip
    te_flags = quality_flags(
        domain, len(te["y"]), snr=te["snr"], features=te["X"], params=te["params"],
        mean=te["mean"], std_mc=te["std_mc"], chi2=te["chi2"],
    )  # fmt: skip
    domain_col = truth["domain"].to_numpy()
    ood = domain_col != "in"
    anomalous = truth["anomaly"].to_numpy() != ""
    flagged = (flags["flag_warn"] | flags["flag_bad"]).to_numpy()
    fl = flags["flag"].to_numpy()

    print(f"\n== flags (thresholds at the validation {args.percentile:g}th percentile)")
    print(f"  in-domain TEST stars flagged warn|bad: {te_flags['flag_warn'].mean():.3f}"
          f" (bad {te_flags['flag_bad'].mean():.3f}); goal <= 0.05")  # fmt: skip
    for bit in Flag:
        if bit.value > int(Flag.ANOMALY_NEGATIVE):
            print(f"      test {bit.name:24s} {np.mean(te_flags['flag'].to_numpy() & bit > 0):.3f}")
    clean_in = ~ood & ~anomalous
    print(
        f"  clean in-domain FIELD giants flagged: {flagged[clean_in].mean():.3f} "
        f"(base {flagged[clean_in & (truth['population'] == 'base')].mean():.3f}, "
        f"shifted {flagged[clean_in & (truth['population'] == 'shifted')].mean():.3f})"
    )
    print(
        f"  OOD stars flagged warn|bad: {flagged[ood].mean():.3f} "
        f"(bad {flags['flag_bad'].to_numpy()[ood].mean():.3f}); goal >= 0.95"
    )
    for kind in sorted(set(domain_col[ood])):
        m = domain_col == kind
        print(
            f"      {kind:12s} n={m.sum():4d} flagged {flagged[m].mean():.3f}"
            f"  bad {flags['flag_bad'].to_numpy()[m].mean():.3f}"
        )
    print(f"  anomalous spectra flagged: {flagged[anomalous].mean():.3f}")
    print("  per bit, as a detector of injected OOD stars:")
    print(f"      {'bit':24s}{'n set':>7s}{'precision':>11s}{'recall':>8s}")
    for bit in Flag:
        on = (fl & bit) > 0
        prec = ood[on].mean() if on.any() else np.nan
        print(f"      {bit.name:24s}{on.sum():7d}{prec:11.3f}{on[ood].mean():8.3f}")

    # ------------------------------------------------------------ field coverage, unflagged
    use = ~flagged & f["ok"]
    tf = truth[["age", "mass"]].to_numpy(float)
    phase = truth["phase"].to_numpy(int)
    pops = truth["population"].to_numpy()
    for title, m in (
        ("unflagged field stars, all (incl. undetected OOD)", use),
        ("unflagged in-domain field giants, base population", use & ~ood & (pops == "base")),
        ("unflagged field giants, shifted population", use & (pops == "shifted")),
    ):
        if m.sum() < 40:
            continue
        sub = {k: v[m] for k, v in f.items() if isinstance(v, np.ndarray) and len(v) == n}
        print_coverage(title, sub["mean"], tf[m], variants(sub), groups(sub["snr"], phase[m]))
    em_sig_te = em.sigma(te["mean"], te["std_mc"], te["snr"])
    print_binned("test split, per-star S/N+MC σ", te["mean"], te["truth"], em_sig_te)
    print_binned("test split, constant floor σ", te["mean"], te["truth"],
                 total_std(te["mean"], te["std_mc"], floors))  # fmt: skip
    for title, m in (
        ("unflagged field stars", use),
        ("unflagged in-domain field giants", use & ~ood),
    ):
        em_sig_f = em.sigma(f["mean"][m], f["std_mc"][m], f["snr"][m])
        print_binned(f"{title}, per-star S/N+MC σ", f["mean"][m], tf[m], em_sig_f)

    print("\n== Δ_P (%) against the noise-free truth")
    rows = [("test split", te["mean"], te["truth"])]
    for pop in ("base", "shifted"):
        m = use & (truth["population"].to_numpy() == pop) & ~ood
        rows.append((f"field in-domain unflagged, {pop}", f["mean"][m], tf[m]))
    rows.append(("field OOD, flagged", f["mean"][ood & flagged & f["ok"]],
                 tf[ood & flagged & f["ok"]]))  # fmt: skip
    rows.append(("field OOD, unflagged", f["mean"][ood & ~flagged & f["ok"]],
                 tf[ood & ~flagged & f["ok"]]))  # fmt: skip
    for name, p, t in rows:
        keep = np.isfinite(p).all(axis=1) & np.isfinite(t).all(axis=1)
        p, t = p[keep], t[keep]
        if len(p):
            print(
                f"  {name:36s} n={len(p):5d}  age {delta_p(p[:, 0], t[:, 0]):6.1f}"
                f"  mass {delta_p(p[:, 1], t[:, 1]):6.1f}"
            )


if __name__ == "__main__":
    main()
