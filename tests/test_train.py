"""Training loop, checkpoints and resume, model files and MC-dropout prediction (CPU only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from spt.model import SpectralTransformer, make_loss
from spt.model.predict import (
    MC_ACTIVATION_BYTES,
    _RowDropout,
    mc_batch_size,
    predict,
    predict_mc,
    row_seeds,
)
from spt.model.store import load_model, load_train_config, save_model
from spt.model.train import HISTORY_COLUMNS, TrainConfig, pick_device, train_model

torch.set_num_threads(1)


def synthetic(n: int, k: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCA-like inputs and positive, correlated (age, mass) that are smooth functions of them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k)) * np.linspace(3, 0.3, k)
    mass = 1.3 + 0.1 * X[:, 0] - 0.1 * np.tanh(X[:, 1]) + rng.normal(0, 0.02, n)
    age = 9.0 * mass**-2.5 * np.exp(0.05 * X[:, 2] + rng.normal(0, 0.03, n))
    return X, np.c_[age, mass]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    Xt, yt = synthetic(384, seed=0)
    Xv, yv = synthetic(128, seed=1)
    return Xt, yt, Xv, yv


@pytest.fixture(scope="module")
def trained(
    data: tuple[np.ndarray, ...], tmp_path_factory: pytest.TempPathFactory
) -> tuple[SpectralTransformer, pd.DataFrame, Path]:
    path = tmp_path_factory.mktemp("run") / "ckpt.pt"
    model, history = train_model(*data, TrainConfig.tiny(), path, progress=False)
    return model, history, path


def test_pick_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda")


def test_two_epochs_lower_validation_loss(
    data: tuple[np.ndarray, ...], trained: tuple[SpectralTransformer, pd.DataFrame, Path]
) -> None:
    _, yt, Xv, yv = data
    model, history, _ = trained
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == [1, 2]
    assert np.all(history["seconds"] > 0) and history["lr"].iloc[0] == pytest.approx(
        TrainConfig.tiny().lr
    )
    # the untrained baseline: predicting the training mean for every star
    loss = make_loss("mahalanobis", yt)
    mean_pred = torch.as_tensor(np.tile(yt.mean(0), (len(yv), 1)))
    baseline = float(loss(mean_pred, torch.as_tensor(yv)))
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0] < baseline
    assert history["val_loss"].iloc[-1] < 0.8 * baseline
    # the returned model is the best epoch's and reproduces its validation loss
    got = float(loss(torch.as_tensor(predict(model, Xv)), torch.as_tensor(yv)))
    assert got == pytest.approx(history["val_loss"].min(), rel=1e-5)
    assert not model.training


@pytest.mark.parametrize(
    ("loss", "options"), [("mse", {}), ("zscore_mse", {}), ("mahalanobis", {"squared": True})]
)
def test_every_loss_trains(
    data: tuple[np.ndarray, ...], tmp_path: Path, loss: str, options: dict[str, bool]
) -> None:
    cfg = TrainConfig.tiny(loss=loss, loss_options=options)
    _, history = train_model(*data, cfg, tmp_path / "l.pt", progress=False)
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]


def test_checkpoint_contents(trained: tuple[SpectralTransformer, pd.DataFrame, Path]) -> None:
    _, history, path = trained
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["done"] is True
    assert {"model", "optimizer", "scheduler", "rng", "best", "history"} <= set(ckpt)
    assert [row[0] for row in ckpt["history"]] == history["epoch"].tolist()
    assert not list(path.parent.glob("*.part"))  # no temporary left behind


@pytest.mark.parametrize(
    "arch",
    [{}, {"token_layout": "components", "softmax": "plus_one", "n_tokens": 12}],
    ids=["chunks-temperature", "components-plus_one"],
)
def test_resume_is_bit_identical(
    data: tuple[np.ndarray, ...],
    tmp_path: Path,
    arch: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="spt.model.train")
    cfg = TrainConfig.tiny(epochs=4, patience=10)
    cfg.model |= arch
    straight, h_straight = train_model(*data, cfg, tmp_path / "a.pt", progress=False)

    def interrupt(epoch: int, history: pd.DataFrame) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model(*data, cfg, tmp_path / "b.pt", progress=False, callback=interrupt)
    assert torch.load(tmp_path / "b.pt", weights_only=True)["epoch"] == 2
    seen: list[int] = []
    resumed, h_resumed = train_model(
        *data, cfg, tmp_path / "b.pt", progress=False, callback=lambda e, h: seen.append(e)
    )
    assert seen == [3, 4]  # only the remaining epochs ran
    assert f"resuming from checkpoint {tmp_path / 'b.pt'} at epoch 2 of 4" in caplog.text
    for (name, a), (_, b) in zip(
        straight.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    cols = ["epoch", "train_loss", "val_loss", "lr"]
    pd.testing.assert_frame_equal(h_straight[cols], h_resumed[cols], check_exact=True)
    # a finished checkpoint is returned as it is, without training again
    seen.clear()
    again, h_again = train_model(
        *data, cfg, tmp_path / "b.pt", progress=False, callback=lambda e, h: seen.append(e)
    )
    assert seen == [] and h_again["epoch"].tolist() == [1, 2, 3, 4]
    assert all(
        torch.equal(a, b)
        for a, b in zip(again.state_dict().values(), resumed.state_dict().values(), strict=True)
    )


def test_checkpoint_from_other_config_is_not_resumed(
    data: tuple[np.ndarray, ...], trained: tuple[SpectralTransformer, pd.DataFrame, Path]
) -> None:
    _, _, path = trained
    other = path.with_name("other.pt")
    other.write_bytes(path.read_bytes())
    with pytest.warns(UserWarning, match="another config"):
        _, history = train_model(*data, TrainConfig.tiny(seed=1), other, progress=False)
    assert history["epoch"].tolist() == [1, 2]


def test_early_stopping_restores_best_weights(data: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    Xt, yt, Xv, yv = data
    # a far too large learning rate: the validation loss stops improving early
    cfg = TrainConfig.tiny(epochs=30, patience=2, lr=0.3, scheduler="plateau", grad_clip=None)
    model, history = train_model(Xt, yt, Xv, yv, cfg, tmp_path / "c.pt", progress=False)
    best = int(history["val_loss"].idxmin())
    assert len(history) == best + 1 + cfg.patience < cfg.epochs
    loss = make_loss("mahalanobis", yt)
    got = float(loss(torch.as_tensor(predict(model, Xv)), torch.as_tensor(yv)))
    assert got == pytest.approx(history["val_loss"].iloc[best], rel=1e-5)


def test_training_leaves_global_state_alone(data: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    torch.set_num_threads(2)
    try:
        cfg = TrainConfig.tiny(epochs=1, num_threads=1)
        train_model(*data, cfg, tmp_path / "d.pt", progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert torch.equal(torch.get_rng_state(), before)
    assert not torch.are_deterministic_algorithms_enabled()


def test_save_and_load_model(
    data: tuple[np.ndarray, ...],
    trained: tuple[SpectralTransformer, pd.DataFrame, Path],
    tmp_path: Path,
) -> None:
    Xt, yt, Xv, _ = data
    model, _, _ = trained
    cfg = TrainConfig.tiny()
    save_model(tmp_path / "spt.pt", model, cfg, extra={"pca_components": 12})
    loaded = load_model(tmp_path / "spt.pt", device="cpu")
    assert loaded.config_dict() == model.config_dict() and not loaded.training
    np.testing.assert_array_equal(predict(loaded, Xv), predict(model, Xv))
    assert load_train_config(tmp_path / "spt.pt") == cfg
    payload = torch.load(tmp_path / "spt.pt", weights_only=True)
    np.testing.assert_allclose(payload["label_cov"], np.cov(yt, rowvar=False), rtol=1e-5)
    np.testing.assert_allclose(payload["standardisation"]["x_mean"], Xt.mean(0), atol=1e-5)
    assert payload["extra"] == {"pca_components": 12}
    with pytest.raises(ValueError, match="not an SPT model file"):
        torch.save({"format": "other"}, tmp_path / "x.pt")
        load_model(tmp_path / "x.pt", device="cpu")


def test_predict_mc_spread_and_determinism(
    data: tuple[np.ndarray, ...], trained: tuple[SpectralTransformer, pd.DataFrame, Path]
) -> None:
    Xv = data[2]
    model, _, _ = trained
    rng_before = torch.get_rng_state()
    bn_before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    calls: list[int] = []
    hook = model.register_forward_hook(lambda m, args, out: calls.append(len(out)))
    mean, std = predict_mc(model, Xv, passes=16, batch_size=50, seed=7)
    hook.remove()
    # a one-row probe learns the dropout masks' sizes, then 128 spectra in chunks of 50: three
    # batched forward passes of 50, 50, 28 spectra × 16
    assert calls == [1, 800, 800, 448]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in bn_before.items())
    assert mean.shape == std.shape == (len(Xv), 2)
    assert np.all(std > 0)
    assert torch.equal(torch.get_rng_state(), rng_before) and not model.training
    mean2, std2 = predict_mc(model, Xv, passes=16, batch_size=50, seed=7)
    np.testing.assert_array_equal(mean, mean2)
    np.testing.assert_array_equal(std, std2)
    mean3, _ = predict_mc(model, Xv, passes=16, batch_size=50, seed=8)
    assert not np.array_equal(mean, mean3)
    # the MC mean scatters about the deterministic prediction by about std / sqrt(T)
    z = (mean - predict(model, Xv)) / (std / 4)
    assert np.median(np.abs(z)) < 3
    _, std1 = predict_mc(model, Xv[:5], passes=1)
    np.testing.assert_array_equal(std1, 0.0)


def test_predict_mc_row_does_not_depend_on_its_batch(
    data: tuple[np.ndarray, ...], trained: tuple[SpectralTransformer, pd.DataFrame, Path]
) -> None:
    """A spectrum's MC mean and spread are the same alone, in another batch size, among other
    neighbours or twice in one call: what lets a user's own call reproduce a catalogue row.
    Catches masks drawn from one generator per batch (the numbers then follow the position)."""
    Xv = data[2]
    model, _, _ = trained
    mean, std = predict_mc(model, Xv, passes=16, batch_size=50, seed=7)
    picked = [3, 77, 120]
    for batch in (1, 7, 200):
        m, s = predict_mc(model, Xv[picked], passes=16, batch_size=batch, seed=7)
        np.testing.assert_allclose(m, mean[picked], rtol=1e-6)
        np.testing.assert_allclose(s, std[picked], rtol=1e-5)
    m, s = predict_mc(model, Xv[[120, 120, 3]][::-1], passes=16, batch_size=2, seed=7)
    np.testing.assert_allclose(m, mean[[3, 120, 120]], rtol=1e-6)
    assert len(set(row_seeds(Xv, 7))) == len(Xv)  # distinct spectra, distinct masks
    assert row_seeds(Xv[:1], 7) != row_seeds(Xv[:1], 8)


def test_predict_mc_with_ids_ignores_the_last_bits_of_x(
    data: tuple[np.ndarray, ...], trained: tuple[SpectralTransformer, pd.DataFrame, Path]
) -> None:
    """With obsids as ids, X's last bits (they follow the BLAS thread count) move a prediction
    by rounding only; seeded from X's bytes, they draw other masks. Catches a catalogue row
    that a user's own call, with other threads, does not repeat."""
    model, _, _ = trained
    Xv = data[2][:40].astype(np.float32)
    nudged = np.nextafter(Xv, np.float32(np.inf))  # one ulp: what another thread count gives
    ids = np.arange(1000, 1040)
    mean, std = predict_mc(model, Xv, passes=16, seed=7, ids=ids)
    m, s = predict_mc(model, nudged, passes=16, seed=7, ids=ids)
    np.testing.assert_allclose(m, mean, rtol=1e-4)
    np.testing.assert_allclose(s, std, rtol=1e-3)
    m_x, _ = predict_mc(model, nudged, passes=16, seed=7)
    assert np.abs(m_x / predict_mc(model, Xv, passes=16, seed=7)[0] - 1).max() > 1e-3
    m_other, _ = predict_mc(model, Xv, passes=16, seed=7, ids=ids + 1)
    assert np.abs(m_other / mean - 1).max() > 1e-3  # the id, not the position, sets the masks
    with pytest.raises(ValueError, match="ids has 3 rows"):
        predict_mc(model, Xv, passes=2, ids=ids[:3])


