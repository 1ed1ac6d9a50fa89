"""Multi-layer perceptron: flatten the input, hidden ReLU layers, a linear head."""

from __future__ import annotations

import math

from torch import nn

from . import register_student


@register_student
def mlp(*, input_shape: tuple[int, ...], num_outputs: int, hidden: tuple[int, ...] | list[int] = (32,), dropout: float = 0.0) -> nn.Module:
    """``hidden`` lists the widths of the hidden layers; the default makes a 2.4k-parameter digits student."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)
