"""The Spectral Transformer: PCA vector → tokens → L SPT blocks → pooled MLP head → (age, mass).

The model carries its own data statistics as buffers (input and label mean/std, label
covariance): ``forward`` takes raw PCA vectors and returns labels in physical units, so a saved
state dict is all that prediction needs. With ``log_labels`` the head works in (log age,
log mass): the label statistics, the loss's covariance and ``forward(..., encoded=True)`` are
in that space, and ``forward`` returns their exponential.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import Tensor, nn

from spt.model.attention import SOFTMAX_KINDS, HadamardSelfAttention, TokenDropout
from spt.settings import from_mapping

TokenLayout = Literal["chunks", "components"]
TOKEN_LAYOUTS: tuple[str, ...] = get_args(TokenLayout)


@dataclass(frozen=True)
class SPTConfig:
    """The architecture, in the spirit of nanoGPT's GPTConfig: the config's ``model`` section.

    Defaults equal config/config.yaml (tests/test_settings.py checks it); the paper states only
    d_head = 64 and the layer structure, every other number is ours.
    """

    d_model: int = 128
    n_tokens: int = 8
    n_layers: int = 3
    n_heads: int = 4
    d_head: int = 64
    ffn_dim: int = 256
    dropout: float = 0.1
    token_layout: str = "chunks"
    softmax: str = "temperature"
    log_labels: bool = True

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SPTConfig:
        """Build from the config's ``model`` section; an unknown key raises."""
        return from_mapping(cls, values, "model")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form: SpectralTransformer keyword arguments."""
        return dataclasses.asdict(self)


# the "tiny" setting for tests and smoke runs: 1 layer, d_model 16, 2 heads of 8 channels
TINY_MODEL: dict[str, Any] = {
    "d_model": 16,
    "n_tokens": 4,
    "n_layers": 1,
    "n_heads": 2,
    "d_head": 8,
    "ffn_dim": 32,
    "log_labels": False,  # unit tests train on arbitrary synthetic labels, some not positive
}


class TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the channel axis of (batch, tokens, d) tensors.

    Statistics per channel over batch and tokens, exactly like BatchNorm1d on the transposed
    (batch, d, tokens) tensor, but computed on the free (batch*tokens, d) view, which avoids two
    transposes and a strided normalisation.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` (batch, tokens, d) channel-wise."""
        return super().forward(x.reshape(-1, x.shape[-1])).view_as(x)


