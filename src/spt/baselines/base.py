"""The methods SPT is compared with, behind one interface: ``fit(train, val)`` then ``predict``.

Every baseline predicts the labels of one split dict (``spt.io.predictions.load_split``; age
and mass, or the one label of ``features.labels``, named by the split's ``labels``) and returns
physical units. Choices (the paper names only "traditional machine learning algorithms"):

* Labels are learnt as standardised ln(age), ln(mass): both are positive, span a factor of
  ~20 (age) and ~3 (mass), and the paper's score is relative, so a log scale fits it.
* Hyper-parameters are chosen on the validation split only: every point of a small grid is
  trained on the training split and scored by the mean validation Delta_P of the labels it
  predicts; the test split never reaches ``fit``. Models with one estimator per label (SVR,
  gradient boosting) are tuned per label.
* PCA baselines (ridge, SVR, random forest, gradient boosting, MLP) use the same PCA features
  as SPT; the 1-D CNN and The Cannon use the full normalised spectra, passed at construction.
* Everything is seeded by ``seed`` and deterministic on the CPU for a given thread count.

``params`` holds fixed settings and ``grid`` (hyper-parameter -> candidate list); a fixed value
given for a hyper-parameter replaces its default grid. Unknown names raise BaselineConfigError.
"""

from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from sklearn.model_selection import ParameterGrid
from threadpoolctl import threadpool_limits

from spt.io.predictions import LABELS, split_labels
from spt.validation.metrics import delta_p

Split = Mapping[str, np.ndarray]
Array = NDArray[np.float64]


class BaselineConfigError(ValueError):
    """An unknown baseline name or parameter, or a malformed grid; the message says which."""


# --------------------------------------------------------------------------- shared helpers
class LabelScaler:
    """ln (where ``log``) then standardise each label column, with the inverse and its slope."""

    def __init__(self, log: Sequence[bool]) -> None:
        self.log = np.asarray(log, dtype=bool)

    def _forward(self, y: np.ndarray) -> Array:
        y = np.array(y, dtype=np.float64)
        if np.any(y[:, self.log] <= 0) or not np.all(np.isfinite(y)):
            raise ValueError("labels must be finite, and positive where they are log-scaled")
        y[:, self.log] = np.log(y[:, self.log])
        return y

    def fit(self, y: np.ndarray) -> Self:
        t = self._forward(y)
        self.mean_ = t.mean(axis=0)
        self.scale_ = np.where(t.std(axis=0) > 0, t.std(axis=0), 1.0)
        return self

    def transform(self, y: np.ndarray) -> Array:
        return (self._forward(y) - self.mean_) / self.scale_

    def inverse(self, z: np.ndarray) -> Array:
        t = np.asarray(z, dtype=np.float64) * self.scale_ + self.mean_
        t[:, self.log] = np.exp(t[:, self.log])
        return t

    def inverse_std(self, z: np.ndarray, z_std: np.ndarray) -> Array:
        """1-sigma in label units from 1-sigma in standardised units (first-order propagation)."""
        slope = np.where(self.log, self.inverse(z), 1.0) * self.scale_
        return np.abs(slope) * np.asarray(z_std, dtype=np.float64)


class SpectraLookup:
    """Rows of the full spectra matrix (``spt.prep.spectra.load_spectra``) found by obsid."""

    def __init__(self, spectra: Mapping[str, np.ndarray]) -> None:
        missing = {"flux", "ivar", "obsid"} - set(spectra)
        if missing:
            raise BaselineConfigError(f"spectra lack array(s) {sorted(missing)}")
        self.flux, self.ivar = spectra["flux"], spectra["ivar"]
        self._row = pd.Index(np.asarray(spectra["obsid"], dtype=np.int64))
        if not self._row.is_unique:
            raise ValueError("spectra have duplicate obsids")

    def rows(self, obsid: np.ndarray) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(flux, ivar) of the given obsids, in their order; an absent obsid raises KeyError."""
        idx = self._row.get_indexer(np.asarray(obsid, dtype=np.int64))
        if np.any(idx < 0):
            absent = np.asarray(obsid)[idx < 0]
            raise KeyError(f"{absent.size} obsid(s) not in the spectra, e.g. {absent[:5].tolist()}")
        return self.flux[idx].astype(np.float32), self.ivar[idx].astype(np.float32)


def attach_columns(split: Split, table: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """A copy of ``split`` with ``columns`` of ``table`` (matched on obsid) added as arrays.

    Used to give The Cannon extra training labels (e.g. Teff, logg, [Fe/H] from sample.csv).
    """
    indexed = table.drop_duplicates("obsid").set_index("obsid")
    absent = [c for c in columns if c not in indexed.columns]
    if absent:
        raise KeyError(f"table lacks column(s) {absent}")
    sub = indexed.reindex(np.asarray(split["obsid"], dtype=np.int64))[list(columns)]
    if sub.isna().to_numpy().any():
        raise ValueError(f"missing or NaN values of {list(columns)} for some obsids of the split")
    return {**split, **{c: sub[c].to_numpy(dtype=np.float64) for c in columns}}


def mean_delta_p(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean over label columns of Delta_P (%), the score grid points are chosen by (inf if NaN)."""
    pred, true = np.atleast_2d(pred.T).T, np.atleast_2d(np.asarray(true).T).T
    if not np.all(np.isfinite(pred)):
        return math.inf
    return float(np.mean([delta_p(pred[:, j], true[:, j]) for j in range(true.shape[1])]))


