"""Snakemake adapter: draw the figure of the paper that the calling rule is named after.

Figures that need a label the model did not learn (``features.labels``: Figs. 10 and 12 need
ages, Fig. 3 both labels) draw a placeholder that says so instead of failing.
"""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)
import pandas as pd

from spt.io.lamost import read_spectrum
from spt.io.manifest import paths_for, read_manifest
from spt.io.predictions import LABELS, frame_labels, read_predictions
from spt.logs import log_to
from spt.paper.plots.diagrams import plot_attention, plot_framework
from spt.paper.plots.losses import plot_loss_preference
from spt.paper.plots.preprocessing import (
    pick_examples,
    plot_anomaly_examples,
    plot_label_densities,
    plot_pca_variance,
)
from spt.paper.plots.results import (
    plot_age_chemistry,
    plot_baseline_comparison,
    plot_clusters,
    plot_isochrone_comparison,
    plot_loss_ablation,
    plot_placeholder,
    plot_pred_vs_true,
    plot_training_curve,
    plot_uncertainties,
)
from spt.prep.features import load_pca
from spt.validation.evaluate import scores


def fig01(smk) -> None:
    pca = load_pca(smk.input.pca)
    n_pixels = len(pca["wavelength"])
    model = {**smk.params.model, "loss": smk.params.loss}
    plot_framework(model, pca["pca"].n_components_, n_pixels, smk.output.pdf)


def fig02(smk) -> None:
    plot_attention(smk.params.model, smk.output.pdf)


def _missing_labels(smk, needed: tuple[str, ...]) -> bool:
    """Draw the placeholder when the model lacks a label the figure needs (then True)."""
    learnt = tuple(smk.params.labels)
    if set(needed) <= set(learnt):
        return False
    missing = " and ".join(f"no {x}s" for x in needed if x not in learnt)
    text = f"{missing}: features.labels = [{', '.join(learnt)}]"
    plot_placeholder(smk.output.pdf, text, title=smk.rule, note=smk.params.note)
    return True


def fig03(smk) -> None:
    if _missing_labels(smk, LABELS):
        return
    sample = pd.read_csv(smk.input.sample)
    plot_loss_preference(sample[["age", "mass"]].to_numpy(), smk.output.pdf, note=smk.params.note)


def fig04(smk) -> None:
    report = pd.read_csv(smk.input.report)
    manifest = read_manifest(smk.input.manifest)
    examples = pick_examples(report, lambda obsid: read_spectrum(paths_for(manifest, [obsid])[0]))
    plot_anomaly_examples(examples, smk.output.pdf)


def fig05(smk) -> None:
    plot_label_densities(
        pd.read_csv(smk.input.matched), pd.read_csv(smk.input.sample), smk.output.pdf
    )


def pca_variance(smk) -> None:
    plot_pca_variance(load_pca(smk.input.pca)["pca"], smk.output.pdf)


def fig06(smk) -> None:
    pred = read_predictions(smk.input.predictions)
    plot_pred_vs_true(pred, smk.output.pdf, title="SPT, test split", note=smk.params.note)


def best_baseline(smk) -> None:
    """Fig. 6 for the baseline (training mean excluded) with the lowest age + mass Delta_P."""
    table = _scores(smk).drop(index="mean", errors="ignore")
    labels = [x for x in LABELS if f"{x}_delta_p" in table.columns]
    best = sum(table[f"{x}_delta_p"] for x in labels).idxmin()
    pred = read_predictions(smk.input[best])
    plot_pred_vs_true(pred, smk.output.pdf, title=f"best baseline: {best}", note=smk.params.note)


def fig07(smk) -> None:
    plot_uncertainties(
        read_predictions(smk.input.predictions), smk.output.pdf, note=smk.params.note,
        groups=pd.read_csv(smk.input.groups),
    )  # fmt: skip


def _scores(smk) -> pd.DataFrame:
    """One row of scores per named input predictions file, in the rule's order."""
    rows = {name: scores(read_predictions(path)) for name, path in smk.input.items()}
    return pd.DataFrame(rows).T


def _seed_scores(smk, key: str) -> pd.DataFrame:
    """One row of scores per run over training seeds of each named input (its files, main run
    first), ``key`` naming the input: the seed scatter of Figs. 8 and 9 (compare.seeds)."""
    rows = [
        {key: name, **scores(read_predictions(path))}
        for name, paths in smk.input.items()
        for path in ([paths] if isinstance(paths, str) else paths)
    ]
    return pd.DataFrame(rows)


def fig08(smk) -> None:
    plot_baseline_comparison(_seed_scores(smk, "model"), smk.output.pdf, note=smk.params.note)


def fig09(smk) -> None:
    plot_loss_ablation(_seed_scores(smk, "loss"), smk.output.pdf, note=smk.params.note)


def fig10(smk) -> None:
    if _missing_labels(smk, ("age",)):
        return
    per_star, summary = pd.read_csv(smk.input.per_star), pd.read_csv(smk.input.summary)
    plot_isochrone_comparison(per_star, summary, smk.output.pdf, note=smk.params.note)


def fig11(smk) -> None:
    members, summary = pd.read_csv(smk.input.members), pd.read_csv(smk.input.summary)
    members = members.dropna(subset=list(frame_labels(members)))
    plot_clusters(members, summary, smk.output.pdf, note=smk.params.note)


def fig12(smk) -> None:
    if _missing_labels(smk, ("age",)):
        return
    pred = pd.read_csv(smk.input.predictions)
    matched = pd.read_csv(smk.input.matched)[["obsid", "feh"]]
    color_by = "mass" if "mass" in pred.columns else "density"  # an age-only model: star counts
    plot_age_chemistry(
        pred.merge(matched, on="obsid"), smk.output.pdf, color_by=color_by, note=smk.params.note
    )


def training_curve(smk) -> None:
    plot_training_curve(pd.read_csv(smk.input.history), smk.output.pdf, note=smk.params.note)


FIGURES = {
    f.__name__: f
    for f in (
        fig01, fig02, fig03, fig04, fig05, fig06, fig07, fig08, fig09, fig10, fig11, fig12,
        pca_variance, training_curve, best_baseline,
    )
}  # fmt: skip


def main(smk) -> None:
    with log_to(smk.log[0]):
        FIGURES[smk.rule](smk)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