def test_mc_batch_size_bounds_the_activation() -> None:
    model = SpectralTransformer(200)  # widest activation: Q/K/V, 3 × 4 × 64 per token
    batch = mc_batch_size(model, passes=50, device=torch.device("cpu"))
    assert batch == MC_ACTIVATION_BYTES["cpu"] // (4 * 768 * 8 * 50)
    assert mc_batch_size(model, passes=10**6, device=torch.device("cpu")) == 1


def test_predict_mc_without_dropout_is_the_deterministic_prediction(
    data: tuple[np.ndarray, ...],
) -> None:
    Xt, yt, Xv, _ = data
    torch.manual_seed(0)
    model = SpectralTransformer.tiny(Xt.shape[1], dropout=0.0)
    model.set_data_stats(Xt, yt)
    model.train()(torch.as_tensor(Xt, dtype=torch.float32))  # populate BatchNorm statistics
    mean, std = predict_mc(model.eval(), Xv, passes=5, batch_size=40)
    np.testing.assert_allclose(mean, predict(model, Xv), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, 0.0, atol=1e-5)


def test_noise_augmentation_draws_from_the_given_noise(
    data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    """X_noise changes the training (each row gets one of its draws), reproducibly, a resumed run
    draws the same noise, and a mis-shaped X_noise is refused."""
    Xt = data[0]
    noise = np.random.default_rng(5).normal(0.0, 0.5, (len(Xt), 3, Xt.shape[1]))
    cfg = TrainConfig.tiny(epochs=3, patience=10)
    plain, _ = train_model(*data, cfg, tmp_path / "p.pt", progress=False)
    noisy, h1 = train_model(*data, cfg, tmp_path / "n1.pt", progress=False, X_noise=noise)
    again, _ = train_model(*data, cfg, tmp_path / "n2.pt", progress=False, X_noise=noise)
    w = {k: v for k, v in noisy.state_dict().items() if v.is_floating_point()}
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in w.items())
    assert not all(torch.equal(v, plain.state_dict()[k]) for k, v in w.items())
    # a checkpoint of the noiseless run is not resumed with noise (the data differ)
    assert (
        torch.load(tmp_path / "p.pt", weights_only=True)["fingerprint"]
        != torch.load(tmp_path / "n1.pt", weights_only=True)["fingerprint"]
    )

    def interrupt(epoch: int, history: pd.DataFrame) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model(*data, cfg, tmp_path / "r.pt", False, interrupt, X_noise=noise)
    resumed, h3 = train_model(*data, cfg, tmp_path / "r.pt", progress=False, X_noise=noise)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in w.items())
    assert h1["train_loss"].tolist() == h3["train_loss"].tolist()
    with pytest.raises(ValueError, match=r"X_noise .* must be \(n_train, draws, n_features\)"):
        train_model(*data, cfg, tmp_path / "b.pt", progress=False, X_noise=noise[:-1])
    with pytest.raises(ValueError, match="X_noise must be 3-D"):
        train_model(*data, cfg, tmp_path / "b.pt", progress=False, X_noise=noise[:, 0])


