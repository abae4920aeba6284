"""The ``resnet`` family's choices, the costs of its blocks from their specs alone, and the
block kinds' registration; torch-free (the modules are built from `_blocks` when a network
is)."""

from __future__ import annotations

import importlib

from supernet.space import BlockSpec, conv_cost, register_block, register_choice

__all__ = ["EXPAND", "STEM_DEPTH", "WIDTH"]

EXPAND = register_choice("expand_ratios", "e")
WIDTH = register_choice("width_mults", "w")
STEM_DEPTH = register_choice("stem_depth", "s")


def _module(name: str) -> type:
    """A block's module class, imported with torch when a network is first built."""
    return getattr(importlib.import_module("supernet.spaces.resnet._blocks"), name)


def _conv_bn(cin: int, cout: int, k: int, out_res: int) -> tuple[int, int]:
    p, m = conv_cost(cin, cout, k, out_res)
    return p + 2 * cout, m


def _stem_cost(spec: BlockSpec) -> tuple[int, int, int]:
    r, mid, cout = spec.resolution, spec.mid_channels, spec.out_channels
    h = -(-r // 2)  # after the strided conv
    parts = [_conv_bn(spec.in_channels, mid, 3, h), _conv_bn(mid, cout, 3, h)]
    if spec.residual:
        parts.append(_conv_bn(mid, mid, 3, h))
    peak = max(spec.in_channels * r * r + mid * h * h,
               (2 if spec.residual else 1) * mid * h * h + cout * h * h)
    return sum(p for p, _ in parts), sum(m for _, m in parts), peak


def _bottleneck_cost(spec: BlockSpec) -> tuple[int, int, int]:
    r, ro, mid = spec.resolution, spec.out_resolution, spec.mid_channels
    cin, cout = spec.in_channels, spec.out_channels
    parts = [_conv_bn(cin, mid, 1, r), _conv_bn(mid, mid, spec.kernel, ro), _conv_bn(mid, cout, 1, ro)]
    if not spec.residual:
        parts.append(_conv_bn(cin, cout, 1, ro))
    inp, out = cin * r * r, cout * ro * ro
    peak = max(2 * inp + mid * r * r, inp + mid * r * r + mid * ro * ro, inp + mid * ro * ro + 2 * out)
    return sum(p for p, _ in parts), sum(m for _, m in parts), peak


def _head_cost(spec: BlockSpec) -> tuple[int, int, int]:
    cin, r, cout = spec.in_channels, spec.resolution, spec.out_channels
    return cin * cout + cout, cin * cout, cin * r * r + cin


register_block("resnet_stem", build=lambda spec, dropout: _module("ResNetStem")(spec), cost=_stem_cost)
register_block("bottleneck", build=lambda spec, dropout: _module("Bottleneck")(spec),
               cost=_bottleneck_cost)
register_block("linear_head", build=lambda spec, dropout: _module("LinearHead")(spec, dropout),
               cost=_head_cost, pooled=True)