@contextlib.contextmanager
def _reproducible(threads: int, seed: int) -> Iterator[None]:
    """Fix BLAS/OpenMP and torch threads, fork and seed torch's RNG, deterministic kernels."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    try:
        with threadpool_limits(limits=threads), torch.random.fork_rng(devices=[]):
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(True)
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


# --------------------------------------------------------------------------- the interface
class Baseline(ABC):
    """A baseline: ``fit(train, val)`` (tuning on val) then ``predict(split) -> (mean, std)``.

    Subclasses declare ``defaults`` (every setting) and ``default_grid`` (the tuned ones).
    """

    name: ClassVar[str]
    inputs: ClassVar[Literal["pca", "spectra"]] = "pca"
    defaults: ClassVar[Mapping[str, Any]] = {}
    default_grid: ClassVar[Mapping[str, list[Any]]] = {}
    common: ClassVar[Mapping[str, Any]] = {"threads": 1, "log_labels": True}

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        spectra: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.params, self.grid = self.resolve_params(params)
        self.seed = int(seed)
        self.spectra: SpectraLookup | None = None
        if self.inputs == "spectra":
            if spectra is None:
                raise BaselineConfigError(f"{self.name} needs the full spectra (spectra=...)")
            self.spectra = SpectraLookup(spectra)

    @classmethod
    def resolve_params(
        cls, params: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """(settings, grid) from defaults and ``params``; unknown or clashing keys raise."""
        given = dict(params or {})
        user_grid = dict(given.pop("grid", None) or {})
        known = {**cls.common, **cls.defaults}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise BaselineConfigError(
                f"{cls.name}: unknown parameter(s) {unknown}; known: {sorted([*known, 'grid'])}"
            )
        bad = sorted(set(user_grid) - set(cls.default_grid))
        if bad:
            raise BaselineConfigError(
                f"{cls.name}: grid has untunable or unknown key(s) {bad}; "
                f"tunable: {sorted(cls.default_grid)}"
            )
        clash = sorted(set(given) & set(user_grid))
        if clash:
            raise BaselineConfigError(f"{cls.name}: {clash} given both as a value and a grid")
        grid = {k: list(v) for k, v in cls.default_grid.items() if k not in given}
        for key, values in user_grid.items():
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise BaselineConfigError(f"{cls.name}: grid[{key!r}] must be a non-empty list")
            grid[key] = list(values)
        settings = {**known, **given}
        if int(settings["threads"]) < 1:
            raise BaselineConfigError(f"{cls.name}: threads must be >= 1")
        return settings, grid

    # -- the shared machinery
    def _label_scaler(self, n_labels: int = 2, n_main: int = 2) -> LabelScaler:
        """Scaler of ``n_labels`` columns: the first ``n_main`` (age, mass) log-scaled if asked."""
        log = [bool(self.params["log_labels"])] * n_main + [False] * (n_labels - n_main)
        return LabelScaler(log)

    def _tune(
        self,
        group: Sequence[int],
        fit: Callable[[dict[str, Any]], Any],
        score: Callable[[Any], float],
    ) -> Any:
        """Fit every grid point, keep the one with the lowest validation score."""
        best, best_score = None, math.inf
        for cand in ParameterGrid(self.grid) if self.grid else [{}]:
            model = fit({**self.params, **cand})
            value = score(model)
            names = getattr(self, "label_names_", LABELS)
            row = {"labels": "+".join(names[j] for j in group), **cand, "val_delta_p": value}
            if hasattr(model, "n_iter_"):  # boosting iterations or epochs kept by early stopping
                row["n_iter"] = int(model.n_iter_)
            self.tuning_.append(row)
            if value < best_score:
                best, best_score = model, value
        if best is None:
            raise RuntimeError(f"{self.name}: no grid point gave a finite validation score")
        return best

    @property
    def tuning(self) -> pd.DataFrame:
        """Validation Delta_P of every grid point tried (and which labels it was tuned for)."""
        return pd.DataFrame(self.tuning_)

    @abstractmethod
    def fit(self, train: Split, val: Split) -> Self:
        """Fit on ``train``, choosing hyper-parameters (and stopping) on ``val`` only."""

    @abstractmethod
    def predict(self, split: Split) -> tuple[Array, Array | None]:
        """Mean (n, k) of the k training labels (Gyr, Msun) and 1-sigma or None; reads no labels."""


class _GridBaseline(Baseline):
    """A baseline fitted in standardised label space, one grid search per label group.

    Subclasses implement ``_fit_one`` and ``_predict_one``; ``per_label`` gives each label its
    own estimator and its own tuning.
    """

    per_label: ClassVar[bool] = False

    # -- what subclasses provide
    def _inputs(self, split: Split) -> Any:
        """The model's input for one split: PCA features by default."""
        return np.asarray(split["X"], dtype=np.float64)

    @abstractmethod
    def _fit_one(self, s: Mapping[str, Any], x: Any, z: Array, x_val: Any, z_val: Array) -> Any:
        """One model for settings ``s`` on standardised labels z (n, g); val only for stopping."""

    @abstractmethod
    def _predict_one(self, model: Any, x: Any) -> tuple[Array, Array | None]:
        """Standardised mean (n, g) and 1-sigma (or None) of one fitted model."""

    def fit(self, train: Split, val: Split) -> Self:
        """Fit on ``train``, choosing hyper-parameters (and stopping) on ``val`` only."""
        self.label_names_ = split_labels(train)
        k = len(self.label_names_)
        with _reproducible(int(self.params["threads"]), self.seed):
            self.labels_ = self._label_scaler(k, k).fit(train["y"])
            z, z_val = self.labels_.transform(train["y"]), self.labels_.transform(val["y"])
            x, x_val = self._inputs(train), self._inputs(val)
            y_val = np.asarray(val["y"], dtype=np.float64)
            groups = [[j] for j in range(k)] if self.per_label else [list(range(k))]
            self.tuning_: list[dict[str, Any]] = []
            self.models_ = []
            for g in groups:

                def score(model: Any, g: list[int] = g) -> float:
                    zp = np.zeros((len(y_val), k))
                    zp[:, g] = self._predict_one(model, x_val)[0]
                    return mean_delta_p(self.labels_.inverse(zp)[:, g], y_val[:, g])

                def fit_one(s: dict[str, Any], g: list[int] = g) -> Any:
                    return self._fit_one(s, x, z[:, g], x_val, z_val[:, g])

                self.models_.append(self._tune(g, fit_one, score))
        return self

    def predict(self, split: Split) -> tuple[Array, Array | None]:
        """Mean (n, k) of the k training labels (Gyr, Msun) and 1-sigma or None; reads no labels."""
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{self.name}: call fit before predict")
        with _reproducible(int(self.params["threads"]), self.seed):
            x = self._inputs(split)
            parts = [self._predict_one(m, x) for m in self.models_]
        z = np.hstack([p[0] for p in parts])
        mean = self.labels_.inverse(z)
        if any(p[1] is None for p in parts):
            return mean, None
        return mean, self.labels_.inverse_std(z, np.hstack([p[1] for p in parts]))


# --------------------------------------------------------------------------- the floor
def predict_mean_baseline(train: Split, split: Split) -> tuple[Array, None]:
    """The training labels' mean for every star of ``split``: the floor every model must beat."""
    mean = np.asarray(train["y"], dtype=np.float64).mean(axis=0)
    return np.tile(mean, (len(split["obsid"]), 1)), None


class TrainingMean(Baseline):
    """Predict the training mean of each label for every star."""

    name = "mean"

    def fit(self, train: Split, val: Split) -> Self:
        self.train_ = {"y": np.asarray(train["y"])}
        self.models_ = []
        self.tuning_ = []
        return self

    def predict(self, split: Split) -> tuple[Array, None]:
        if not hasattr(self, "train_"):
            raise RuntimeError("mean: call fit before predict")
        return predict_mean_baseline(self.train_, split)


# --------------------------------------------------------------------------- scikit-learn
