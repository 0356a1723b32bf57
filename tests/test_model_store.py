"""Model files that cannot be read or written fail with one clear error naming the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from spt.model import SpectralTransformer
from spt.model.predict import predict
from spt.model.store import ModelFileError, load_model, load_train_config, save_model

torch.set_num_threads(1)
RERUN = r"rerun with `snakemake --forcerun train_spt`"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SpectralTransformer]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 12))
    y = np.c_[rng.uniform(1, 10, 64), rng.uniform(0.8, 2.5, 64)]
    model = SpectralTransformer.tiny(12)
    model.set_data_stats(X, y)
    path = tmp_path_factory.mktemp("model") / "spt.pt"
    save_model(path, model)
    return path, model.eval()


def test_saved_model_loads(saved: tuple[Path, SpectralTransformer]) -> None:
    path, model = saved
    X = np.random.default_rng(1).normal(size=(5, 12))
    np.testing.assert_array_equal(predict(load_model(path, device="cpu"), X), predict(model, X))


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.97])
def test_truncated_model_file(
    saved: tuple[Path, SpectralTransformer], tmp_path: Path, keep: float
) -> None:
    raw = saved[0].read_bytes()
    path = tmp_path / "spt.pt"
    path.write_bytes(raw[: int(len(raw) * keep)])
    fault = "empty model file" if keep == 0 else "truncated or corrupt model file"
    with pytest.raises(ModelFileError, match=rf"{path}: {fault}.*{RERUN}") as info:
        load_model(path, device="cpu")
    assert "inline_container" not in str(info.value)
    with pytest.raises(ModelFileError, match=RERUN):
        load_train_config(path)


def test_junk_and_foreign_model_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(ModelFileError, match=rf"junk\.pt: truncated or corrupt.*{RERUN}"):
        load_model(junk, device="cpu")
    other = tmp_path / "other.pt"
    torch.save([1, 2, 3], other)  # a valid torch file, but not a model of ours
    with pytest.raises(ModelFileError, match=rf"other\.pt is not an SPT model file.*{RERUN}"):
        load_model(other, device="cpu")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt", device="cpu")


def test_model_file_of_another_architecture(
    saved: tuple[Path, SpectralTransformer], tmp_path: Path
) -> None:
    payload = torch.load(saved[0], weights_only=True)
    payload["state_dict"] = {k: v for k, v in list(payload["state_dict"].items())[1:]}
    torch.save(payload, tmp_path / "spt.pt")
    with pytest.raises(ModelFileError, match=rf"does not match.*{RERUN}"):
        load_model(tmp_path / "spt.pt", device="cpu")


def test_save_into_unwritable_places_names_the_path(
    saved: tuple[Path, SpectralTransformer], tmp_path: Path
) -> None:
    model = load_model(saved[0], device="cpu")
    blocker = tmp_path / "results"
    blocker.write_text("a file where the model folder should be")
    target = blocker / "model" / "spt.pt"
    with pytest.raises(ModelFileError, match=rf"cannot write model file {target}: {blocker} is a"):
        save_model(target, model)
    # /proc takes no new file, even from root: torch's own open fails there.
    with pytest.raises(ModelFileError, match=r"cannot write model file /proc/spt\.pt") as info:
        save_model("/proc/spt.pt", model)
    assert "inline_container" not in str(info.value)
    assert not list(tmp_path.glob("**/*.part"))
