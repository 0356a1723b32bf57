"""Hadamard self-attention, the softmax variants and the SPT model."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from spt.model import (
    SOFTMAX_KINDS,
    HadamardSelfAttention,
    SpectralTransformer,
    TokenBatchNorm,
    TokenDropout,
    attention_weights,
)

torch.set_num_threads(1)


def reference_hsa(attn: HadamardSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """HSA written out with Python loops over batch, token and channel (the slow reference)."""
    w_qkv = attn.qkv.weight.tolist()
    w_out, b_out = attn.out.weight.tolist(), attn.out.bias.tolist()
    inner = attn.n_heads * attn.d_head
    n_batch, n_tok, d_model = x.shape
    out = torch.zeros(n_batch, n_tok, d_model, dtype=torch.float64)
    for b in range(n_batch):
        proj = [
            [sum(w_qkv[c][j] * float(x[b, n, j]) for j in range(d_model)) for c in range(3 * inner)]
            for n in range(n_tok)
        ]
        q = [row[:inner] for row in proj]
        k = [row[inner : 2 * inner] for row in proj]
        v = [row[2 * inner :] for row in proj]
        o = [[0.0] * inner for _ in range(n_tok)]
        for c in range(inner):
            s = [q[n][c] * k[n][c] * attn.scale for n in range(n_tok)]
            if attn.softmax == "temperature":
                temp = math.exp(attn.log_temperature[c // attn.d_head].item())
                s = [si / temp for si in s]
            e = [math.exp(si) for si in s]
            denom = sum(e) + (1.0 if attn.softmax == "plus_one" else 0.0)
            context = sum(e[n] / denom * v[n][c] for n in range(n_tok))
            for n in range(n_tok):
                o[n][c] = q[n][c] * context
        for n in range(n_tok):
            for i in range(d_model):
                out[b, n, i] = sum(w_out[i][c] * o[n][c] for c in range(inner)) + b_out[i]
    return out


@pytest.mark.parametrize("kind", SOFTMAX_KINDS)
def test_hsa_matches_loop_reference(kind: str) -> None:
    torch.manual_seed(0)
    attn = HadamardSelfAttention(d_model=4, n_heads=2, d_head=3, dropout=0.0, softmax=kind).double()
    if attn.log_temperature is not None:
        with torch.no_grad():
            attn.log_temperature.copy_(torch.tensor([0.3, -0.5]))
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(attn(x), reference_hsa(attn, x), rtol=1e-10, atol=1e-12)


def test_hsa_mixes_tokens_and_is_permutation_equivariant() -> None:
    torch.manual_seed(1)
    attn = HadamardSelfAttention(d_model=8, n_heads=2, d_head=4, dropout=0.0).double()
    x = torch.randn(1, 5, 8, dtype=torch.float64, requires_grad=True)
    # token 0's output depends on token 3's input
    (grad,) = torch.autograd.grad(attn(x)[0, 0].sum(), x)
    assert grad[0, 3].abs().sum() > 1e-6
    perm = torch.tensor([4, 2, 0, 1, 3])
    torch.testing.assert_close(attn(x[:, perm]), attn(x)[:, perm])


@pytest.mark.parametrize("kind", SOFTMAX_KINDS)
def test_hsa_gradcheck(kind: str) -> None:
    torch.manual_seed(2)
    attn = HadamardSelfAttention(d_model=4, n_heads=2, d_head=2, dropout=0.0, softmax=kind).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(attn, (x,))
    if kind == "temperature":  # gradient to the learnable temperature too
        log_t = attn.log_temperature
        assert log_t is not None

        def through_temperature(lt: torch.Tensor) -> torch.Tensor:
            scores = x.detach()[..., :2] * 0.7
            return attention_weights(scores, dim=1, kind=kind, temperature=lt.exp())

        assert torch.autograd.gradcheck(
            through_temperature, (torch.randn(2, dtype=torch.float64, requires_grad=True),)
        )


def test_softmax_variants_properties() -> None:
    torch.manual_seed(3)
    s = torch.randn(4, 6, 5, dtype=torch.float64)
    temp = torch.tensor([0.5, 2.0, 1.0, 1.0, 3.0], dtype=torch.float64)
    std = attention_weights(s, dim=1, kind="standard")
    tmp = attention_weights(s, dim=1, kind="temperature", temperature=temp)
    one = attention_weights(s, dim=1, kind="plus_one")
    # normalised over the token axis: standard and temperature sum to 1, plus_one to < 1
    torch.testing.assert_close(std.sum(1), torch.ones(4, 5, dtype=torch.float64))
    torch.testing.assert_close(tmp.sum(1), torch.ones(4, 5, dtype=torch.float64))
    assert torch.all(one.sum(1) < 1) and torch.all(one > 0)
    # plus_one is exp(s) / (1 + sum exp(s)) exactly
    torch.testing.assert_close(one, s.exp() / (1 + s.exp().sum(1, keepdim=True)))
    # shift invariance holds for standard and temperature, not for plus_one
    shifted = s + 2.5
    torch.testing.assert_close(attention_weights(shifted, 1, "standard"), std)
    torch.testing.assert_close(attention_weights(shifted, 1, "temperature", temp), tmp)
    assert not torch.allclose(attention_weights(shifted, 1, "plus_one"), one)
    # temperature 1 is the standard softmax; a cold temperature approaches the argmax
    torch.testing.assert_close(
        attention_weights(s, 1, "temperature", torch.ones(5, dtype=s.dtype)), std
    )
    cold = attention_weights(s, 1, "temperature", torch.full((5,), 1e-3, dtype=s.dtype))
    torch.testing.assert_close(cold.argmax(1), s.argmax(1))
    assert float(cold.max(1).values.min()) > 0.99
    # every variant preserves the ordering of the scores
    order = s.argsort(dim=1)
    for w in (std, tmp, one):
        torch.testing.assert_close(w.argsort(dim=1), order)


def test_softmax_variants_are_stable_and_validated() -> None:
    big = torch.tensor([[1000.0, 999.0, -1000.0]])
    for kind in SOFTMAX_KINDS:
        w = attention_weights(big, dim=1, kind=kind, temperature=torch.tensor(1.0))
        assert torch.all(torch.isfinite(w))
        assert float(w[0, 0]) == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-6)
    with pytest.raises(ValueError, match="unknown softmax"):
        attention_weights(big, dim=1, kind="sparsemax")
    with pytest.raises(ValueError, match="needs a temperature"):
        attention_weights(big, dim=1, kind="temperature")


def test_token_batchnorm_equals_batchnorm1d_on_transposed_input() -> None:
    torch.manual_seed(4)
    ours, ref = TokenBatchNorm(6), torch.nn.BatchNorm1d(6)
    x = torch.randn(5, 7, 6) * 3 + 1
    torch.testing.assert_close(ours(x), ref(x.transpose(1, 2)).transpose(1, 2))
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)


@pytest.mark.parametrize("layout", ["chunks", "components"])
def test_model_shapes_repeats_and_config_roundtrip(layout: str) -> None:
    torch.manual_seed(5)
    model = SpectralTransformer.tiny(10, token_layout=layout, n_tokens=3).eval()
    x = torch.randn(4, 10)
    out = model(x)
    assert out.shape == (4, 2)
    # in eval mode the T replicas of a spectrum are identical and consecutive
    torch.testing.assert_close(model(x, repeats=3), out.repeat_interleave(3, dim=0))
    twin = SpectralTransformer.from_config(model.config_dict())
    assert (
        twin.config_dict() == model.config_dict() == {**model.config_dict(), "token_layout": layout}
    )
    twin.load_state_dict(model.state_dict())
    torch.testing.assert_close(twin.eval()(x), out)


def test_component_layout_groups_components() -> None:
    torch.manual_seed(6)
    model = SpectralTransformer.tiny(7, token_layout="components", n_tokens=3)
    # numpy.array_split grouping: components {0,1,2}, {3,4}, {5,6}
    x = torch.zeros(1, 7)
    base = model.embed(x)
    x[0, 3] = 1.0
    changed = (model.embed(x) - base).abs().sum(-1)[0]
    assert changed[1] > 0 and changed[0] == 0 and changed[2] == 0
    # one token per component: value × embedding + position
    per = SpectralTransformer.tiny(5, token_layout="components", n_tokens=5).embed
    x = torch.randn(2, 5)
    expected = x[:, :, None] * per.weight[:, 0][None] + per.position[None]
    torch.testing.assert_close(per(x), expected)
    with pytest.raises(ValueError, match="n_tokens"):
        SpectralTransformer.tiny(4, token_layout="components", n_tokens=5)


def test_model_standardises_inputs_and_returns_physical_units() -> None:
    torch.manual_seed(7)
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, size=(50, 6))
    y = np.c_[rng.uniform(1, 12, 50), rng.uniform(0.8, 2.5, 50)]
    model = SpectralTransformer.tiny(6)
    model.set_data_stats(X, y)
    np.testing.assert_allclose(model.y_cov.numpy(), np.cov(y, rowvar=False), rtol=1e-6)
    torch.nn.init.zeros_(model.head[-1].weight)
    torch.nn.init.zeros_(model.head[-1].bias)
    out = model.eval()(torch.as_tensor(X, dtype=torch.float32))
    # a zero head predicts the training label mean, in physical units
    np.testing.assert_allclose(out.detach().numpy(), np.tile(y.mean(0), (50, 1)), rtol=1e-6)
    with pytest.raises(ValueError, match="constant"):
        model.set_data_stats(X, np.c_[y[:, 0], np.ones(50)])


def test_model_rejects_unknown_choices() -> None:
    with pytest.raises(ValueError, match="token_layout"):
        SpectralTransformer(8, token_layout="pixels")
    with pytest.raises(ValueError, match="softmax"):
        SpectralTransformer(8, softmax="entmax")


def test_token_dropout_shares_its_mask_across_tokens() -> None:
    torch.manual_seed(8)
    drop = TokenDropout(0.25)
    x = torch.ones(400, 6, 32)
    out = drop(x)
    # one mask per (sequence, channel): identical across the 6 tokens, values 0 or 1/(1 - p)
    torch.testing.assert_close(out, out[:, :1].expand_as(out))
    torch.testing.assert_close(out.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert float((out == 0).float().mean()) == pytest.approx(0.25, abs=0.02)
    assert float(out.mean()) == pytest.approx(1.0, abs=0.03)  # unbiased in expectation
    assert torch.equal(drop.eval()(x), x)


def test_log_labels_work_in_log_space() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64, 12)).astype(np.float32)
    y = np.c_[np.exp(rng.normal(1.5, 0.5, 64)), np.exp(rng.normal(0.2, 0.2, 64))]
    torch.manual_seed(0)
    model = SpectralTransformer.tiny(12, log_labels=True).eval()
    model.set_data_stats(X, y)
    np.testing.assert_allclose(model.y_mean.numpy(), np.log(y).mean(0), rtol=1e-5)
    np.testing.assert_allclose(model.y_cov.numpy(), np.cov(np.log(y), rowvar=False), rtol=1e-5)
    with torch.no_grad():
        x = torch.as_tensor(X)
        physical, encoded = model(x), model(x, encoded=True)
    assert torch.all(physical > 0)
    torch.testing.assert_close(torch.log(physical), encoded)
    assert model.config_dict()["log_labels"] is True
    with pytest.raises(ValueError, match="positive labels"):
        model.set_data_stats(X, y * np.r_[-1.0, np.ones(63)][:, None])
    mean, std = model.decode_moments(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.1, 0.2]]))
    torch.testing.assert_close(mean, torch.tensor([[1.0, math.e]]))
    torch.testing.assert_close(std, torch.tensor([[0.1, 0.2 * math.e]]))


# ---------------------------------------------------------------- MC dropout: shared prefix
def _replicate_first(model: SpectralTransformer, x: torch.Tensor, repeats: int) -> torch.Tensor:
    """The forward pass as it was before the first block shared its attention: the embedded
    tokens replicated first, then every block in full (the reference the new path must match)."""
    tokens = model.embed((x - model.x_mean) / model.x_std).repeat_interleave(repeats, dim=0)
    for block in model.blocks:
        tokens = tokens + block.attn(block.norm_attn(tokens))
        tokens = tokens + block.ffn(block.norm_ffn(tokens))
    return model.head(model.norm(tokens).mean(dim=1)) * model.y_std + model.y_mean


@contextlib.contextmanager
def _mc_dropout(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode with the dropout layers in training mode (masks from the global RNG)."""
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.train()
    try:
        yield
    finally:
        model.eval()


