"""Multi-head Hadamard self-attention (HSA) and the softmax variants behind one function.

The paper (Zhang et al. 2024) says only that HSA scores combine Q and K by the element-wise
(Hadamard) product, are scaled, pass through an "enhanced softmax", and weight V. Our design:

    s[n, c] = (Q[n, c] * K[n, c]) * scale                  Hadamard score, token n, channel c
    a[:, c] = attention_weights(s[:, c], over tokens)       normalised over the token axis
    g[c]    = sum_n a[n, c] * V[n, c]                       one global context per channel
    o[n, c] = Q[n, c] * g[c]                                the query gates the context
    out     = o @ W_o                                       heads concatenated, final linear

Why this form: the Hadamard score gives one weight per (token, channel) instead of a token x
token matrix, so the cost is linear in the number of tokens (as in additive / "Fastformer"
attention), while normalising over tokens and summing over them still mixes information across
tokens; gating with the token's own query keeps each token's output distinct. Channels are
grouped into heads of ``d_head`` (the paper's d* = 64) only for the scale and the per-head
temperature: since every operation is per channel, the heads run in parallel by construction
and "concatenate" is a no-op on the channel axis.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor, nn

SoftmaxKind = Literal["standard", "temperature", "plus_one"]
SOFTMAX_KINDS: tuple[str, ...] = get_args(SoftmaxKind)


def attention_weights(
    scores: Tensor, dim: int, kind: str = "standard", temperature: Tensor | None = None
) -> Tensor:
    """Turn attention scores into weights along ``dim``; every softmax variant lives here.

    kind:
      - "standard": softmax. Sums to 1, invariant to adding a constant, keeps the ordering.
      - "temperature" (our default "enhanced softmax"): softmax(scores / T) with a learnable,
        positive temperature T (broadcastable to ``scores``, one per head in HSA). Initialised
        at T = 1 it equals the standard softmax; each head learns to sharpen or flatten. Same
        properties as the standard softmax.
      - "plus_one": exp(s_i) / (1 + sum_j exp(s_j)), the softmax with an implicit extra zero
        logit ("softmax_1"): a head may attend to nothing. Sums to < 1, keeps the ordering, is
        not shift invariant. Computed with the largest of the scores and 0 subtracted first.
    """
    if kind == "standard":
        return torch.softmax(scores, dim=dim)
    if kind == "temperature":
        if temperature is None:
            raise ValueError("softmax kind 'temperature' needs a temperature tensor")
        return torch.softmax(scores / temperature, dim=dim)
    if kind == "plus_one":
        # any shift m gives the same value; m = max(s, 0) keeps every exponent <= 0
        m = scores.detach().amax(dim=dim, keepdim=True).clamp_min(0)
        e = torch.exp(scores - m)
        return e / (torch.exp(-m) + e.sum(dim=dim, keepdim=True))
    raise ValueError(f"unknown softmax kind {kind!r}; choose one of {SOFTMAX_KINDS}")


class TokenDropout(nn.Dropout):
    """Dropout with one mask per sequence and channel, shared by all its tokens.

    This is the "variational" dropout of Gal & Ghahramani (2016), the MC-dropout form for
    sequence models: a pass drops whole feature channels of a spectrum consistently across its
    tokens. It also draws n_tokens times fewer random numbers, which matters for the T-fold
    batched MC-dropout passes on a CPU (random number generation outweighed the matmuls).
    """

    def forward(self, x: Tensor) -> Tensor:
        """Drop channels of ``x`` (batch, tokens, d) with probability p, scaling by 1/(1 − p)."""
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty(x.shape[0], 1, x.shape[-1]).bernoulli_(1 - self.p)
        return x * keep.div_(1 - self.p)


class HadamardSelfAttention(nn.Module):
    """Multi-head Hadamard self-attention on (batch, tokens, d_model), linear in tokens.

    d_head defaults to the paper's d* = 64; ``scale`` defaults to 1/sqrt(d_head), the usual
    transformer scaling the paper's "are scaled" most likely refers to. The Q, K, V projection
    has no bias (as in most transformers; it also saves a bias copy per token on the CPU).
    ``dropout`` (a TokenDropout) acts on the output: one of the MC-dropout noise sources, and
    the only random step, so ``attend`` (all before it) is deterministic: the model's first
    block computes it once per spectrum for all the MC-dropout passes.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int = 4,
        d_head: int = 64,
        dropout: float = 0.1,
        softmax: str = "temperature",
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if softmax not in SOFTMAX_KINDS:
            raise ValueError(f"unknown softmax kind {softmax!r}; choose one of {SOFTMAX_KINDS}")
        self.n_heads = n_heads
        self.d_head = d_head
        self.softmax = softmax
        self.scale = 1.0 / math.sqrt(d_head) if scale is None else float(scale)
        inner = n_heads * d_head
        self.qkv = nn.Linear(d_model, 3 * inner, bias=False)
        self.out = nn.Linear(inner, d_model)
        self.dropout = TokenDropout(dropout)
        # log-temperature per head, so T = exp(.) stays positive; T = 1 at initialisation
        self.log_temperature = (
            nn.Parameter(torch.zeros(n_heads)) if softmax == "temperature" else None
        )

    def temperature(self) -> Tensor | None:
        """Per-channel temperature (each head's value repeated d_head times), or None."""
        if self.log_temperature is None:
            return None
        return self.log_temperature.exp().repeat_interleave(self.d_head)

    def attend(self, x: Tensor) -> Tensor:
        """The attention output before its dropout: deterministic, one row per input row."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = q * k * self.scale
        weights = attention_weights(
            scores, dim=1, kind=self.softmax, temperature=self.temperature()
        )
        context = (weights * v).sum(dim=1, keepdim=True)
        return self.out(q * context)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the token axis of ``x`` (batch, tokens, d_model); dropout last."""
        return self.dropout(self.attend(x))