def test_weight_average_is_what_is_scored_and_returned(
    data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    """With ema_decay the returned weights are the moving average (not the last step's), the
    validation loss is the average's, and a resumed run is bit-identical (the average is in
    the checkpoint)."""
    cfg = TrainConfig.tiny(epochs=3, patience=10, ema_decay=0.9)
    plain, _ = train_model(*data, TrainConfig.tiny(epochs=3, patience=10), tmp_path / "p.pt",
                           progress=False)  # fmt: skip
    ema, history = train_model(*data, cfg, tmp_path / "e.pt", progress=False)
    ckpt = torch.load(tmp_path / "e.pt", weights_only=False)
    averaged = {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k != "n_averaged"}
    best = ckpt["best_epoch"]
    assert int(ckpt["ema"]["n_averaged"]) == 3 * 12  # 384 rows / 32 per batch, 3 epochs
    assert all(torch.equal(v, ckpt["best"][k]) for k, v in ema.state_dict().items())
    if best == 3:  # the best epoch is the last: the returned model is the running average
        assert all(torch.equal(v, averaged[k]) for k, v in ema.state_dict().items())
    assert not torch.equal(ema.state_dict()["head.3.weight"], ckpt["model"]["head.3.weight"])
    assert not torch.equal(ema.state_dict()["head.3.weight"], plain.state_dict()["head.3.weight"])
    Xv, yv = data[2], data[3]
    loss_fn = make_loss("mahalanobis", ema.encode_labels(data[1]).astype(np.float32))
    with torch.no_grad():
        encoded = torch.from_numpy(ema.encode_labels(yv).astype(np.float32))
        val = float(loss_fn(ema(torch.from_numpy(Xv.astype(np.float32)), encoded=True), encoded))
    assert val == pytest.approx(history["val_loss"].min(), rel=1e-5)

    def interrupt(epoch: int, history: pd.DataFrame) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model(*data, cfg, tmp_path / "r.pt", False, interrupt)
    resumed, _ = train_model(*data, cfg, tmp_path / "r.pt", progress=False)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in ema.state_dict().items())


