"""Scores of a predictions table (``spt.io.predictions``): Delta_P, calibration, noise floor.

Each function scores the labels the table carries (`spt.io.predictions.frame_labels`): age and
mass by default, one of them for a model trained on ``features.labels: [mass]`` or ``[age]``.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from spt.io.predictions import PredictionFormatError, frame_labels
from spt.io.seismic import RED_CLUMP, RGB
from spt.model.flags import clean_params
from spt.model.uncertainty import STATE_COVARIATE, coverage_table
from spt.validation.metrics import delta_p, median_rel_residual, robust_scatter, score_table


def scores(frame: pd.DataFrame) -> dict[str, float]:
    """Delta_P and the other scores of metrics.score_table, for each label of the frame."""
    out: dict[str, float] = {}
    for label in frame_labels(frame):
        for name, value in score_table(frame[label], frame[f"{label}_true"]).items():
            out[f"{label}_{name}"] = value
    return out


def calibration(frame: pd.DataFrame) -> pd.DataFrame:
    """Fraction of stars whose catalogue label lies within 1 and 2 sigma of the prediction.

    Rows per label: "dropout" (the MC-dropout spread alone, when the frame has ``*_err_mc``),
    "prediction" (the quoted error) and "combined" (the quoted error and the label's own error
    in quadrature: the label is itself a measurement). Ideal coverage is 0.683 and 0.954.
    """
    rows = []
    for label in frame_labels(frame):
        pred_err = frame[f"{label}_err"].to_numpy(dtype=float)
        label_err = frame.get(f"e_{label}_true", pd.Series(0.0, index=frame.index)).to_numpy(float)
        kinds = [("prediction", pred_err), ("combined", np.hypot(pred_err, label_err))]
        if f"{label}_err_mc" in frame.columns:
            kinds.insert(0, ("dropout", frame[f"{label}_err_mc"].to_numpy(dtype=float)))
        for name, sigma in kinds:
            z = np.abs(frame[label] - frame[f"{label}_true"]).to_numpy(float) / sigma
            rows.append(
                {
                    "label": label,
                    "sigma": name,
                    "within_1sigma": float(np.mean(z <= 1.0)),
                    "within_2sigma": float(np.mean(z <= 2.0)),
                    "ideal_1sigma": 0.683,
                    "ideal_2sigma": 0.954,
                    "median_z": float(np.median(z)),
                    "n": len(z),
                }
            )
    return pd.DataFrame(rows)


def noise_floor(predictions: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Mock survey only: Delta_P of SPT and of the catalogue labels against the noise-free truth.

    ``truth`` is the simulator's truth table (obsid, age, mass). Rows: the predictions scored
    against the catalogue labels (what the paper reports), against the noise-free labels, and
    the catalogue labels against the noise-free labels (the floor a perfect model would reach
    when scored against the catalogue), for each label of the predictions.
    """
    labels = frame_labels(predictions)
    joined = predictions.merge(truth[["obsid", *labels]], on="obsid", suffixes=("", "_noisefree"))
    if len(joined) != len(predictions):
        raise PredictionFormatError("some predicted stars are missing from the truth table")
    rows = []
    for label in labels:
        pred, cat, clean = (
            joined[c].to_numpy(float) for c in (label, f"{label}_true", f"{label}_noisefree")
        )
        for name, value in (
            ("SPT vs catalogue labels", delta_p(pred, cat)),
            ("SPT vs noise-free labels", delta_p(pred, clean)),
            ("catalogue vs noise-free labels (floor)", delta_p(cat, clean)),
        ):
            rows.append({"label": label, "comparison": name, "delta_p": value})
    out = pd.DataFrame(rows)
    out["n"] = len(joined)
    return out


PHASES = {RGB: "RGB", RED_CLUMP: "RC"}  # group names of the evolutionary states
#: Edges of the calibration table's bins of the red-clump probability (the last includes 1):
#: confident branch, leaning branch, leaning clump, confident clump. A survey star has no
#: seismic state, only this probability, so these rows are the state rows a survey user can
#: apply to a catalogue row.
CLUMP_EDGES = (0.0, 0.01, 0.5, 0.99, 1.0)


