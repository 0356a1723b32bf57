"""One home for each default: every default the code holds equals config/config.yaml."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
import yaml

from spt.model.attention import HadamardSelfAttention
from spt.model.loss import LOSS_TITLES
from spt.model.predict import PredictConfig
from spt.model.spt import TINY_MODEL, SpectralTransformer, SPTBlock, SPTConfig
from spt.model.train import TrainConfig, config_from_settings
from spt.prep import anomalies, features, labels, spectra
from spt.validation.compare import CompareConfig
from tests.conftest import REPO

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
TINY = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())


def _defaults(cls: Any) -> dict[str, Any]:
    return {
        f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
    }


def _signature_defaults(func: Any) -> dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


@pytest.mark.parametrize(
    ("code", "section"),
    [
        (spectra.DEFAULTS, CONFIG["preprocess"]["spectra"]),
        (anomalies.DEFAULTS, CONFIG["anomalies"]),
        (labels.LABEL_DEFAULTS, CONFIG["labels"]),
        (features.DEFAULTS, CONFIG["features"]),
    ],
    ids=["preprocess.spectra", "anomalies", "labels", "features"],
)
def test_default_tables_equal_the_config(code: dict[str, Any], section: dict[str, Any]) -> None:
    assert code == section


def test_model_settings_equal_the_config() -> None:
    assert SPTConfig().to_dict() == CONFIG["model"]
    constructor = _signature_defaults(SpectralTransformer.__init__)
    assert {k: constructor[k] for k in CONFIG["model"]} == CONFIG["model"]
    block = _signature_defaults(SPTBlock.__init__)
    attention = _signature_defaults(HadamardSelfAttention.__init__)
    for name in ("n_heads", "d_head", "dropout", "softmax"):
        assert block[name] == CONFIG["model"][name], name
        assert attention[name] == CONFIG["model"][name], name


def test_train_and_predict_settings_equal_the_config() -> None:
    train = _defaults(TrainConfig)
    assert {k: train[k] for k in CONFIG["train"]} == CONFIG["train"]
    assert dataclasses.asdict(PredictConfig()) == CONFIG["predict"]


def test_tiny_model_is_the_test_configuration() -> None:
    assert {k: TINY_MODEL[k] for k in TINY["model"] if k in TINY_MODEL} == {
        k: v for k, v in TINY["model"].items() if k in TINY_MODEL
    }


def test_settings_are_built_from_the_config_and_refuse_unknown_keys() -> None:
    cfg = config_from_settings(CONFIG["train"], CONFIG["model"], seed=7, threads=2)
    assert cfg.model == CONFIG["model"]
    assert (cfg.seed, cfg.num_threads, cfg.loss) == (7, 2, "mahalanobis")
    with pytest.raises(ValueError, match=r"unknown model setting.*'n_layer'"):
        SPTConfig.from_mapping({"n_layer": 2})
    with pytest.raises(ValueError, match="unknown predict setting"):
        PredictConfig.from_mapping({"passes": 3})
    with pytest.raises(ValueError, match="unknown train setting"):
        TrainConfig.from_dict({"epoch": 3})


def test_loss_names_have_one_home() -> None:
    """The schema's loss names are the code's (titles in tables and figures come from there)."""
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())["properties"]
    assert set(schema["train"]["properties"]["loss"]["enum"]) == set(LOSS_TITLES)
    assert set(schema["ablation"]["properties"]["losses"]["items"]["enum"]) == set(LOSS_TITLES)
    assert set(CONFIG["ablation"]["losses"]) <= set(LOSS_TITLES)


def test_compare_settings_equal_the_config() -> None:
    assert dataclasses.asdict(CompareConfig()) == CONFIG["compare"]
    assert CompareConfig.from_mapping({**CONFIG["compare"], **TINY["compare"]}).seeds >= 2
