"""The OFA-MobileNetV3-style supernet: runs any arch of its space, extracts any arch."""

from __future__ import annotations

import copy

import torch
from torch import nn

from supernet._arch import ArchConfig
from supernet._elastic import ElasticMBConv
from supernet._errors import SpaceError
from supernet._space import SearchSpace
from supernet._static import Subnet, build_block, init_weights

__all__ = ["Supernet"]


class Supernet(nn.Module):
    """Stem, one fixed MBConv, elastic stages of `ElasticMBConv`, head. The arch to run is
    an argument of `forward`; nothing about it is stored in the modules."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        stem, first, *_, head = space.layout(space.largest())
        self.stem = build_block(stem)
        self.first_block = build_block(first)
        self.stages = nn.ModuleList(
            nn.ModuleList(ElasticMBConv(space, s, i) for i in range(space.max_depth))
            for s in range(space.num_stages)
        )
        self.head = build_block(head, space.dropout)
        init_weights(self)

    def _check_input(self, x: torch.Tensor, arch: ArchConfig) -> None:
        self.space.validate(arch)
        want = (self.space.in_channels, arch.resolution, arch.resolution)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise SpaceError(f"input of shape {tuple(x.shape)} does not fit arch {arch}: expected "
                             f"(batch, {want[0]}, {want[1]}, {want[2]}); resize the batch to the "
                             "arch's resolution first")

    def forward(self, x: torch.Tensor, arch: ArchConfig) -> torch.Tensor:
        self._check_input(x, arch)
        x = self.first_block(self.stem(x))
        for s, i, k, e in arch.blocks():
            x = self.stages[s][i](x, k, e)
        return self.head(x)

    def extract(self, arch: ArchConfig) -> Subnet:
        """A standalone static network computing exactly what ``forward(x, arch)`` computes,
        with its own copy of the weights (and BN statistics), on the supernet's device."""
        specs = self.space.layout(arch)
        blocks = [self.stages[s][i].materialize(spec)
                  for (s, i, _, _), spec in zip(arch.blocks(), specs[2:-1])]
        parts = [copy.deepcopy(self.stem), copy.deepcopy(self.first_block), *blocks,
                 copy.deepcopy(self.head)]
        return Subnet(parts, specs).to(self.stem.conv.weight.device).train(self.training)

    def sort_channels(self) -> None:
        """Importance re-sorting of every elastic block (call before elastic expand)."""
        for stage in self.stages:
            for block in stage:
                block.sort_channels()
