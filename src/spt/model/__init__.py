"""The Spectral Transformer: Hadamard self-attention, SPT blocks and the training losses."""

from spt.model.attention import SOFTMAX_KINDS, HadamardSelfAttention, attention_weights
from spt.model.loss import LOSS_NAMES, MahalanobisLoss, MSELoss, ZScoreMSELoss, make_loss
from spt.model.spt import TOKEN_LAYOUTS, SpectralTransformer, SPTBlock, TokenBatchNorm

__all__ = [
    "LOSS_NAMES",
    "SOFTMAX_KINDS",
    "TOKEN_LAYOUTS",
    "HadamardSelfAttention",
    "MSELoss",
    "MahalanobisLoss",
    "SPTBlock",
    "SpectralTransformer",
    "TokenBatchNorm",
    "ZScoreMSELoss",
    "attention_weights",
    "make_loss",
]
