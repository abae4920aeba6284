"""The ``mbconv`` family's choices, the costs of its blocks from their specs alone, and the
block kinds' registration; torch-free, so that a space is described, costed and searched
without importing torch (the modules are built from `_blocks` when a network is)."""

from __future__ import annotations

import importlib

from supernet.space import BlockSpec, conv_cost, register_block, register_choice

__all__ = ["EXPAND", "KERNEL"]

KERNEL, EXPAND = register_choice("kernel_sizes", "k"), register_choice("expand_ratios", "e")


def _module(name: str) -> type:
    """A block's module class, imported with torch when a network is first built."""
    return getattr(importlib.import_module("supernet.spaces.mbconv._blocks"), name)


def _layer(name: str) -> type:
    return getattr(importlib.import_module("supernet.nn"), name)


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


register_block("stem", build=lambda spec, dropout: _layer("ConvBNAct")(
    spec.in_channels, spec.out_channels, spec.kernel, spec.stride, act=spec.act), cost=_stem_cost)
register_block("mbconv", build=lambda spec, dropout: _module("MBConv")(spec), cost=_mbconv_cost)
register_block("head", build=lambda spec, dropout: _module("Head")(spec, dropout), cost=_head_cost,
               pooled=True)
register_block("mix_head", build=lambda spec, dropout: _module("MixHead")(spec, dropout), cost=_mix_head_cost,
               pooled=True)
