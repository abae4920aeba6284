"""Params, multiply-accumulates and peak activation memory of an arch, from its layout
alone (no module is built). A test checks them against counting the extracted module."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from supernet._arch import ArchConfig
from supernet._layout import BlockSpec
from supernet._space import SearchSpace

__all__ = ["Cost", "block_cost", "arch_cost"]


@dataclass(frozen=True)
class Cost:
    """``weight_bytes``: the stored weights (4 bytes a parameter, 1 in an int8 part)."""

    params: int
    macs: int
    peak_memory_bytes: int
    weight_bytes: int


def _conv(cin: int, cout: int, k: int, out_res: int, groups: int = 1) -> tuple[int, int]:
    weights = cout * (cin // groups) * k * k
    return weights, weights * out_res * out_res


@lru_cache(maxsize=65536)
def block_cost(spec: BlockSpec) -> tuple[int, int, int]:
    """``(params, macs, peak_activation_elements)`` of one block at batch 1; the peak counts
    the tensors alive at once during the block (input kept for a residual included)."""
    r, ro = spec.resolution, spec.out_resolution
    cin, cout, mid = spec.in_channels, spec.out_channels, spec.mid_channels
    inp, out = cin * r * r, cout * ro * ro
    if spec.kind == "stem":
        p, m = _conv(cin, cout, spec.kernel, ro)
        return p + 2 * cout, m, inp + out
    if spec.kind == "head":
        mix = spec.mix_channels
        p1, m1 = _conv(cin, mid, 1, r)
        params = p1 + 2 * mid + mid * mix + mix * cout + cout
        return params, m1 + mid * mix + mix * cout, inp + mid * r * r
    params, macs, live = 0, 0, []
    keep = inp if spec.residual else 0
    dw_in = inp
    if spec.expand:
        p, m = _conv(cin, mid, 1, r)
        params, macs = params + p + 2 * mid, macs + m
        dw_in = mid * r * r
        live.append(inp + dw_in)
    p, m = _conv(mid, mid, spec.kernel, ro, groups=mid)
    params, macs = params + p + 2 * mid, macs + m
    dw_out = mid * ro * ro
    live.append(keep + dw_in + dw_out if spec.expand else inp + dw_out)
    if spec.se_channels:
        h = spec.se_channels
        params, macs = params + 2 * mid * h + h + mid, macs + 2 * mid * h
        live.append(keep + 2 * dw_out)
    p, m = _conv(mid, cout, 1, ro)
    params, macs = params + p + 2 * cout, macs + m
    live.append(keep + dw_out + out)
    if spec.residual:
        live.append(inp + 2 * out)
    return params, macs, max(live)


def arch_cost(space: SearchSpace, arch: ArchConfig, bytes_per_element: int = 4) -> Cost:
    """Cost of ``arch`` at batch 1: activations take ``bytes_per_element`` bytes (4 for
    float32) and weights 4, except in the parts ``arch.precision`` runs in int8 (1 each)."""
    costs = [block_cost(spec) for spec in space.layout(arch)]
    int8 = [p == "int8" for p in arch.block_precisions()]
    return Cost(params=sum(c[0] for c in costs), macs=sum(c[1] for c in costs),
                peak_memory_bytes=max(c[2] * (1 if q else bytes_per_element) for c, q in zip(costs, int8)),
                weight_bytes=sum(c[0] * (1 if q else 4) for c, q in zip(costs, int8)))
