"""The Spectral Transformer: Hadamard self-attention, SPT blocks and the training losses."""

from spt.model.attention import (
    SOFTMAX_KINDS,
    HadamardSelfAttention,
    TokenDropout,
    attention_weights,
)
from spt.model.loss import LOSS_NAMES, MahalanobisLoss, MSELoss, ZScoreMSELoss, make_loss
from spt.model.spt import (
    TINY_MODEL,
    TOKEN_LAYOUTS,
    SpectralTransformer,
    SPTBlock,
    TokenBatchNorm,
)

__all__ = [
    "LOSS_NAMES",
    "SOFTMAX_KINDS",
    "TINY_MODEL",
    "TOKEN_LAYOUTS",
    "HadamardSelfAttention",
    "MSELoss",
    "MahalanobisLoss",
    "SPTBlock",
    "SpectralTransformer",
    "TokenBatchNorm",
    "TokenDropout",
    "ZScoreMSELoss",
    "attention_weights",
    "make_loss",
]