def trust_groups(
    snr: np.ndarray,
    phase: np.ndarray | None = None,
    feh: np.ndarray | None = None,
    p_clump: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Masks of the calibration table: all stars, S/N quartiles (of these stars), RGB and RC,
    LAMOST [Fe/H] terciles when ``feh`` is given, and bins of the red-clump probability
    (`CLUMP_EDGES`) when ``p_clump`` is given.

    A quartile's name carries its S/N range, e.g. ``S/N Q1 [8, 31]``; a tercile its [Fe/H]
    range, e.g. ``[Fe/H] T1 [-0.89, -0.12]``; a probability bin its edges, e.g.
    ``P(RC) B4 [0.99, 1]``. Stars of unknown S/N, [Fe/H] (NaN, LAMOST's -9999) or probability
    are in no quartile, tercile or bin.
    """
    snr = np.asarray(snr, dtype=float)
    groups = {"all": np.ones(len(snr), dtype=bool)}
    groups.update(_quantile_groups(snr, 4, "S/N Q", ".0f"))
    if phase is not None:
        codes = pd.to_numeric(pd.Series(phase), errors="coerce").to_numpy()
        for code, name in PHASES.items():
            if (codes == code).any():
                groups[name] = codes == code
    if feh is not None:
        groups.update(_quantile_groups(clean_params(feh), 3, "[Fe/H] T", ".2f"))
    if p_clump is not None:
        groups.update(clump_bins(p_clump))
    return groups


def clump_bins(p_clump: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of the red-clump probability's bins (`CLUMP_EDGES`), named by their edges, e.g.
    ``P(RC) B4 [0.99, 1]``; NaN is in none."""
    p = np.asarray(p_clump, dtype=float)
    last = len(CLUMP_EDGES) - 2
    bins = {}
    for k, (lo, hi) in enumerate(pairwise(CLUMP_EDGES)):
        upper = p <= hi if k == last else p < hi
        close = "]" if k == last else ")"
        bins[f"P(RC) B{k + 1} [{lo:g}, {hi:g}{close}"] = (p >= lo) & upper
    return bins


def _quantile_groups(values: np.ndarray, n: int, prefix: str, fmt: str) -> dict[str, np.ndarray]:
    """Masks of ``n`` equal-count groups of the finite ``values`` (none when fewer than
    ``n`` are finite), named ``{prefix}{k} [lo, hi]`` with their range in ``fmt``."""
    known = np.isfinite(values)
    if known.sum() < n:
        return {}
    edges = np.quantile(values[known], np.arange(1, n) / n)
    which = np.where(known, np.digitize(values, edges), -1)
    groups = {}
    for k in range(n):
        mask = which == k
        if mask.any():
            lo, hi = values[mask].min(), values[mask].max()
            groups[f"{prefix}{k + 1} [{lo:{fmt}}, {hi:{fmt}}]"] = mask
    return groups


def _reference(frame: pd.DataFrame, label: str, truth: pd.DataFrame | None) -> tuple:
    """(reference values, quoted sigma to compare with, reference name) of one label.

    Against the noise-free truth (mock) the quoted sigma alone; against catalogue labels the
    label's own error is added in quadrature (the label is itself a measurement).
    """
    sigma = frame[f"{label}_err"].to_numpy(float)
    if truth is not None:
        ref = frame[["obsid"]].merge(truth[["obsid", label]].drop_duplicates("obsid"),
                                     on="obsid", how="left")[label].to_numpy(float)  # fmt: skip
        return ref, sigma, "noise-free truth"
    err = frame.get(f"e_{label}_true", pd.Series(0.0, index=frame.index)).to_numpy(float)
    return frame[f"{label}_true"].to_numpy(float), np.hypot(sigma, err), "catalogue label"


def calibration_by_group(
    frame: pd.DataFrame,
    snr: np.ndarray,
    phase: np.ndarray | None = None,
    truth: pd.DataFrame | None = None,
    feh: np.ndarray | None = None,
) -> pd.DataFrame:
    """Fraction within 1 and 2 sigma per label and group (`trust_groups`), and Delta_P.

    ``snr``, ``phase`` and ``feh`` (LAMOST's) are per row of ``frame``; the red-clump
    probability is the frame's own ``p_red_clump`` column, when it has one. With ``truth`` (the
    mock's truth table, obsid + labels) the reference is the noise-free value and sigma the
    quoted error; without it, the catalogue label with its error added (real data). Ideal:
    0.683 / 0.954.
    """
    p_clump = frame[STATE_COVARIATE].to_numpy(float) if STATE_COVARIATE in frame else None
    groups = trust_groups(snr, phase, feh, p_clump)
    rows = []
    for label in frame_labels(frame):
        ref, sigma, name = _reference(frame, label, truth)
        pred = frame[label].to_numpy(float)
        covered = coverage_table(pred - ref, sigma, groups)
        for group, mask in groups.items():
            n, within_1, within_2 = covered.get(group, (0, np.nan, np.nan))
            m = mask & np.isfinite(pred - ref) & np.isfinite(sigma)
            rows.append({
                "label": label, "reference": name, "group": group, "n": n,
                "within_1sigma": within_1, "within_2sigma": within_2,
                "delta_p": delta_p(pred[m], ref[m]) if n else np.nan,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _equal_count_bins(values: np.ndarray, good: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Indices of the ``good`` rows in ``n_bins`` equal-count bins of ``values`` (ascending);
    none when there are fewer good rows than bins."""
    rows = np.flatnonzero(good)
    if len(rows) < n_bins:
        return []
    return np.array_split(rows[np.argsort(values[rows], kind="stable")], n_bins)


def error_bins(
    frame: pd.DataFrame, truth: pd.DataFrame | None = None, n_bins: int = 6
) -> pd.DataFrame:
    """RMS error against the mean quoted sigma in ``n_bins`` equal-count bins of sigma.

    A ratio of 1 means the quoted sigma is the typical error of stars with that sigma; the
    reference is the one of `calibration_by_group`.
    """
    rows = []
    for label in frame_labels(frame):
        ref, sigma, name = _reference(frame, label, truth)
        err = frame[label].to_numpy(float) - ref
        good = np.isfinite(err) & np.isfinite(sigma)
        for k, idx in enumerate(_equal_count_bins(sigma, good, n_bins)):
            s, e = sigma[idx], err[idx]
            rms = float(np.sqrt(np.mean(e**2)))
            rows.append({
                "label": label, "reference": name, "bin": k + 1, "n": len(idx),
                "sigma_lo": float(s.min()), "sigma_hi": float(s.max()),
                "mean_sigma": float(s.mean()), "rms_error": rms,
                "rms_over_sigma": rms / float(s.mean()),
            })  # fmt: skip
    return pd.DataFrame(rows)


def trust_calibration(
    predictions: pd.DataFrame, sample: pd.DataFrame, truth: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """`calibration_by_group`, `error_bins` and `bias_by_bin` of a predictions table, each
    star's S/N (``snrg``), evolutionary state (``phase``) and LAMOST [Fe/H] (``feh_lamost``)
    taken from the sample table, its red-clump probability from the predictions."""
    info = sample.drop_duplicates("obsid").set_index("obsid").reindex(predictions["obsid"])
    phase = info["phase"].to_numpy() if "phase" in info else None
    feh = info["feh_lamost"].to_numpy(float) if "feh_lamost" in info else None
    return (
        calibration_by_group(predictions, info["snrg"].to_numpy(float), phase, truth, feh),
        error_bins(predictions, truth),
        bias_by_bin(predictions, truth),
    )


def bias_by_bin(
    frame: pd.DataFrame, truth: pd.DataFrame | None = None, n_bins: int = 6
) -> pd.DataFrame:
    """Median relative residual, robust scatter and Delta_P in equal-count bins of the
    reference value (catalogue label, and the noise-free truth when given), per label.

    Binned in the reference, not the prediction: a model that pulls the oldest stars down
    and the youngest up shows a falling median residual across the bins.
    """
    rows = []
    references: list[tuple[str, pd.DataFrame | None]] = [("catalogue label", None)]
    if truth is not None:
        references.append(("noise-free truth", truth))
    for label in frame_labels(frame):
        pred = frame[label].to_numpy(float)
        for name, table in references:
            ref = _reference(frame, label, table)[0]
            good = np.isfinite(pred) & np.isfinite(ref) & (ref > 0)
            for k, idx in enumerate(_equal_count_bins(ref, good, n_bins)):
                p, r = pred[idx], ref[idx]
                rows.append({
                    "label": label, "reference": name, "bin": k + 1, "n": len(idx),
                    "ref_lo": float(r.min()), "ref_hi": float(r.max()),
                    "median_rel_residual": median_rel_residual(p, r),
                    "robust_scatter": robust_scatter(p, r), "delta_p": delta_p(p, r),
                })  # fmt: skip
    return pd.DataFrame(rows)
