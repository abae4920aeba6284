"""The ``resnet`` family's static blocks (deep stem, bottleneck, pooled linear head), their
costs from the spec alone, and their registration as block kinds."""

from __future__ import annotations

import torch
from torch import nn

from supernet.nn import ConvBNAct
from supernet.space import BlockSpec

__all__ = ["Bottleneck", "Downsample", "LinearHead", "ResNetStem"]


def _maxpool() -> nn.MaxPool2d:
    return nn.MaxPool2d(3, 2, 1)


class ResNetStem(nn.Module):
    """3x3 conv (stride 2) to ``mid_channels``, [a 3x3 conv with an identity shortcut],
    3x3 conv to ``out_channels``, 3x3 max pool (stride 2): ResNet-D's deep stem. The middle
    conv is there when ``spec.residual`` (the stem's depth is 3)."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        mid = spec.mid_channels
        self.conv0 = ConvBNAct(spec.in_channels, mid, 3, 2)
        self.conv1 = ConvBNAct(mid, mid, 3) if spec.residual else None
        self.conv2 = ConvBNAct(mid, spec.out_channels, 3)
        self.pool = _maxpool()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(x)
        if self.conv1 is not None:
            x = self.conv1(x) + x
        return self.pool(self.conv2(x))


class Downsample(nn.Module):
    """The shortcut of a block that changes shape: average pool (the stride), 1x1 conv, BN."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(stride, stride, 0, ceil_mode=True) if stride > 1 else nn.Identity()
        self.conv = ConvBNAct(cin, cout, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class Bottleneck(nn.Module):
    """1x1 conv to ``mid_channels``, 3x3 conv (the stride), 1x1 conv to ``out_channels``, plus
    the input (``spec.residual``) or its `Downsample`, then ReLU."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        mid = spec.mid_channels
        self.conv1 = ConvBNAct(spec.in_channels, mid, 1)
        self.conv2 = ConvBNAct(mid, mid, spec.kernel, spec.stride)
        self.conv3 = ConvBNAct(mid, spec.out_channels, 1, act=None)
        self.downsample = (None if spec.residual else
                           Downsample(spec.in_channels, spec.out_channels, spec.stride))
        self.act = nn.ReLU()  # a module, not torch.relu: hooks (NASWOT's codes) see it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act(self.conv3(self.conv2(self.conv1(x))) + shortcut)


class LinearHead(nn.Module):
    """Global average pool, dropout, linear classifier."""

    def __init__(self, spec: BlockSpec, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(spec.in_channels, spec.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(x.mean((2, 3))))
