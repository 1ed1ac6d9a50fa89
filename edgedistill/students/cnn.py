"""Plain convolutional net: 3×3 conv + ReLU + 2×2 max-pool stages, global average pool, linear head."""

from __future__ import annotations

from torch import nn

from ..errors import EdgeDistillError
from . import register_student, widths


@register_student
def cnn(*, input_shape: tuple[int, ...], num_outputs: int, channels: tuple[int, ...] | list[int] = (8, 16)) -> nn.Module:
    """``channels`` lists each stage's width; input is (C, H, W). Pooling stops once a side reaches 1."""
    if len(input_shape) != 3:
        raise EdgeDistillError(f"student 'cnn' needs image inputs (C, H, W) but the teacher input is {tuple(input_shape)}; use --student mlp")
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for width in widths(channels, "channels"):
        layers += [nn.Conv2d(c, int(width), 3, padding=1), nn.ReLU()]
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c = int(width)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_outputs)]
    return nn.Sequential(*layers)