def _model_with_running_stats(seed: int, **overrides) -> SpectralTransformer:
    """A model whose BatchNorm running statistics are not the identity (as after training)."""
    torch.manual_seed(seed)
    model = SpectralTransformer(20, **overrides)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    return model


@pytest.mark.parametrize("overrides", [{}, {"n_layers": 1, "softmax": "plus_one"}])
def test_mc_forward_shares_the_first_attention_with_the_same_draws(overrides) -> None:
    """forward(repeats=T) in MC mode equals replicate-then-run with the same seed. Catches a
    dropout applied before the replication (one mask for all T passes: no spread), masks drawn
    in another order or shape, the residual not replicated, repeat vs repeat_interleave."""
    model = _model_with_running_stats(11, **overrides)
    x = torch.randn(6, 20)
    with _mc_dropout(model), torch.inference_mode():
        torch.manual_seed(3)
        ours = model(x, repeats=50, encoded=True)
        after = torch.rand(1)  # the generator ends in the same state: same number of draws
        torch.manual_seed(3)
        reference = _replicate_first(model, x, 50)
        assert torch.equal(after, torch.rand(1))
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    passes = ours.view(6, 50, -1)
    assert bool((passes.std(dim=1) > 0).all())  # every spectrum's passes differ


def test_predict_mc_same_numbers_as_replicating_first(monkeypatch) -> None:
    """predict_mc with a fixed seed gives what it gave when the tokens were replicated first."""
    from spt.model import predict as predict_module
    from spt.model.spt import SPTBlock

    model = _model_with_running_stats(12)
    X = np.random.default_rng(1).normal(size=(30, 20)).astype(np.float32)
    ours = predict_module.predict_mc(model, X, passes=50, batch_size=8, seed=4)

    def replicate_first(self, x, repeats=1):  # the old SPTBlock.forward, replicating first
        x = x.repeat_interleave(repeats, dim=0) if repeats > 1 else x
        x = x + self.attn(self.norm_attn(x))
        return x + self.ffn(self.norm_ffn(x))

    monkeypatch.setattr(SPTBlock, "forward", replicate_first)
    reference = predict_module.predict_mc(model, X, passes=50, batch_size=8, seed=4)
    for got, want in zip(ours, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_training_forward_is_unchanged() -> None:
    """repeats=1 in training mode (BN on batch statistics, dropout on): identical outputs,
    gradients and running statistics to the plain block, and repeats > 1 in training mode
    still replicates first (BN batch statistics must see the replicated batch)."""
    x = torch.randn(16, 20)
    results = []
    for reference in (False, True):
        model = _model_with_running_stats(13).train()
        torch.manual_seed(5)
        out = _replicate_first(model, x, 1) if reference else model(x, encoded=True)
        out.sum().backward()
        grads = [p.grad.clone() for p in model.parameters()]
        stats = [b.clone() for b in model.buffers()]
        results.append((out.detach(), grads, stats))
    (out, grads, stats), (ref_out, ref_grads, ref_stats) = results
    assert torch.equal(out, ref_out)
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(stats, ref_stats, strict=True))
    model = _model_with_running_stats(14).train()
    torch.manual_seed(6)
    ours = model(x[:4], repeats=3, encoded=True)
    model = _model_with_running_stats(14).train()
    torch.manual_seed(6)
    torch.testing.assert_close(ours, _replicate_first(model, x[:4], 3))
