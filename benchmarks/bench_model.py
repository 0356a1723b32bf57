"""Speed of the default SPT: training samples/s, MC-dropout spectra/s, and FLOP/s vs. matmul.

Goal: training and MC-dropout throughput of the model (CPU or GPU), the cost behind every
prediction. Run: ``python benchmarks/bench_model.py [--device cuda]``.

Run ``python benchmarks/bench_model.py`` (CPU) or ``--device cuda``. The MC-dropout rate is
also given for the forward pass as it was before issue #16 (replicating the T passes before the
first block instead of after its deterministic attention), for the before/after figure.
Timings are the best of ``--repeats`` runs, which is robust to other processes sharing the
machine. FLOPs are counted by torch.utils.flop_counter.FlopCounterMode (matrix products only,
the usual convention).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from spt.model import SpectralTransformer
from spt.model.predict import PredictConfig, mc_batch_size, predict_mc
from spt.model.spt import SPTBlock
from spt.model.train import TrainConfig, pick_device, train_model


def best_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Fastest wall time of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_gflops(device: torch.device, repeats: int) -> float:
    """Measured float32 matmul rate of a large square product, in GFLOP/s."""
    n = 8192 if device.type == "cuda" else 4096
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    return 2 * n**3 / best_seconds(lambda: a @ b, device, repeats) / 1e9


def flops_per_spectrum(model: SpectralTransformer) -> int:
    """Forward-pass FLOPs of one spectrum (eval mode; dropout adds none)."""
    model.eval()
    x = torch.zeros(4, model.config_dict()["n_features"], device=model.x_mean.device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() // 4


@contextlib.contextmanager
def replicating_first() -> Iterator[None]:
    """MC dropout as before issue #16: every block runs on the T-fold replicated batch (the
    first block's deterministic BN and attention included). For the before/after figure."""
    shared = SPTBlock.forward

    def forward(self: SPTBlock, x: torch.Tensor, repeats: int = 1) -> torch.Tensor:
        x = x.repeat_interleave(repeats, dim=0) if repeats > 1 else x
        x = x + self.attn(self.norm_attn(x))
        return x + self.ffn(self.norm_ffn(x))

    SPTBlock.forward = forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        SPTBlock.forward = shared  # type: ignore[method-assign]


def synthetic(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA-like inputs with a smooth, noisy (age, mass) dependence."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k)) * np.geomspace(5, 0.05, k)
    mass = 1.3 + 0.08 * X[:, 0] - 0.1 * np.tanh(X[:, 1]) + rng.normal(0, 0.03, n)
    mass = np.clip(mass, 0.6, None)  # positive: the default model works in log labels
    age = 9.0 * np.clip(mass, 0.7, None) ** -2.5 * np.exp(rng.normal(0, 0.1, n))
    return X, np.c_[age, mass]


def main() -> None:
    """Parse arguments, run the measurements, print one figure per line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--n-features", type=int, default=200, help="PCA components")
    parser.add_argument("--n-train", type=int, default=2700)
    parser.add_argument("--n-predict", type=int, default=1024)
    parser.add_argument("--passes", type=int, default=PredictConfig.mc_passes, help="MC T")
    parser.add_argument("--batch-size", type=int, default=0, help="0: mc_batch_size()")
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sweep", action="store_true", help="also time other batch sizes")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    ceiling = matmul_gflops(device, args.repeats)
    print(f"matmul ceiling (float32): {ceiling:.1f} GFLOP/s")

    X, y = synthetic(args.n_train + args.n_predict, args.n_features, seed=0)
    n_val = args.n_train // 10
    Xt, yt = X[: args.n_train - n_val], y[: args.n_train - n_val]
    Xv, yv = X[args.n_train - n_val : args.n_train], y[args.n_train - n_val : args.n_train]
    Xp = X[args.n_train :]

    cfg = TrainConfig(epochs=args.train_epochs, device=str(device), num_threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model, history = train_model(Xt, yt, Xv, yv, cfg, Path(tmp) / "bench.pt", progress=False)
    epoch_s = float(history["seconds"].min())
    flops = flops_per_spectrum(model)
    params = sum(p.numel() for p in model.parameters())
    print(f"model {model.config_dict()}")
    print(f"parameters: {params:,}; forward FLOPs per spectrum: {flops / 1e6:.2f} MFLOP")
    train_rate = len(Xt) / epoch_s
    print(
        f"training: {epoch_s:.2f} s/epoch ({len(Xt)} train + {len(Xv)} val, batch "
        f"{cfg.batch_size}) = {train_rate:.0f} samples/s, "
        f"~{3 * flops * train_rate / 1e9:.1f} GFLOP/s (fwd+bwd = 3 × fwd); "
        f"a full {TrainConfig().epochs}-epoch run ≤ {TrainConfig().epochs * epoch_s / 60:.1f} min"
    )

    model.to(device)
    default = args.batch_size or mc_batch_size(model, args.passes, device)
    sizes = sorted({default, 4, 8, 16, 32, 64, 128}) if args.sweep else [default]
    for batch in sizes:
        seconds = best_seconds(
            lambda b=batch: predict_mc(model, Xp, passes=args.passes, batch_size=b),
            device,
            args.repeats,
        )
        rate = len(Xp) / seconds
        achieved = rate * args.passes * flops / 1e9
        print(
            f"MC-dropout inference (T={args.passes}, batch {batch} spectra = "
            f"{batch * args.passes} sequences): {rate:.0f} spectra/s, {achieved:.1f} GFLOP/s "
            f"= {100 * achieved / ceiling:.0f} % of the matmul ceiling (counting T full passes; "
            "the first block's attention runs once, so fewer are done)"
        )
    with replicating_first():
        seconds = best_seconds(
            lambda: predict_mc(model, Xp, passes=args.passes, batch_size=default),
            device,
            args.repeats,
        )
    print(
        f"MC-dropout inference replicating before the first block (as before #16; T="
        f"{args.passes}, batch {default}): {len(Xp) / seconds:.0f} spectra/s"
    )


if __name__ == "__main__":
    main()
