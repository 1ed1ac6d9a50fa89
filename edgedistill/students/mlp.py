"""Multi-layer perceptron: flatten the input (or each input, joined), hidden ReLU layers, a linear head."""

from __future__ import annotations

import math

import torch
from torch import nn

from . import register_student, widths


class JoinInputs(nn.Module):
    """Flatten each input to float features, concatenate them, and apply ``net``: how an mlp takes a
    teacher's several inputs (token ids, masks, side features)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x.flatten(1).to(torch.float32) for x in inputs], dim=1))


@register_student
def mlp(*, input_shape: tuple[int, ...], num_outputs: int, hidden: tuple[int, ...] | list[int] = (32,), dropout: float = 0.0,
        input_shapes: list[tuple[int, ...]] | None = None) -> nn.Module:
    """``hidden`` lists the widths of the hidden layers; the default makes a 2.4k-parameter digits student.
    With several inputs (``input_shapes``) each is flattened and they are joined into one feature vector."""
    hidden = widths(hidden, "hidden")
    several = input_shapes is not None and len(input_shapes) > 1
    layers: list[nn.Module] = [] if several else [nn.Flatten()]
    width = sum(math.prod(sh) for sh in input_shapes) if several else math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, num_outputs))
    return JoinInputs(nn.Sequential(*layers)) if several else nn.Sequential(*layers)
