"""Every result figure is written as a valid PDF and PNG, byte-identical when drawn again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from spt.paper.plots import results
from spt.validation.clusters import summarise_clusters
from spt.validation.isochrones import compare_isochrone_ages

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOTE = "simulated survey — not the paper's data"


def predictions(n: int = 80, seed: int = 0) -> pd.DataFrame:
    """A predictions table of the common format with MC-dropout-like errors."""
    rng = np.random.default_rng(seed)
    mass = rng.uniform(0.9, 2.0, n)
    age = 10 ** (1.0 - 1.5 * np.log10(mass) + 0.08 * rng.standard_normal(n))
    return pd.DataFrame(
        {
            "obsid": np.arange(n) + 1,
            "kic": np.arange(n) + 1000,
            "age": age * np.exp(0.18 * rng.standard_normal(n)),
            "age_err": 0.15 * age,
            "mass": mass * (1 + 0.07 * rng.standard_normal(n)),
            "mass_err": 0.06 * mass,
            "age_true": age,
            "e_age_true": 0.1 * age,
            "mass_true": mass,
            "e_mass_true": 0.04 * mass,
        }
    )


def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {"model": ["SPT", "MLP", "Random forest"], "age_delta_p": [19.0, 24.0, 27.0],
         "mass_delta_p": [7.0, 9.0, 10.0], "age_robust_scatter": [20.0, 25.0, 28.0],
         "mass_robust_scatter": [8.0, 10.0, 11.0]}
    )  # fmt: skip


def seed_scores() -> pd.DataFrame:
    """Fig. 8's scores with three training seeds for SPT and the MLP, one run for ridge."""
    return pd.DataFrame(
        {"model": ["SPT", "SPT", "SPT", "ridge", "MLP", "MLP", "MLP"],
         "age_delta_p": [18.0, 19.0, 20.5, 27.0, 24.0, 23.0, 26.0],
         "mass_delta_p": [7.0, 7.4, 7.2, 10.0, 9.0, 9.5, 8.5],
         "age_robust_scatter": [20.0, 21.0, 22.0, 28.0, 25.0, 25.0, 25.0],
         "mass_robust_scatter": [8.0, 8.0, 9.0, 11.0, 10.0, 10.5, 9.5]}
    )  # fmt: skip


def loss_scores() -> pd.DataFrame:
    return pd.DataFrame(
        {"loss": ["mse", "mse", "zscore_mse", "mahalanobis", "mahalanobis"],
         "age_delta_p": [22.0, 23.0, 20.0, 18.0, 18.6], "mass_delta_p": [8.0, 8.4, 7.6, 7.0, 7.1]}
    )  # fmt: skip


def isochrone_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    pred = predictions(60, seed=1)
    rng = np.random.default_rng(2)
    iso = pd.DataFrame(
        {"obsid": pred["obsid"], "ra": 0.0, "dec": 0.0,
         "age_iso": pred["age_true"] * np.exp(0.3 * rng.standard_normal(60)),
         "e_age_iso": 0.3 * pred["age_true"]}
    )  # fmt: skip
    matched = pd.DataFrame({"obsid": pred["obsid"], "phase": np.r_[np.ones(40), np.full(20, 2)]})
    return compare_isochrone_ages(pred, iso, matched)


def cluster_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(4)
    rows = []
    for name, k, age in (("NGC 6791", 12, 8.0), ("NGC 6819", 6, 2.4), ("M67", 1, 4.0)):
        for j in range(k):
            rows.append(
                {"cluster": name, "member_id": f"{name}-{j}", "obsid": j,
                 "age": age * np.exp(0.2 * rng.standard_normal()), "age_err": 0.2 * age,
                 "mass": 1.2 + 0.05 * rng.standard_normal(), "mass_err": 0.08}
            )  # fmt: skip
    cfg = [
        {"name": "NGC 6791", "log_age": 9.80, "e_log_age": 0.05, "feh": 0.4},
        {"name": "NGC 6819", "log_age": 9.35, "e_log_age": 0.05, "mass": 1.6, "e_mass": 0.1},
        {"name": "NGC 6811", "log_age": 9.03, "e_log_age": 0.05},
        {"name": "M67", "log_age": 9.63, "e_log_age": 0.05},
    ]
    preds = pd.DataFrame(rows)
    return preds, summarise_clusters(preds, cfg)


