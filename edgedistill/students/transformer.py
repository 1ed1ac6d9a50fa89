"""A small transformer encoder for token or sequence inputs.

Token ids (an integer input of shape (L,)) go through an embedding; float inputs are read as a
sequence: (L, D) as it is, (C, H, W) as H rows of C·W features (an image as a sequence of rows),
(F,) as F tokens of one feature. Learned positions, mean pooling, linear head.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import register_student


class TinyTransformer(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, tokens: bool, vocab_size: int, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.tokens = tokens
        if tokens:
            self.length, self.embed = input_shape[0], nn.Embedding(vocab_size, dim)
        else:
            if len(input_shape) == 1:
                self.length, feat = input_shape[0], 1
            elif len(input_shape) == 2:
                self.length, feat = input_shape
            else:
                self.length, feat = input_shape[-2], math.prod(input_shape) // input_shape[-2]
            self.feat = feat
            self.embed = nn.Linear(feat, dim)
        self.pos = nn.Parameter(torch.zeros(1, self.length, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, num_outputs)

    def forward(self, x):
        if self.tokens:
            h = self.embed(x.long())
        else:
            if x.dim() == 4:  # (B, C, H, W) -> (B, H, C*W): rows as tokens
                x = x.permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1)
            h = self.embed(x.reshape(x.shape[0], self.length, self.feat))
        h = self.encoder(h + self.pos)
        return self.head(self.norm(h.mean(1)))


@register_student
def transformer(*, input_shape: tuple[int, ...], num_outputs: int, input_dtype: str = "float32", dim: int = 32, depth: int = 2,
                heads: int = 4, vocab_size: int = 1000) -> nn.Module:
    """``dim`` wide, ``depth`` layers of ``heads`` heads; ``vocab_size`` bounds token ids for integer inputs."""
    tokens = input_dtype.startswith(("int", "uint"))
    return TinyTransformer(tuple(input_shape), num_outputs, tokens, vocab_size, dim, depth, heads)
