"""The ``mbconv`` family's supernet: stem, one fixed MBConv, elastic stages of
`ElasticMBConv`, head."""

from __future__ import annotations

import copy

import torch
from torch import nn

from supernet.nn import (
    ElasticConvBNAct,
    ElasticSE,
    Subnet,
    Supernet,
    assemble,
    build_block,
    importance_order,
    init_weights,
    permute_channels,
)
from supernet.space import ArchConfig, BlockSpec
from supernet.spaces.mbconv._blocks import MBConv
from supernet.spaces.mbconv._costs import EXPAND, KERNEL

__all__ = ["ElasticMBConv", "MBConvSupernet"]

class ElasticMBConv(nn.Module):
    """Block ``index`` of elastic stage ``stage``, at its largest: every kernel and expand
    ratio of the space runs on (a slice of) these weights."""

    def __init__(self, space, stage: int, index: int) -> None:
        super().__init__()
        self.space = space
        self.in_channels = cin = space.stage_in_channels(stage, index)
        self.out_channels = cout = space.stage_widths[stage]
        mid = space.mid_channels(cin, space.expand_choices[-1])
        act, kernel = space.stage_acts[stage], space.kernel_choices[-1]
        stride = space.stage_strides[stage] if index == 0 else 1
        self.expand = ElasticConvBNAct(cin, mid, act=act)
        self.depthwise = ElasticConvBNAct(mid, mid, kernel, stride, depthwise=True, act=act,
                                          kernel_choices=space.kernel_choices)
        self.se = ElasticSE(mid, space.se_channels(mid)) if space.stage_se[stage] else None
        self.project = ElasticConvBNAct(mid, cout, act=None)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor, kernel: int, expand: float) -> torch.Tensor:
        mid = self.space.mid_channels(self.in_channels, expand)
        y = self.depthwise(self.expand(x, mid), mid, kernel)
        if self.se is not None:
            y = self.se(y, self.space.se_channels(mid))
        y = self.project(y, self.out_channels)
        return x + y if self.residual else y

    def materialize(self, spec: BlockSpec) -> MBConv:
        """The static block for ``spec`` (a block of this position) with weights copied."""
        mid, cin = spec.mid_channels, spec.in_channels
        return assemble(
            MBConv, expand=self.expand.materialize(mid, cin),
            depthwise=self.depthwise.materialize(mid, mid, spec.kernel),
            se=self.se.materialize(mid, spec.se_channels) if self.se is not None else None,
            project=self.project.materialize(spec.out_channels, mid), residual=self.residual)

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder the middle channels by importance (L1 norm of their projection weights,
        largest first) so that every smaller expand ratio keeps the most important ones.
        The largest subnet computes exactly what it did. Optimizer state kept for these
        parameters no longer lines up: rebuild the optimizer after calling this."""
        order = importance_order(self.project.conv.weight)
        for layer in (self.expand, self.depthwise):
            permute_channels(layer, order)
        permute_channels(self.project, order, inputs=True)
        if self.se is not None:
            permute_channels(self.se.reduce, order, inputs=True)
            permute_channels(self.se.expand, order)
            hidden = importance_order(self.se.expand.weight)
            permute_channels(self.se.reduce, hidden)
            permute_channels(self.se.expand, hidden, inputs=True)


class MBConvSupernet(Supernet):
    """Stem, one fixed MBConv, elastic stages of `ElasticMBConv`, head."""

    def __init__(self, space) -> None:
        super().__init__(space)
        stem, first, *_, head = space.layout(space.largest())
        self.stem = build_block(stem)
        self.first_block = build_block(first)
        self.stages = nn.ModuleList(
            nn.ModuleList(ElasticMBConv(space, s, i) for i in range(space.stage_depths(s)[-1]))
            for s in range(space.num_stages)
        )
        self.head = build_block(head, space.dropout)
        init_weights(self)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps = space.bn_eps

    def run(self, x: torch.Tensor, arch: ArchConfig) -> torch.Tensor:
        x = self.first_block(self.stem(x))
        for s, i, choice in arch.blocks():
            x = self.stages[s][i](x, choice[KERNEL], choice[EXPAND])
        return self.head(x)

    def extract(self, arch: ArchConfig) -> Subnet:
        specs = self.space.layout(arch)
        blocks = [self.stages[s][i].materialize(spec) for (s, i, _), spec in zip(arch.blocks(), specs[2:-1])]
        parts = [copy.deepcopy(self.stem), copy.deepcopy(self.first_block), *blocks, copy.deepcopy(self.head)]
        return Subnet(parts, specs).to(self.stem.conv.weight.device).train(self.training)

    def sort_channels(self) -> None:
        """Importance re-sorting of every elastic block (call before elastic expand)."""
        for stage in self.stages:
            for block in stage:
                block.sort_channels()