def history() -> pd.DataFrame:
    epoch = np.arange(1, 31)
    return pd.DataFrame(
        {"epoch": epoch, "train_loss": 2.0 * np.exp(-epoch / 10) + 0.3,
         "val_loss": 2.0 * np.exp(-epoch / 10) + 0.4 + 0.01 * np.clip(epoch - 20, 0, None),
         "lr": 1e-3 * np.cos(epoch / 31 * np.pi / 2) ** 2 + 1e-6, "seconds": 1.0}
    )  # fmt: skip


def _feh(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(feh=np.linspace(0.3, -0.6, len(frame)))


#: One call per figure function, drawn twice to check byte-reproducibility.
FIGURES: dict[str, Callable[[Path], Path]] = {
    "pred_vs_true": lambda p: results.plot_pred_vs_true(predictions(), p, "SPT", note=NOTE),
    "uncertainties": lambda p: results.plot_uncertainties(predictions(), p, note=NOTE),
    "baselines": lambda p: results.plot_baseline_comparison(scores(), p, note=NOTE),
    "baselines_seeds": lambda p: results.plot_baseline_comparison(seed_scores(), p, note=NOTE),
    "loss_ablation": lambda p: results.plot_loss_ablation(loss_scores(), p, note=NOTE),
    "isochrones": lambda p: results.plot_isochrone_comparison(*isochrone_inputs(), p, note=NOTE),
    "clusters": lambda p: results.plot_clusters(*cluster_inputs(), p, note=NOTE),
    "age_chemistry": lambda p: results.plot_age_chemistry(_feh(predictions()), p, note=NOTE),
    "training_curve": lambda p: results.plot_training_curve(history(), p, note=NOTE),
}

#: Other branches (many stars, scores indexed by model, density colouring), drawn once.
VARIANTS: dict[str, Callable[[Path], Path]] = {
    "pred_vs_true_dense": lambda p: results.plot_pred_vs_true(predictions(400), p),
    "baselines_index": lambda p: results.plot_baseline_comparison(
        scores().set_index("model")[["age_delta_p", "mass_delta_p"]], p
    ),
    "age_chemistry_density": lambda p: results.plot_age_chemistry(
        _feh(predictions()), p, color_by="density"
    ),
}


def _check_files(pdf: Path, expected: Path) -> tuple[bytes, bytes]:
    png = pdf.with_suffix(".png")
    assert pdf == expected
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 1000
    return pdf.read_bytes(), png.read_bytes()


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_is_valid_and_reproducible(name: str, tmp_path: Path) -> None:
    first, second = (
        _check_files(FIGURES[name](tmp_path / run / f"{name}.pdf"), tmp_path / run / f"{name}.pdf")
        for run in ("first", "second")
    )
    assert first == second


@pytest.mark.parametrize("name", list(VARIANTS))
def test_figure_variant_is_valid(name: str, tmp_path: Path) -> None:
    _check_files(VARIANTS[name](tmp_path / f"{name}.pdf"), tmp_path / f"{name}.pdf")


def test_invalid_inputs_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no finite value"):
        results.plot_uncertainties(predictions().assign(age_err=np.nan), tmp_path / "u.pdf")
    with pytest.raises(ValueError, match="mass_delta_p"):
        results.plot_baseline_comparison(scores().drop(columns="mass_delta_p"), tmp_path / "b.pdf")
    with pytest.raises(ValueError, match="color_by"):
        results.plot_age_chemistry(predictions().assign(feh=0.0), tmp_path / "a.pdf", "teff")
    with pytest.raises(ValueError, match="empty"):
        results.plot_training_curve(history().iloc[:0], tmp_path / "t.pdf")
    assert not list(tmp_path.iterdir())


def _mass_only(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.startswith(("age", "e_age"))])


#: Figures of a model trained on mass alone (features.labels = [mass]): one column of panels.
MASS_ONLY: dict[str, Callable[[Path], Path]] = {
    "pred_vs_true": lambda p: results.plot_pred_vs_true(_mass_only(predictions()), p, "SPT"),
    "uncertainties": lambda p: results.plot_uncertainties(_mass_only(predictions()), p),
    "baselines": lambda p: results.plot_baseline_comparison(_mass_only(scores()), p),
    "loss_ablation": lambda p: results.plot_loss_ablation(_mass_only(loss_scores()), p),
    "clusters": lambda p: results.plot_clusters(
        *(_mass_only(f) for f in cluster_inputs()), p, note=NOTE
    ),
}
#: Panels each mass-only figure has: (rows of panels) x one label.
MASS_ONLY_PANELS = {"pred_vs_true": 2, "uncertainties": 2, "baselines": 2, "loss_ablation": 1,
                    "clusters": 1}  # fmt: skip


