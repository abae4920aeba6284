"""The ``mbconv`` family's static blocks (stem, inverted bottleneck, head), their costs
from the spec alone, and their registration as block kinds."""

from __future__ import annotations

import torch
from torch import nn

from supernet.nn import Conv2d, ConvBNAct, SqueezeExcite, make_act
from supernet.space import BlockSpec, conv_cost, register_block, register_choice

__all__ = ["EXPAND", "KERNEL", "Head", "MBConv", "MixHead"]

KERNEL, EXPAND = register_choice("kernel_sizes", "k"), register_choice("expand_ratios", "e")


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


def _mix_head_cost(spec: BlockSpec) -> tuple[int, int, int]:
    r, cin, mix, cout = spec.resolution, spec.in_channels, spec.mix_channels, spec.out_channels
    p, m = conv_cost(cin, mix, 1, r)
    return p + 2 * mix + mix * cout + cout, m + mix * cout, cin * r * r + mix * r * r


def _stem_cost(spec: BlockSpec) -> tuple[int, int, int]:
    r, ro = spec.resolution, spec.out_resolution
    p, m = conv_cost(spec.in_channels, spec.out_channels, spec.kernel, ro)
    return p + 2 * spec.out_channels, m, spec.in_channels * r * r + spec.out_channels * ro * ro


def _head_cost(spec: BlockSpec) -> tuple[int, int, int]:
    r, cin, cout = spec.resolution, spec.in_channels, spec.out_channels
    mid, mix = spec.mid_channels, spec.mix_channels
    p1, m1 = conv_cost(cin, mid, 1, r)
    params = p1 + 2 * mid + mid * mix + mix * cout + cout
    return params, m1 + mid * mix + mix * cout, cin * r * r + mid * r * r


def _mbconv_cost(spec: BlockSpec) -> tuple[int, int, int]:
    """The peak counts the tensors alive at once during the block (input kept for a
    residual included)."""
    r, ro = spec.resolution, spec.out_resolution
    cin, cout, mid = spec.in_channels, spec.out_channels, spec.mid_channels
    inp, out = cin * r * r, cout * ro * ro
    params, macs, live = 0, 0, []
    keep = inp if spec.residual else 0
    dw_in = inp
    if spec.expand:
        p, m = conv_cost(cin, mid, 1, r)
        params, macs = params + p + 2 * mid, macs + m
        dw_in = mid * r * r
        live.append(inp + dw_in)
    p, m = conv_cost(mid, mid, spec.kernel, ro, groups=mid)
    params, macs = params + p + 2 * mid, macs + m
    dw_out = mid * ro * ro
    live.append(keep + dw_in + dw_out if spec.expand else inp + dw_out)
    if spec.se_channels:
        h = spec.se_channels
        params, macs = params + 2 * mid * h + h + mid, macs + 2 * mid * h
        live.append(keep + 2 * dw_out)
    p, m = conv_cost(mid, cout, 1, ro)
    params, macs = params + p + 2 * cout, macs + m
    live.append(keep + dw_out + out)
    if spec.residual:
        live.append(inp + 2 * out)
    return params, macs, max(live)




register_block("stem", build=lambda spec, dropout: ConvBNAct(spec.in_channels, spec.out_channels, spec.kernel,
                                                             spec.stride, act=spec.act), cost=_stem_cost)
register_block("mbconv", build=lambda spec, dropout: MBConv(spec), cost=_mbconv_cost)
register_block("head", build=lambda spec, dropout: Head(spec, dropout), cost=_head_cost, pooled=True)
register_block("mix_head", build=lambda spec, dropout: MixHead(spec, dropout), cost=_mix_head_cost,
               pooled=True)
