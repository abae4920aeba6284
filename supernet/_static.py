"""Static modules built from `BlockSpec`s: what an extracted subnet (and each latency-table
entry) is made of. Plain torch layers only, so they export to ONNX as they are."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from supernet._conv import Conv2d
from supernet._fused import batch_norm_act
from supernet._layout import BlockSpec

__all__ = ["ConvBNAct", "SqueezeExcite", "MBConv", "Head", "Subnet", "build_block", "make_act",
           "assemble", "init_weights"]


def make_act(name: str | None) -> nn.Module:
    if name is None:
        return nn.Identity()
    return {"relu": nn.ReLU, "hswish": nn.Hardswish}[name]()


def assemble(cls: type[nn.Module], **parts) -> nn.Module:
    """An instance of ``cls`` made of the given parts, skipping its fresh initialisation."""
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    for name, part in parts.items():
        setattr(module, name, part)
    return module


@torch.no_grad()
def init_weights(model: nn.Module) -> nn.Module:
    """He-normal (fan-out) convs, unit BN, small-normal classifier: OFA's initialisation."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
            m.bias.zero_()
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            m.bias.zero_()
    return model


class ConvBNAct(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: str | None = "relu") -> None:
        super().__init__()
        self.conv = Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return batch_norm_act(self.bn, self.conv(x), self.act)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = Conv2d(channels, hidden, 1)
        self.expand = Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.relu(self.reduce(x.mean((2, 3), keepdim=True)))
        return x * nn.functional.hardsigmoid(self.expand(scale))


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


def build_block(spec: BlockSpec, dropout: float = 0.0) -> nn.Module:
    """A freshly initialised static module for one block."""
    if spec.kind == "stem":
        return ConvBNAct(spec.in_channels, spec.out_channels, spec.kernel, spec.stride, act=spec.act)
    if spec.kind == "mbconv":
        return MBConv(spec)
    if spec.kind == "head":
        return Head(spec, dropout)
    raise ValueError(f"BlockSpec.kind: got {spec.kind!r}, expected 'stem', 'mbconv' or 'head'")


class Subnet(nn.Sequential):
    """A standalone network: its blocks in order, plus the specs they were built from."""

    def __init__(self, blocks: Sequence[nn.Module], specs: Sequence[BlockSpec]) -> None:
        super().__init__(*blocks)
        self.specs = tuple(specs)

    @classmethod
    def build(cls, specs: Sequence[BlockSpec], dropout: float = 0.0) -> Subnet:
        """A randomly initialised network of these blocks (training alone, timing)."""
        return init_weights(cls([build_block(s, dropout) for s in specs], specs))
