"""The ``resnet`` family's supernet: elastic deep stem, stages of `ElasticBottleneck`,
elastic linear head. Module names follow MIT's ``OFAResNets`` so that its checkpoints map
one tensor to one tensor."""

from __future__ import annotations

import copy

import torch
from torch import nn

from supernet.nn import (
    ElasticConvBNAct,
    ElasticLinear,
    Subnet,
    Supernet,
    assemble,
    importance_order,
    init_weights,
    permute_channels,
)
from supernet.space import ArchConfig, BlockSpec
from supernet.spaces.resnet._blocks import Bottleneck, Downsample, LinearHead, ResNetStem
from supernet.spaces.resnet._costs import EXPAND, STEM_DEPTH, WIDTH

__all__ = ["ElasticBottleneck", "ElasticResNetStem", "ResNetSupernet"]


class ElasticResNetStem(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int) -> None:
        super().__init__()
        self.conv0 = ElasticConvBNAct(cin, mid, 3, 2)
        self.conv1 = ElasticConvBNAct(mid, mid, 3)
        self.conv2 = ElasticConvBNAct(mid, cout, 3)
        self.pool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x: torch.Tensor, mid: int, cout: int, residual: bool) -> torch.Tensor:
        x = self.conv0(x, mid)
        if residual:
            x = self.conv1(x, mid) + x
        return self.pool(self.conv2(x, cout))

    def materialize(self, spec: BlockSpec) -> ResNetStem:
        mid = spec.mid_channels
        return assemble(ResNetStem, conv0=self.conv0.materialize(mid, spec.in_channels),
                        conv1=self.conv1.materialize(mid, mid) if spec.residual else None,
                        conv2=self.conv2.materialize(spec.out_channels, mid), pool=nn.MaxPool2d(3, 2, 1))


class ElasticBottleneck(nn.Module):
    """One bottleneck position at its widest: every input width, output width and expand
    ratio runs on the leading channels of these weights."""

    def __init__(self, cin: int, cout: int, mid: int, stride: int, identity: bool) -> None:
        super().__init__()
        self.conv1 = ElasticConvBNAct(cin, mid, 1)
        self.conv2 = ElasticConvBNAct(mid, mid, 3, stride)
        self.conv3 = ElasticConvBNAct(mid, cout, 1, act=None)
        self.stride = stride
        self.downsample = None
        if not identity:
            self.downsample = nn.Module()
            self.downsample.pool = (nn.AvgPool2d(stride, stride, 0, ceil_mode=True) if stride > 1
                                    else nn.Identity())
            self.downsample.conv = ElasticConvBNAct(cin, cout, 1, act=None)

    def forward(self, x: torch.Tensor, mid: int, cout: int) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample.conv(self.downsample.pool(x), cout)
        return torch.relu(self.conv3(self.conv2(self.conv1(x, mid), mid), cout) + shortcut)

    def materialize(self, spec: BlockSpec) -> Bottleneck:
        mid, cin, cout = spec.mid_channels, spec.in_channels, spec.out_channels
        down = None
        if self.downsample is not None:
            down = assemble(Downsample, pool=copy.deepcopy(self.downsample.pool),
                            conv=self.downsample.conv.materialize(cout, cin))
        return assemble(Bottleneck, conv1=self.conv1.materialize(mid, cin),
                        conv2=self.conv2.materialize(mid, mid),
                        conv3=self.conv3.materialize(cout, mid), downsample=down, act=nn.ReLU())

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder the middle channels by importance, as MIT's ``re_organize_middle_weights``:
        conv2's outputs by the L1 norm of conv3's weights reading them, then conv1's outputs
        by conv2's weights reading them, so that every smaller expand ratio keeps the most
        important ones. The largest subnet computes exactly what it did; rebuild the
        optimizer afterwards."""
        order = importance_order(self.conv3.conv.weight)
        permute_channels(self.conv3, order, inputs=True)
        permute_channels(self.conv2, order)
        order = importance_order(self.conv2.conv.weight)
        permute_channels(self.conv2, order, inputs=True)
        permute_channels(self.conv1, order)


class ResNetSupernet(Supernet):
    """Stem, stages of `ElasticBottleneck` (the deepest depth of each), linear head."""

    def __init__(self, space) -> None:
        super().__init__(space)
        top = space.width_choices[-1]  # widths grow with the multiplier: the top one is the widest
        mid, cin = space.stem_channels(top, top)
        self.stem = ElasticResNetStem(space.in_channels, mid, cin)
        stages = []
        for s, width in enumerate(space.stage_widths):
            cout = space.channels(width, top)
            mid = space.mid_channels(cout, space.expand_choices[-1])
            blocks = []
            for i in range(space.stage_depths(s)[-1]):
                stride = space.stage_strides[s] if i == 0 else 1
                identity = i > 0 or space.identity_shortcut(s)
                blocks.append(ElasticBottleneck(cin, cout, mid, stride, identity))
                cin = cout
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.head = nn.Module()
        self.head.dropout = nn.Dropout(space.dropout)
        self.head.classifier = ElasticLinear(cin, space.num_classes)
        init_weights(self)

    def sort_channels(self) -> None:
        for stage in self.stages:
            for block in stage:
                block.sort_channels()

    def _widths(self, arch: ArchConfig) -> tuple[int, int, list[int]]:
        w = arch.choice(WIDTH)
        mid, out = self.space.stem_channels(w[0], w[1])
        return mid, out, [self.space.channels(width, m) for width, m in zip(self.space.stage_widths, w[2:])]

    def run(self, x: torch.Tensor, arch: ArchConfig) -> torch.Tensor:
        mid, out, widths = self._widths(arch)
        x = self.stem(x, mid, out, arch.choice(STEM_DEPTH)[0] == 3)
        for s, i, choice in arch.blocks():
            x = self.stages[s][i](x, self.space.mid_channels(widths[s], choice[EXPAND]), widths[s])
        return self.head.classifier(self.head.dropout(x.mean((2, 3))))

    def extract(self, arch: ArchConfig) -> Subnet:
        specs = self.space.layout(arch)
        blocks = [self.stages[s][i].materialize(spec) for (s, i, _), spec in zip(arch.blocks(), specs[1:-1])]
        head = assemble(LinearHead, dropout=copy.deepcopy(self.head.dropout),
                        classifier=self.head.classifier.materialize(specs[-1].in_channels))
        device = self.head.classifier.weight.device
        return Subnet([self.stem.materialize(specs[0]), *blocks, head], specs).to(device).train(self.training)