def test_invalid_inputs_raise(data: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    Xt, yt, Xv, yv = data
    bad = Xt.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_model(bad, yt, Xv, yv, TrainConfig.tiny(), tmp_path / "e.pt", progress=False)
    with pytest.raises(ValueError, match="do not match"):
        train_model(Xt, yt[:-1], Xv, yv, TrainConfig.tiny(), tmp_path / "e.pt", progress=False)
    with pytest.raises(ValueError, match="unknown train setting"):
        TrainConfig.from_dict({"epochs": 3, "learning_rate": 0.1})


def test_log_label_training_and_geometric_mc_mean(
    data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    Xt, yt, Xv, yv = data
    cfg = TrainConfig.tiny(epochs=3, model={**TrainConfig.tiny().model, "log_labels": True})
    model, history = train_model(Xt, yt, Xv, yv, cfg, tmp_path / "log.pt", progress=False)
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    mean, std = predict_mc(model, Xv, passes=16, batch_size=64, seed=5)
    # by hand: the same passes in log space (each spectrum's own masks), then exp(mean) and
    # exp(mean) * std
    with _RowDropout(model) as dropout, torch.inference_mode():
        x = torch.as_tensor(Xv, dtype=torch.float32)
        dropout.draw(x, row_seeds(Xv, 5), 16)
        logs = [model(x, 16, encoded=True)
                .view(-1, 16, 2).double()]  # fmt: skip
    logs = torch.cat(logs)
    np.testing.assert_allclose(mean, torch.exp(logs.mean(1)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(std, (torch.exp(logs.mean(1)) * logs.std(1)).numpy(), rtol=1e-10)
    assert np.all(mean > 0)


@pytest.mark.parametrize("log_labels", [False, True])
def test_one_label_trains_with_a_1x1_mahalanobis_loss(
    data: tuple[np.ndarray, ...], tmp_path: Path, log_labels: bool
) -> None:
    """features.labels = [mass]: one output, the loss is |r| / sigma, MC dropout and the error
    passes work per column."""
    Xt, yt, Xv, yv = data
    mt, mv = yt[:, [1]], yv[:, [1]]
    loss = make_loss("mahalanobis", mt)
    r = torch.as_tensor(mv - mt.mean())
    expected = float(torch.mean(torch.abs(r))) / np.std(mt, ddof=1)
    assert float(loss(torch.full_like(r, mt.mean()), torch.as_tensor(mv))) == pytest.approx(
        expected,
        rel=1e-5,  # the loss's sqrt(d^2 + eps) - sqrt(eps) takes ~1e-6
    )
    cfg = TrainConfig.tiny(epochs=3, model={**TrainConfig.tiny().model, "log_labels": log_labels})
    model, history = train_model(Xt, mt, Xv, mv, cfg, tmp_path / "mass.pt", progress=False)
    assert model.config_dict()["n_outputs"] == 1 and tuple(model.y_cov.shape) == (1, 1)
    stat = np.log(mt[:, 0]) if log_labels else mt[:, 0]
    assert float(model.y_cov[0, 0]) == pytest.approx(np.var(stat, ddof=1), rel=1e-5)
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    mean, std = predict_mc(model, Xv, passes=8, seed=1)
    assert mean.shape == std.shape == (len(Xv), 1) and np.all(std > 0)
