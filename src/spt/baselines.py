"""The methods SPT is compared with, behind one interface: ``fit(train, val)`` then ``predict``.

Every baseline predicts (age, mass) of one split dict (``spt.evaluate.load_split``) and returns
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
import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from scipy.optimize import least_squares
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import SVR
from threadpoolctl import threadpool_limits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spt.metrics import delta_p

Split = Mapping[str, np.ndarray]
Array = NDArray[np.float64]
LABELS = ("age", "mass")


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
    """Rows of the full spectra matrix (``spt.spectra.load_spectra``) found by obsid."""

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
    def _label_scaler(self, n_labels: int = 2) -> LabelScaler:
        log = [bool(self.params["log_labels"])] * 2 + [False] * (n_labels - 2)
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
            row = {"labels": "+".join(LABELS[j] for j in group), **cand, "val_delta_p": value}
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
        """Mean (n, 2) [age Gyr, mass Msun] and 1-sigma (n, 2) or None; reads no labels."""


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
        with _reproducible(int(self.params["threads"]), self.seed):
            self.labels_ = self._label_scaler().fit(train["y"])
            z, z_val = self.labels_.transform(train["y"]), self.labels_.transform(val["y"])
            x, x_val = self._inputs(train), self._inputs(val)
            y_val = np.asarray(val["y"], dtype=np.float64)
            groups = [[0], [1]] if self.per_label else [[0, 1]]
            self.tuning_: list[dict[str, Any]] = []
            self.models_ = []
            for g in groups:

                def score(model: Any, g: list[int] = g) -> float:
                    zp = np.zeros((len(y_val), 2))
                    zp[:, g] = self._predict_one(model, x_val)[0]
                    return mean_delta_p(self.labels_.inverse(zp)[:, g], y_val[:, g])

                def fit_one(s: dict[str, Any], g: list[int] = g) -> Any:
                    return self._fit_one(s, x, z[:, g], x_val, z_val[:, g])

                self.models_.append(self._tune(g, fit_one, score))
        return self

    def predict(self, split: Split) -> tuple[Array, Array | None]:
        """Mean (n, 2) [age Gyr, mass Msun] and 1-sigma (n, 2) or None; reads no labels."""
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
    """Predict the training mean (age, mass) for every star."""

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
class RidgeBaseline(_GridBaseline):
    """Linear ridge regression of the labels on the standardised PCA features."""

    name = "ridge"
    defaults: ClassVar[Mapping[str, Any]] = {"alpha": 1.0}
    default_grid: ClassVar[Mapping[str, list[Any]]] = {
        "alpha": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
    }

    def _fit_one(self, s: Mapping[str, Any], x: Any, z: Array, x_val: Any, z_val: Array) -> Any:
        return make_pipeline(StandardScaler(), Ridge(alpha=float(s["alpha"]))).fit(x, z)

    def _predict_one(self, model: Pipeline, x: Any) -> tuple[Array, None]:
        return np.asarray(model.predict(x)).reshape(len(x), -1), None


class SVRBaseline(_GridBaseline):
    """RBF support-vector regression on the standardised PCA features, one model per label."""

    name = "svr"
    per_label = True
    defaults: ClassVar[Mapping[str, Any]] = {
        "C": 3.0,
        "gamma": "scale",
        "epsilon": 0.05,
        "cache_mb": 500,
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {
        "C": [0.3, 1.0, 3.0, 10.0, 30.0],
        "gamma": ["scale", 0.005, 0.002],
    }

    def _fit_one(self, s: Mapping[str, Any], x: Any, z: Array, x_val: Any, z_val: Array) -> Any:
        svr = SVR(
            kernel="rbf",
            C=float(s["C"]),
            gamma=s["gamma"],
            epsilon=float(s["epsilon"]),
            cache_size=float(s["cache_mb"]),
        )
        return make_pipeline(StandardScaler(), svr).fit(x, z[:, 0])

    def _predict_one(self, model: Pipeline, x: Any) -> tuple[Array, None]:
        return model.predict(x)[:, None], None


class RandomForestBaseline(_GridBaseline):
    """Multi-output random forest; the spread of the trees' predictions is its uncertainty."""

    name = "random_forest"
    defaults: ClassVar[Mapping[str, Any]] = {
        "n_estimators": 300,
        "max_features": 0.33,
        "min_samples_leaf": 2,
        "max_depth": None,
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {
        "max_features": [0.33, 1.0],
        "min_samples_leaf": [1, 5],
    }

    def _fit_one(self, s: Mapping[str, Any], x: Any, z: Array, x_val: Any, z_val: Array) -> Any:
        return RandomForestRegressor(
            n_estimators=int(s["n_estimators"]),
            max_features=s["max_features"],
            min_samples_leaf=int(s["min_samples_leaf"]),
            max_depth=s["max_depth"],
            n_jobs=int(s["threads"]),
            random_state=self.seed,
        ).fit(x, z)

    def _predict_one(self, model: RandomForestRegressor, x: Any) -> tuple[Array, Array]:
        trees = np.stack([t.predict(x).reshape(len(x), -1) for t in model.estimators_])
        return trees.mean(axis=0), trees.std(axis=0)


class GradientBoostingBaseline(_GridBaseline):
    """Histogram gradient boosting, one model per label, early-stopped on the validation split."""

    name = "gradient_boosting"
    per_label = True
    defaults: ClassVar[Mapping[str, Any]] = {
        "learning_rate": 0.05,
        "max_iter": 2000,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
        "n_iter_no_change": 50,
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {
        "learning_rate": [0.03, 0.1],
        "max_leaf_nodes": [7, 15, 31],
    }

    def _fit_one(self, s: Mapping[str, Any], x: Any, z: Array, x_val: Any, z_val: Array) -> Any:
        model = HistGradientBoostingRegressor(
            learning_rate=float(s["learning_rate"]),
            max_iter=int(s["max_iter"]),
            max_leaf_nodes=int(s["max_leaf_nodes"]),
            min_samples_leaf=int(s["min_samples_leaf"]),
            l2_regularization=float(s["l2_regularization"]),
            early_stopping=True,
            n_iter_no_change=int(s["n_iter_no_change"]),
            random_state=self.seed,
        )
        return model.fit(x, z[:, 0], X_val=x_val, y_val=z_val[:, 0])

    def _predict_one(self, model: HistGradientBoostingRegressor, x: Any) -> tuple[Array, None]:
        return model.predict(x)[:, None], None


# --------------------------------------------------------------------------- torch
class _TorchBaseline(_GridBaseline):
    """Shared mini-batch training (AdamW, MSE on standardised labels, early stopping on val)."""

    torch_defaults: ClassVar[Mapping[str, Any]] = {
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "batch_size": 64,
        "epochs": 300,
        "patience": 20,
        "dropout": 0.1,
    }

    @abstractmethod
    def _module(self, s: Mapping[str, Any], x: np.ndarray, n_out: int) -> nn.Module:
        """The untrained network for training inputs ``x`` (built after the RNG is seeded)."""

    def _to_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32))

    @staticmethod
    def _forward(module: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        module.eval()
        with torch.inference_mode():
            return torch.cat([module(x[i : i + batch]) for i in range(0, len(x), batch)])

    def _fit_one(self, s: Mapping[str, Any], x: Any, z: Array, x_val: Any, z_val: Array) -> Any:
        torch.manual_seed(self.seed)  # every grid point starts from the same RNG state
        xt, zt = self._to_tensor(x), torch.as_tensor(z, dtype=torch.float32)
        xv, zv = self._to_tensor(x_val), torch.as_tensor(z_val, dtype=torch.float32)
        module = self._module(s, x, zt.shape[1])
        loader = DataLoader(
            TensorDataset(xt, zt),
            batch_size=int(s["batch_size"]),
            shuffle=True,
            drop_last=len(xt) > int(s["batch_size"]),
            generator=torch.Generator().manual_seed(self.seed),
        )
        opt = torch.optim.AdamW(
            module.parameters(), lr=float(s["lr"]), weight_decay=float(s["weight_decay"])
        )
        best, best_state, stale = math.inf, copy.deepcopy(module.state_dict()), 0
        for epoch in range(1, int(s["epochs"]) + 1):
            module.train()
            for xb, zb in loader:
                opt.zero_grad()
                nn.functional.mse_loss(module(xb), zb).backward()
                opt.step()
            loss = float(nn.functional.mse_loss(self._forward(module, xv), zv))
            if loss < best:
                best, best_state, stale = loss, copy.deepcopy(module.state_dict()), 0
                module.n_iter_ = epoch
            else:
                stale += 1
                if stale >= int(s["patience"]):
                    break
        module.load_state_dict(best_state)
        return module

    def _predict_one(self, model: nn.Module, x: Any) -> tuple[Array, None]:
        return self._forward(model, self._to_tensor(x)).double().numpy(), None


class _Standardise(nn.Module):
    """Fixed per-feature standardisation stored in the network (so it travels with it)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer(
            "std", torch.as_tensor(np.where(std > 0, std, 1.0), dtype=torch.float32)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MLPBaseline(_TorchBaseline):
    """Fully connected network (GELU, dropout) on the standardised PCA features."""

    name = "mlp"
    defaults: ClassVar[Mapping[str, Any]] = {
        **_TorchBaseline.torch_defaults,
        "hidden": [256, 128],
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {
        "hidden": [[128, 64], [256, 128]],
        "weight_decay": [1e-4, 1e-2],
    }

    def _module(self, s: Mapping[str, Any], x: np.ndarray, n_out: int) -> nn.Module:
        layers: list[nn.Module] = [_Standardise(x.mean(axis=0), x.std(axis=0))]
        width = x.shape[1]
        for h in s["hidden"]:
            layers += [nn.Linear(width, int(h)), nn.GELU(), nn.Dropout(float(s["dropout"]))]
            width = int(h)
        return nn.Sequential(*layers, nn.Linear(width, n_out))


class CNN1DBaseline(_TorchBaseline):
    """1-D CNN on the full normalised spectrum, in the style of StarNet and astroNN.

    Blocks of convolution ("same" padding, ReLU) and max-pooling, then dense layers. Input:
    flux − 1 clipped to [-1, 1], masked pixels 0 (the continuum), so bad pixels and spikes
    cannot dominate. Pooling after every block keeps a 3,600-pixel spectrum cheap on a CPU.
    """

    name = "cnn1d"
    inputs = "spectra"
    defaults: ClassVar[Mapping[str, Any]] = {
        **_TorchBaseline.torch_defaults,
        "epochs": 30,
        "patience": 5,
        "filters": [8, 16],
        "kernel_size": 7,
        "pool": 4,
        "dense": [128, 64],
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {"lr": [1e-3, 3e-3]}

    def _inputs(self, split: Split) -> NDArray[np.float32]:
        assert self.spectra is not None
        flux, ivar = self.spectra.rows(split["obsid"])
        return np.where(ivar > 0, np.clip(flux - 1.0, -1.0, 1.0), 0.0).astype(np.float32)

    def _module(self, s: Mapping[str, Any], x: np.ndarray, n_out: int) -> nn.Module:
        layers: list[nn.Module] = [nn.Unflatten(1, (1, x.shape[1]))]
        channels = 1
        for f in s["filters"]:
            layers += [
                nn.Conv1d(channels, int(f), int(s["kernel_size"]), padding="same"),
                nn.ReLU(),
                nn.MaxPool1d(int(s["pool"])),
            ]
            channels = int(f)
        layers.append(nn.Flatten())
        width = nn.Sequential(*layers)(torch.zeros(1, x.shape[1])).shape[1]
        for h in s["dense"]:
            layers += [nn.Linear(width, int(h)), nn.ReLU(), nn.Dropout(float(s["dropout"]))]
            width = int(h)
        return nn.Sequential(*layers, nn.Linear(width, n_out))


# --------------------------------------------------------------------------- The Cannon
class CannonModel:
    """The Cannon's spectral model: flux = θ_λ · v(labels) + noise of variance σ² + s_λ².

    v holds the constant, linear and quadratic terms of the (standardised) labels. ``fit`` is
    the training step (weighted least squares per pixel, alternated with the per-pixel scatter
    s_λ²); ``infer`` the test step (labels of each spectrum by non-linear least squares).
    """

    def __init__(self, n_labels: int, ridge: float = 0.0, n_iter: int = 5) -> None:
        self.poly = PolynomialFeatures(degree=2).fit(np.zeros((1, n_labels)))
        self.ridge, self.n_iter = float(ridge), int(n_iter)

    def vectorise(self, labels: np.ndarray) -> Array:
        return self.poly.transform(np.atleast_2d(labels))

    def _jacobian_terms(self, labels: np.ndarray) -> Array:
        """d v / d label at one label vector: (n_terms, n_labels)."""
        p = self.poly.powers_
        out = np.zeros(p.shape, dtype=np.float64)
        for k in range(p.shape[1]):
            lowered = p.copy()
            lowered[:, k] = np.maximum(p[:, k] - 1, 0)
            out[:, k] = p[:, k] * np.prod(labels**lowered, axis=1)
        return out

    @staticmethod
    def _scatter(resid: Array, ivar: Array, s2: Array, n_steps: int = 5) -> Array:
        """Per-pixel s² maximising the Gaussian likelihood (fixed-point iteration)."""
        for _ in range(n_steps):
            w = ivar / (1.0 + ivar * s2)  # 1 / (σ² + s²); 0 where masked
            w2 = w * w
            # s² ← Σ w²(r² − σ²) / Σ w², the stationary point of the log-likelihood in s²
            excess = (w2 * resid**2).sum(0) - (w / (1.0 + ivar * s2)).sum(0)  # w²σ² = w/(1+ivar s²)
            s2 = np.maximum(0.0, excess / np.maximum(w2.sum(0), 1e-300))
        return s2

    def fit(self, labels: np.ndarray, flux: np.ndarray, ivar: np.ndarray) -> Self:
        """Training step on standardised labels (n, L), flux and inverse variance (n, p)."""
        v = self.vectorise(labels)
        n, k = v.shape
        self.label_mean_ = np.mean(labels, axis=0)
        self.label_cov_ = np.atleast_2d(np.cov(labels, rowvar=False))
        f, iv = np.asarray(flux, np.float64), np.asarray(ivar, np.float64)
        self.pixel_ok_ = (iv > 0).sum(axis=0) >= max(2 * k, 10)
        outer = (v[:, :, None] * v[:, None, :]).reshape(n, k * k)
        penalty = np.eye(k) * self.ridge
        penalty[0, 0] = 0.0  # the constant term is not shrunk
        theta = np.linalg.lstsq(v, f, rcond=None)[0]  # all pixels at once, unweighted
        s2 = np.zeros(f.shape[1])
        for _ in range(self.n_iter):
            s2 = self._scatter(f - v @ theta, iv, s2)
            w = iv / (1.0 + iv * s2)
            a = (outer.T @ w).T.reshape(-1, k, k)
            # relative ridge: scaled by each pixel's total weight so one value suits all pixels
            a = a + penalty * (w.sum(0) / n)[:, None, None] + 1e-9 * np.eye(k)
            theta = np.linalg.solve(a, (v.T @ (w * f)).T[:, :, None])[:, :, 0].T
        self.theta_ = np.where(self.pixel_ok_, theta, np.eye(k)[:, :1])  # unusable: flat 1.0
        self.s2_ = np.where(self.pixel_ok_, self._scatter(f - v @ theta, iv, s2), 0.0)
        return self

    def model_flux(self, labels: np.ndarray) -> Array:
        return self.vectorise(labels) @ self.theta_

    def _linear_guess(self, f: Array, w: Array) -> Array:
        """Labels from the linear terms of a per-star linear fit of all non-constant terms."""
        t = self.theta_[1:].T  # (p, k-1)
        a = np.einsum("pk,np,pj->nkj", t, w, t) + 1e-9 * np.eye(t.shape[1])
        b = np.einsum("pk,np->nk", t, w * (f - self.theta_[0]))
        coef = np.linalg.solve(a, b[:, :, None])[:, :, 0]
        return coef[:, : self.poly.n_features_in_]

    def infer(
        self, flux: np.ndarray, ivar: np.ndarray, bounds: tuple[Array, Array], prior: float = 0.0
    ) -> tuple[Array, Array]:
        """Test step: best-fit standardised labels (n, L) and their formal 1-sigma.

        ``prior`` > 0 adds ``prior`` × the training labels' Gaussian log-density (MAP instead
        of maximum likelihood), which tames nearly degenerate labels such as age and mass.
        """
        f, iv = np.asarray(flux, np.float64), np.asarray(ivar, np.float64)
        w = np.where(self.pixel_ok_, iv / (1.0 + iv * self.s2_), 0.0)
        lo, hi = bounds
        starts = np.clip(self._linear_guess(f, w), lo + 1e-6, hi - 1e-6)
        n_labels = len(lo)
        # residuals whose squares sum to prior × (z − mean)ᵀ Σ⁻¹ (z − mean)
        root = math.sqrt(prior) * np.linalg.cholesky(np.linalg.inv(self.label_cov_)).T
        labels = np.full((len(f), n_labels), np.nan)
        errors = np.full((len(f), n_labels), np.nan)
        for i in range(len(f)):
            use = w[i] > 0
            sw, fi, th = np.sqrt(w[i, use]), f[i, use], self.theta_[:, use]

            def resid(x: Array, sw: Array = sw, fi: Array = fi, th: Array = th) -> Array:
                data = sw * (fi - self.vectorise(x)[0] @ th)
                return np.concatenate([data, root @ (x - self.label_mean_)])

            def jac(x: Array, sw: Array = sw, th: Array = th) -> Array:
                return np.vstack([-sw[:, None] * (th.T @ self._jacobian_terms(x)), root])

            fits = [
                least_squares(resid, x0, jac=jac, bounds=(lo, hi), method="trf")
                for x0 in (starts[i], np.zeros(n_labels))
            ]
            best = min(fits, key=lambda r: r.cost)
            labels[i] = best.x
            with contextlib.suppress(np.linalg.LinAlgError):
                errors[i] = np.sqrt(np.diag(np.linalg.inv(best.jac.T @ best.jac)))
        return labels, errors


class CannonBaseline(Baseline):
    """The Cannon (Ness et al. 2015) on the full normalised spectra.

    Labels: ln age, ln mass and the optional ``extra_labels`` (split columns, e.g. added by
    `attach_columns`), all standardised; the extra labels are inferred too but not returned.
    Tuned: a relative ridge on the non-constant coefficients (training step) and the weight of
    a Gaussian prior from the training labels (test step; 0 is the original maximum likelihood).
    """

    name = "cannon"
    inputs = "spectra"
    defaults: ClassVar[Mapping[str, Any]] = {
        "ridge": 0.0,
        "prior": 0.0,
        "n_iter": 5,
        "extra_labels": [],
        "bound_margin": 1.0,
    }
    default_grid: ClassVar[Mapping[str, list[Any]]] = {
        "ridge": [0.0, 0.1],
        "prior": [0.0, 10.0, 30.0, 100.0],
    }

    def _inputs(self, split: Split) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        assert self.spectra is not None
        return self.spectra.rows(split["obsid"])

    def fit(self, train: Split, val: Split) -> Self:
        extra = list(self.params["extra_labels"])
        absent = [c for c in extra if c not in train]
        if absent:
            raise BaselineConfigError(
                f"cannon: extra label(s) {absent} not in the training split (see attach_columns)"
            )
        with _reproducible(int(self.params["threads"]), self.seed):
            y = np.column_stack([np.asarray(train["y"], np.float64), *[train[c] for c in extra]])
            self.labels_ = self._label_scaler(y.shape[1]).fit(y)
            z = self.labels_.transform(y)
            margin = float(self.params["bound_margin"])
            self.bounds_ = (z.min(axis=0) - margin, z.max(axis=0) + margin)
            (flux, ivar), val_in = self._inputs(train), self._inputs(val)
            y_val = np.asarray(val["y"], dtype=np.float64)
            self.tuning_ = []
            trained: dict[tuple[float, int], CannonModel] = {}  # the prior needs no retraining

            def fit_one(s: dict[str, Any]) -> tuple[CannonModel, float]:
                key = (float(s["ridge"]), int(s["n_iter"]))
                if key not in trained:
                    trained[key] = CannonModel(z.shape[1], *key).fit(z, flux, ivar)
                return trained[key], float(s["prior"])

            def score(fitted: tuple[CannonModel, float]) -> float:
                zv = fitted[0].infer(*val_in, self.bounds_, prior=fitted[1])[0]
                return mean_delta_p(self.labels_.inverse(zv)[:, :2], y_val)

            self.models_ = [self._tune([0, 1], fit_one, score)]
        return self

    def predict(self, split: Split) -> tuple[Array, Array]:
        """Mean (n, 2) and formal 1-sigma (n, 2) of age and mass."""
        if not hasattr(self, "models_"):
            raise RuntimeError("cannon: call fit before predict")
        model, prior = self.models_[0]
        with _reproducible(int(self.params["threads"]), self.seed):
            z, z_err = model.infer(*self._inputs(split), self.bounds_, prior=prior)
        return self.labels_.inverse(z)[:, :2], self.labels_.inverse_std(z, z_err)[:, :2]


# --------------------------------------------------------------------------- registry
BASELINES: dict[str, type[Baseline]] = {
    cls.name: cls
    for cls in (
        TrainingMean,
        RidgeBaseline,
        SVRBaseline,
        RandomForestBaseline,
        GradientBoostingBaseline,
        MLPBaseline,
        CNN1DBaseline,
        CannonBaseline,
    )
}


def make_baseline(
    name: str,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    spectra: Mapping[str, np.ndarray] | None = None,
) -> Baseline:
    """An unfitted baseline by registry name; spectra are required by cnn1d and cannon only."""
    if name not in BASELINES:
        raise BaselineConfigError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    return BASELINES[name](params, seed=seed, spectra=spectra)


def default_params() -> dict[str, dict[str, Any]]:
    """Every baseline's default settings and grid, as a config fragment would hold them.

    Tuned settings appear only in the grid (a fixed value would replace the grid).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, cls in BASELINES.items():
        fixed = {**cls.common, **cls.defaults}
        entry = {k: v for k, v in fixed.items() if k not in cls.default_grid}
        if cls.default_grid:
            entry["grid"] = {k: list(v) for k, v in cls.default_grid.items()}
        out[name] = entry
    return out


__all__ = [
    "BASELINES",
    "Baseline",
    "BaselineConfigError",
    "CannonModel",
    "LabelScaler",
    "SpectraLookup",
    "attach_columns",
    "default_params",
    "make_baseline",
    "mean_delta_p",
    "predict_mean_baseline",
]
