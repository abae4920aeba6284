"""The ``mbconv`` family's static blocks as modules (inverted bottleneck, heads); their
costs and registration as block kinds are in `_costs`."""

from __future__ import annotations

import torch
from torch import nn

from supernet.nn import Conv2d, ConvBNAct, SqueezeExcite, make_act
from supernet.space import BlockSpec

__all__ = ["Head", "MBConv", "MixHead"]


class MBConv(nn.Module):
    """Inverted bottleneck: [1x1 expand] -> kxk depthwise -> [squeeze-excite] -> 1x1 project."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        mid = spec.mid_channels
        self.expand = ConvBNAct(spec.in_channels, mid, act=spec.act) if spec.expand else None
        self.depthwise = ConvBNAct(mid, mid, spec.kernel, spec.stride, groups=mid, act=spec.act)
        self.se = SqueezeExcite(mid, spec.se_channels) if spec.se_channels else None
        self.project = ConvBNAct(mid, spec.out_channels, act=None)
        self.residual = spec.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class Head(nn.Module):
    """Final 1x1 expand, global average pool, feature-mix 1x1 conv (no BN), classifier."""

    def __init__(self, spec: BlockSpec, dropout: float = 0.0) -> None:
        super().__init__()
        self.final_expand = ConvBNAct(spec.in_channels, spec.mid_channels, act=spec.act)
        self.feature_mix = Conv2d(spec.mid_channels, spec.mix_channels, 1, bias=False)
        self.act = make_act(spec.act)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(spec.mix_channels, spec.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.final_expand(x).mean((2, 3), keepdim=True)
        x = self.act(self.feature_mix(x)).flatten(1)
        return self.classifier(self.dropout(x))




class MixHead(nn.Module):
    """ProxylessNAS's head: 1x1 feature-mix conv with BN and activation, global average pool,
    dropout, classifier."""

    def __init__(self, spec: BlockSpec, dropout: float = 0.0) -> None:
        super().__init__()
        self.feature_mix = ConvBNAct(spec.in_channels, spec.mix_channels, 1, act=spec.act)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(spec.mix_channels, spec.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.feature_mix(x).mean((2, 3))))