class ChunkEmbedding(nn.Module):
    """The "chunks" layout: Linear(n_features → n_tokens*d_model), reshaped to n_tokens tokens.

    This is the paper's linear projection of the PCA vector; each token sees every component.
    The linear layer's bias is a learned per-token offset, so it doubles as the position embedding.
    """

    def __init__(self, n_features: int, n_tokens: int, d_model: int) -> None:
        super().__init__()
        self.n_tokens, self.d_model = n_tokens, d_model
        self.proj = nn.Linear(n_features, n_tokens * d_model)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, n_features) → (batch, n_tokens, d_model)."""
        return self.proj(x).view(x.shape[0], self.n_tokens, self.d_model)


class ComponentEmbedding(nn.Module):
    """The "components" layout: contiguous groups of PCA components, each its own token.

    The k components are split, in PCA order, into ``n_tokens`` contiguous groups of near-equal
    size (numpy.array_split), so each token covers one band of explained variance; each group
    has its own linear map to d_model plus a learned position vector. With n_tokens equal to
    n_features every component is a token: value × learned embedding + learned position.
    """

    def __init__(self, n_features: int, n_tokens: int, d_model: int) -> None:
        super().__init__()
        if not 1 <= n_tokens <= n_features:
            raise ValueError(f"'components' layout needs 1 <= n_tokens <= {n_features}")
        groups = np.array_split(np.arange(n_features), n_tokens)
        width = max(len(g) for g in groups)
        # index n_features points at an appended zero column (padding of shorter groups)
        index = np.full((n_tokens, width), n_features, dtype=np.int64)
        for t, g in enumerate(groups):
            index[t, : len(g)] = g
        self.register_buffer("index", torch.from_numpy(index), persistent=False)
        bound = 1.0 / np.sqrt(width)
        self.weight = nn.Parameter(torch.empty(n_tokens, width, d_model).uniform_(-bound, bound))
        self.position = nn.Parameter(torch.zeros(n_tokens, d_model))

    def forward(self, x: Tensor) -> Tensor:
        """(batch, n_features) → (batch, n_tokens, d_model)."""
        padded = torch.cat([x, x.new_zeros(x.shape[0], 1)], dim=1)
        groups = padded[:, self.index]
        return torch.einsum("btg,tgd->btd", groups, self.weight) + self.position


class SPTBlock(nn.Module):
    """One SPT block: BN → HSA → residual add; BN → FFN (Linear, GELU, Linear) → residual add."""

    def __init__(
        self,
        d_model: int,
        n_heads: int = SPTConfig.n_heads,
        d_head: int = SPTConfig.d_head,
        ffn_dim: int = SPTConfig.ffn_dim,
        dropout: float = SPTConfig.dropout,
        softmax: str = SPTConfig.softmax,
    ) -> None:
        super().__init__()
        self.norm_attn = TokenBatchNorm(d_model)
        self.attn = HadamardSelfAttention(d_model, n_heads, d_head, dropout, softmax)
        self.norm_ffn = TokenBatchNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ffn_dim),
            nn.GELU(),
            nn.Linear(ffn_dim, d_model),
            TokenDropout(dropout),
        )

    def forward(self, x: Tensor, repeats: int = 1) -> Tensor:
        """(batch, tokens, d_model) → (batch*repeats, tokens, d_model).

        ``repeats`` > 1 replicates each sequence that many times (consecutively) for MC dropout.
        With BatchNorm on its running statistics (eval mode), BN → attention is deterministic
        up to the attention's output dropout, so it runs once on the un-replicated batch; the
        residual stream and the attention output are replicated and the dropout then draws
        exactly the masks, in the same order and shape, that it draws when the input is
        replicated first (the same numbers, to float rounding, for a fixed seed).
        """
        if repeats > 1 and not self.norm_attn.training:
            shared = self.attn.attend(self.norm_attn(x)).repeat_interleave(repeats, dim=0)
            x = x.repeat_interleave(repeats, dim=0) + self.attn.dropout(shared)
        else:
            if repeats > 1:
                x = x.repeat_interleave(repeats, dim=0)
            x = x + self.attn(self.norm_attn(x))
        return x + self.ffn(self.norm_ffn(x))


class SpectralTransformer(nn.Module):
    """SPT: token embedding of the PCA vector, ``n_layers`` SPT blocks, mean pooling, MLP head.

    Defaults: those of `SPTConfig` (ours; the paper gives none but d_head = 64): d_model 128,
    8 tokens, 3 layers, 4 heads, FFN width 256 (2 × d_model), dropout 0.1, "chunks" layout,
    learnable-temperature softmax, log labels. Sized so ~2,700 spectra × 200 components train
    in minutes on 2 CPU cores. The head is BN → mean over tokens → Linear(d_model, d_model) →
    GELU → Dropout → Linear(→ n_outputs).
    For tests, ``SpectralTransformer.tiny(n_features)`` builds a 1-layer, d_model 16 model.
    """

    def __init__(
        self,
        n_features: int,
        d_model: int = SPTConfig.d_model,
        n_tokens: int = SPTConfig.n_tokens,
        n_layers: int = SPTConfig.n_layers,
        n_heads: int = SPTConfig.n_heads,
        d_head: int = SPTConfig.d_head,
        ffn_dim: int = SPTConfig.ffn_dim,
        dropout: float = SPTConfig.dropout,
        token_layout: str = SPTConfig.token_layout,
        softmax: str = SPTConfig.softmax,
        n_outputs: int = 2,
        log_labels: bool = SPTConfig.log_labels,
    ) -> None:
        super().__init__()
        if token_layout not in TOKEN_LAYOUTS:
            raise ValueError(
                f"unknown token_layout {token_layout!r}; choose one of {TOKEN_LAYOUTS}"
            )
        if softmax not in SOFTMAX_KINDS:
            raise ValueError(f"unknown softmax {softmax!r}; choose one of {SOFTMAX_KINDS}")
        self._config: dict[str, Any] = {
            "n_features": n_features,
            "d_model": d_model,
            "n_tokens": n_tokens,
            "n_layers": n_layers,
            "n_heads": n_heads,
            "d_head": d_head,
            "ffn_dim": ffn_dim,
            "dropout": dropout,
            "token_layout": token_layout,
            "softmax": softmax,
            "n_outputs": n_outputs,
            "log_labels": log_labels,
        }
        self.log_labels = log_labels
        embedding = ChunkEmbedding if token_layout == "chunks" else ComponentEmbedding
        self.embed = embedding(n_features, n_tokens, d_model)
        self.blocks = nn.ModuleList(
            SPTBlock(d_model, n_heads, d_head, ffn_dim, dropout, softmax) for _ in range(n_layers)
        )
        self.norm = TokenBatchNorm(d_model)
        self.head = nn.Sequential(
            nn.Linear(d_model, d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_model, n_outputs),
        )
        self.register_buffer("x_mean", torch.zeros(n_features))
        self.register_buffer("x_std", torch.ones(n_features))
        self.register_buffer("y_mean", torch.zeros(n_outputs))
        self.register_buffer("y_std", torch.ones(n_outputs))
        self.register_buffer("y_cov", torch.eye(n_outputs))

    @classmethod
    def tiny(cls, n_features: int, **overrides: Any) -> SpectralTransformer:
        """A small, fast model (TINY_MODEL) for tests and smoke runs."""
        return cls(n_features, **(TINY_MODEL | overrides))

    def config_dict(self) -> dict[str, Any]:
        """The constructor arguments (architecture only), e.g. to rebuild or draw the model."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SpectralTransformer:
        """Build an (untrained) model from ``config_dict()`` output."""
        return cls(**config)

    def encode_labels(self, y: np.ndarray) -> np.ndarray:
        """Physical labels in the space the head works in (log with ``log_labels``)."""
        y = np.asarray(y, dtype=np.float64)
        if not self.log_labels:
            return y
        if not np.all(y > 0):
            raise ValueError("log_labels needs positive labels (ages and masses)")
        return np.log(y)

    def decode_moments(self, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        """MC mean and spread in the head's space to physical units (first order for log)."""
        if not self.log_labels:
            return mean, std
        value = torch.exp(mean)
        return value, value * std

    @torch.no_grad()
    def set_data_stats(self, X: np.ndarray, y: np.ndarray) -> None:
        """Store the training split's input/label mean and std and the label covariance.

        ``y`` is in physical units (encoded here). Constant input columns get std 1 so they
        standardise to zero instead of dividing by 0.
        """
        X = np.asarray(X, dtype=np.float64)
        y = self.encode_labels(y)
        x_std = X.std(axis=0)
        y_std = y.std(axis=0)
        if np.any(y_std == 0):
            raise ValueError("a label is constant on the training split; cannot standardise it")
        for name, value in {
            "x_mean": X.mean(axis=0),
            "x_std": np.where(x_std > 0, x_std, 1.0),
            "y_mean": y.mean(axis=0),
            "y_std": y_std,
            "y_cov": np.atleast_2d(np.cov(y, rowvar=False)),
        }.items():
            getattr(self, name).copy_(torch.as_tensor(value))

    def forward(self, x: Tensor, repeats: int = 1, encoded: bool = False) -> Tensor:
        """Raw PCA vectors (batch, n_features) → physical labels (batch*repeats, n_outputs).

        ``repeats`` > 1 replicates each embedded spectrum that many times (consecutively) before
        the first dropout, which is how MC dropout runs T passes as one batched forward pass;
        the deterministic prefix (embedding, and in eval mode the first block's BN and attention
        up to its dropout) runs once per spectrum (`SPTBlock.forward`).
        ``encoded`` returns the labels in the head's space (``encode_labels``), what the loss
        compares.
        """
        tokens = self.embed((x - self.x_mean) / self.x_std)
        if repeats > 1 and not self.blocks:
            tokens = tokens.repeat_interleave(repeats, dim=0)
        for i, block in enumerate(self.blocks):
            tokens = block(tokens, repeats if i == 0 else 1)
        pooled = self.norm(tokens).mean(dim=1)
        out = self.head(pooled) * self.y_std + self.y_mean
        return torch.exp(out) if self.log_labels and not encoded else out
