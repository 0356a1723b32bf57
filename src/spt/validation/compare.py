"""Comparisons of models that hold beyond one training seed (ours; the paper gives single runs).

Arrays in, numbers out. A model is given as its test-split predictions of one label from one
or more training seeds, ``preds`` of shape (seeds, stars) (a 1-D array is one seed), against the
catalogue labels ``true`` (stars,). Two numbers come out of it:

* `seed_delta_p`: Delta_P (`spt.validation.metrics.delta_p`, the paper's score) of each seed,
  and their mean and standard deviation (ddof 1; NaN for a single run). This is the scatter a
  reader would see by training again with another seed.
* `paired_bootstrap`: Delta_P of a model minus Delta_P of a reference model (SPT in Table 1,
  the paper's Mahalanobis loss in Table 2), resampling the *test stars* with replacement, the
  same stars for both models (paired), ``bootstrap`` times; its median and central ``ci``
  interval. A model is better or worse than the reference when the interval excludes zero.

Stars with a non-finite prediction (any seed, either model) or label are left out of both
models, so the comparison stays paired; the number of stars used is returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spt.settings import from_mapping
from spt.validation.metrics import delta_p

#: Baselines whose fit depends on the seed: their replicates are trained again with other
#: seeds. The others are deterministic for a given training split: mean, ridge, SVR and The
#: Cannon use no random numbers, and gradient boosting (scikit-learn's histogram gradient
#: boosting) draws random numbers only to subsample the binning (above 200,000 training stars)
#: and to split off its own validation set, which it never does here (the validation split is
#: given); tests/test_compare.py checks that this list is exactly the seed-dependent baselines.
SEEDED_BASELINES = ("random_forest", "mlp", "cnn1d")


@dataclass(frozen=True)
class CompareConfig:
    """The config's ``compare`` section (ours): training seeds per stochastic model (the main
    run's seed included), bootstrap resamples of the test stars, and the interval's level."""

    seeds: int = 2
    ablation_seeds: int = 1
    bootstrap: int = 2000
    ci: float = 0.95

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.ablation_seeds < 1:
            raise ValueError(
                f"compare.seeds and compare.ablation_seeds must be >= 1, got {self.seeds} "
                f"and {self.ablation_seeds}"
            )
        if self.bootstrap < 1:
            raise ValueError(f"compare.bootstrap must be >= 1, got {self.bootstrap}")
        if not 0.0 < self.ci < 1.0:
            raise ValueError(f"compare.ci must lie in (0, 1), got {self.ci}")

    @classmethod
    def from_mapping(cls, values: Any) -> CompareConfig:
        """Build from the config's ``compare`` section (a CompareConfig is returned as is)."""
        if values is None:
            return cls()
        if isinstance(values, CompareConfig):
            return values
        return from_mapping(cls, values, "compare")


