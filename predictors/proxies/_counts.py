"""Baselines every zero-cost proxy must beat (AZ-NAS found GradSign only ~0.04 Kendall tau
above plain parameter count on NAS-Bench-201): the arch's parameters and multiply-accumulates,
from its layout (no network is built)."""

from __future__ import annotations

from predictors.proxies._registry import ProxyInput, register_proxy
from supernet import arch_cost

__all__ = ["macs", "params"]


@register_proxy("params")
def params(item: ProxyInput) -> float:
    return float(arch_cost(item.space, item.arch).params)


@register_proxy("macs")
def macs(item: ProxyInput) -> float:
    return float(arch_cost(item.space, item.arch).macs)
