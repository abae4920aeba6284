"""Params, multiply-accumulates and peak activation memory of an arch, from its layout
alone (no module is built). A test checks them against counting the extracted module."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from supernet.space import ArchConfig, BlockSpec, SearchSpace, block_kind

__all__ = ["Cost", "block_cost", "arch_cost"]


@dataclass(frozen=True)
class Cost:
    """``weight_bytes``: the stored weights (4 bytes a parameter, 1 in an int8 part)."""

    params: int
    macs: int
    peak_memory_bytes: int
    weight_bytes: int


@lru_cache(maxsize=65536)
def block_cost(spec: BlockSpec) -> tuple[int, int, int]:
    """``(params, macs, peak_activation_elements)`` of one block at batch 1, from its kind's
    registered cost; the peak counts the tensors alive at once during the block (input
    kept for a residual included)."""
    return block_kind(spec.kind).cost(spec)


def arch_cost(space: SearchSpace, arch: ArchConfig, bytes_per_element: int = 4) -> Cost:
    """Cost of ``arch`` at batch 1: activations take ``bytes_per_element`` bytes (4 for
    float32) and weights 4, except in the parts ``arch.precision`` runs in int8 (1 each)."""
    costs = [block_cost(spec) for spec in space.layout(arch)]
    int8 = [p == "int8" for p in space.block_precisions(arch)]
    return Cost(params=sum(c[0] for c in costs), macs=sum(c[1] for c in costs),
                peak_memory_bytes=max(c[2] * (1 if q else bytes_per_element) for c, q in zip(costs, int8)),
                weight_bytes=sum(c[0] * (1 if q else 4) for c, q in zip(costs, int8)))