def replicate_seed(master: int, replicate: int) -> int:
    """The training seed of replicate ``replicate`` (0: the main run, whose seed is ``master``).

    Replicates 1, 2, ... take a 31-bit seed hashed from (master, replicate), so they are
    reproducible from the master seed alone and do not collide with the small offsets of
    ``master`` that other stages may use.
    """
    if int(replicate) < 0:
        raise ValueError(f"replicate must be >= 0, got {replicate}")
    if int(replicate) == 0:
        return int(master)
    digest = hashlib.sha256(f"spt-replicate:{int(master)}:{int(replicate)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class SeedSpread:
    """Delta_P (%) of each seed, their mean and standard deviation (ddof 1; NaN for one)."""

    values: tuple[float, ...]
    mean: float
    std: float
    n_stars: int

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class PairedDifference:
    """Delta_P(model) − Delta_P(reference), in percentage points, over the same test stars.

    ``difference`` is the observed one, ``median``, ``low`` and ``high`` those of the bootstrap
    distribution (``low``/``high`` bound the central ``ci`` interval).
    """

    difference: float
    median: float
    low: float
    high: float
    ci: float
    n_stars: int
    n_boot: int

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies wholly above or below zero: the models differ."""
        return bool(self.low > 0.0 or self.high < 0.0)


def _seeds(preds: ArrayLike, n_stars: int, what: str) -> NDArray[np.float64]:
    """``preds`` as (seeds, stars) floats; a 1-D array is one seed."""
    p = np.asarray(preds, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != n_stars or p.shape[0] < 1:
        raise ValueError(f"{what} must be (seeds, {n_stars}) or ({n_stars},), got {p.shape}")
    return p


def _truth(true: ArrayLike) -> NDArray[np.float64]:
    t = np.asarray(true, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"true must be a non-empty 1-D array, got shape {t.shape}")
    return t


def usable_stars(true: ArrayLike, *models: ArrayLike) -> NDArray[np.bool_]:
    """Stars with a finite label and a finite prediction in every seed of every model."""
    t = _truth(true)
    ok = np.isfinite(t)
    for k, preds in enumerate(models):
        ok &= np.isfinite(_seeds(preds, t.size, f"model {k}")).all(axis=0)
    if not ok.any():
        raise ValueError("no star has a finite label and finite predictions in every seed")
    return ok


def seed_delta_p(preds: ArrayLike, true: ArrayLike) -> SeedSpread:
    """Delta_P of each seed's predictions over the same stars (those usable in every seed)."""
    t = _truth(true)
    p = _seeds(preds, t.size, "preds")
    ok = usable_stars(t, p)
    values = tuple(delta_p(row[ok], t[ok]) for row in p)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return SeedSpread(values, float(np.mean(values)), std, int(ok.sum()))


def _star_errors(p: NDArray[np.float64], t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each star's |pred − true| / true in %, averaged over seeds: its share of Delta_P."""
    if np.any(t == 0):
        raise ValueError("true contains zeros; relative errors are undefined")
    return (100.0 * np.abs(p - t) / t).mean(axis=0)


def paired_bootstrap(
    preds: ArrayLike,
    reference: ArrayLike,
    true: ArrayLike,
    n_boot: int = CompareConfig.bootstrap,
    ci: float = CompareConfig.ci,
    seed: int = 0,
) -> PairedDifference:
    """Delta_P(preds) − Delta_P(reference) with a paired bootstrap over test stars.

    Seeds are averaged in Delta_P, not in the predictions: each resample's statistic is the
    mean over seeds of Delta_P(model) minus the same for the reference. Averaging predictions
    first would score an ensemble of the seeds, which is better than any one trained model, so
    the difference would no longer be that of the models the tables report (each one seed's
    training) and would favour the models that have several seeds over deterministic ones.
    As Delta_P is a mean over stars, the seed-averaged Delta_P of a resample is the mean of each
    resampled star's seed-averaged relative error, which makes the bootstrap one vector mean.

    Each resample draws the same stars for both models (that is what makes it paired: the large
    star-to-star scatter of the errors, shared by both models, cancels). The resamples depend
    only on ``seed`` and the number of stars, so every model of one table is compared on the
    same resamples. The interval covers test-star sampling only; the seed scatter is
    `seed_delta_p`'s.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    t = _truth(true)
    p, r = _seeds(preds, t.size, "preds"), _seeds(reference, t.size, "reference")
    ok = usable_stars(t, p, r)
    diff = _star_errors(p[:, ok], t[ok]) - _star_errors(r[:, ok], t[ok])
    n = diff.size
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)  # bounds the index array's memory
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        boot[start:stop] = diff[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    low, high = np.quantile(boot, [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0])
    return PairedDifference(
        difference=float(diff.mean()),
        median=float(np.median(boot)),
        low=float(low),
        high=float(high),
        ci=float(ci),
        n_stars=int(n),
        n_boot=int(n_boot),
    )


def compare_models(
    models: Mapping[str, ArrayLike],
    true: ArrayLike,
    reference: str | None,
    n_boot: int = CompareConfig.bootstrap,
    ci: float = CompareConfig.ci,
    seed: int = 0,
) -> dict[str, tuple[SeedSpread, PairedDifference | None]]:
    """`seed_delta_p` of every model ((seeds, stars) or (stars,) predictions of one label) and
    its `paired_bootstrap` against the model named ``reference``: None for the reference
    itself, and for every model when ``reference`` is None or not among ``models``."""
    if reference is not None and reference not in models:
        reference = None
    out: dict[str, tuple[SeedSpread, PairedDifference | None]] = {}
    for name, preds in models.items():
        spread = seed_delta_p(preds, true)
        pair = None
        if reference is not None and name != reference:
            pair = paired_bootstrap(preds, models[reference], true, n_boot, ci, seed)
        out[name] = (spread, pair)
    return out
