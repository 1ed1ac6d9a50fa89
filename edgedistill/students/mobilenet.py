"""MobileNetV2-style student: a stem conv, inverted residual blocks (expand 1×1, depthwise 3×3,
project 1×1, residual when shapes match), global average pool, linear head."""

from __future__ import annotations

from torch import nn

from ..errors import EdgeDistillError
from . import register_student, widths


def _round(c: float) -> int:
    return max(4, int(c + 2) // 4 * 4)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


@register_student
def mobilenet(*, input_shape: tuple[int, ...], num_outputs: int, width: float = 0.5, expand: int = 4,
              stages: tuple[int, ...] | list[int] = (16, 24, 32)) -> nn.Module:
    """``width`` multiplies every channel count; ``stages`` are the base widths, each halving the resolution
    while the image is larger than 2×2."""
    if len(input_shape) != 3:
        raise EdgeDistillError(f"student 'mobilenet' needs image inputs (C, H, W) but the teacher input is {tuple(input_shape)}")
    c, h, w = input_shape
    stem = _round(16 * width)
    layers: list[nn.Module] = [nn.Conv2d(c, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU6()]
    cin = stem
    for base in widths(stages, "stages"):
        stride = 2 if min(h, w) > 2 else 1
        cout = _round(base * width)
        layers += [InvertedResidual(cin, cout, stride, expand), InvertedResidual(cout, cout, 1, expand)]
        h, w, cin = (h + 1) // stride, (w + 1) // stride, cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_outputs)]
    return nn.Sequential(*layers)