def _drawn_texts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[str]]]:
    """Record every saved figure's number of axes and its texts (titles, labels, ticks)."""
    drawn: list[tuple[int, list[str]]] = []
    save = results.save_figure

    def spy(fig: Any, path: Path) -> Any:
        texts: list[str] = []
        for ax in fig.axes:
            texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
            texts += [t.get_text() for t in ax.texts]
            texts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        drawn.append((len(fig.axes), texts + [t.get_text() for t in fig.texts]))
        return save(fig, path)

    monkeypatch.setattr(results, "save_figure", spy)
    return drawn


@pytest.mark.parametrize("name", list(MASS_ONLY))
def test_mass_only_figures_have_mass_panels_only(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = _drawn_texts(monkeypatch)
    pdf = MASS_ONLY[name](tmp_path / f"{name}.pdf")
    _check_files(pdf, tmp_path / f"{name}.pdf")
    ((n_axes, texts),) = drawn
    words = " ".join(texts).lower()
    assert "mass" in words and "age" not in words, words
    assert n_axes == MASS_ONLY_PANELS[name]


def test_placeholder_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _drawn_texts(monkeypatch)
    text = "no ages: features.labels = [mass]"
    pdf = results.plot_placeholder(tmp_path / "fig10.pdf", text, title="fig10", note=NOTE)
    _check_files(pdf, tmp_path / "fig10.pdf")
    n_axes, texts = drawn[0]
    assert n_axes == 1 and text in texts and "fig10" in texts and NOTE in texts


def _bars_drawn(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[list[str], Any, Any]]]:
    """Record, per saved figure and axes, the bar names, heights and error-bar half-lengths."""
    drawn: list[list[tuple[list[str], Any, Any]]] = []
    save = results.save_figure

    def spy(fig: Any, path: Path) -> Any:
        panels = []
        fig.canvas.draw()  # tick labels get their text when drawn
        for ax in fig.axes:
            bars = next(c for c in ax.containers if isinstance(c, BarContainer))
            heights = np.array([b.get_height() for b in bars])
            half = None
            if bars.errorbar is not None:
                segments = bars.errorbar.lines[2][0].get_segments()
                half = np.array(  # a run without a bar (NaN) has an empty segment
                    [(seg[1][1] - seg[0][1]) / 2 if len(seg) else np.nan for seg in segments]
                )
            names = [t.get_text() for t in ax.get_xticklabels()]
            panels.append((names, heights, half))
        drawn.append(panels)
        return save(fig, path)

    monkeypatch.setattr(results, "save_figure", spy)
    return drawn


def test_seed_scatter_is_drawn_as_error_bars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fig. 8 and Fig. 9: a bar per model (first-row order) at the mean over seeds, its error bar
    the standard deviation over seeds (ddof 1), none for a single run."""
    drawn = _bars_drawn(monkeypatch)
    results.plot_baseline_comparison(seed_scores(), tmp_path / "f8.pdf")
    results.plot_loss_ablation(loss_scores(), tmp_path / "f9.pdf")
    (age, mass, age_scatter, _), (age9, _) = drawn
    _, heights, half = age
    assert age_scatter[0] == ["SPT", "ridge", "MLP"]  # the bottom row carries the names
    np.testing.assert_allclose(heights, [19.1666667, 27.0, 24.3333333])
    np.testing.assert_allclose(half, [np.std([18, 19, 20.5], ddof=1), np.nan,
                                      np.std([24, 23, 26], ddof=1)])  # fmt: skip
    np.testing.assert_allclose(mass[1], [7.2, 10.0, 9.0])
    np.testing.assert_allclose(age_scatter[2], [1.0, np.nan, 0.0])  # MLP: 25, 25, 25
    assert age9[0] == ["MSE", "z-scored MSE", "Mahalanobis"]
    np.testing.assert_allclose(age9[1], [22.5, 20.0, 18.3])
    np.testing.assert_allclose(
        age9[2], [np.std([22, 23], ddof=1), np.nan, np.std([18, 18.6], ddof=1)]
    )
    results.plot_baseline_comparison(scores(), tmp_path / "one.pdf")
    assert all(half is None for _, _, half in drawn[-1])  # one run each: no error bars
