"""Zero-cost proxies by name: each scores one untrained (or inherited) network on a few
images, higher meaning "expected to be more accurate". A proxy registers itself where it is
defined (``@register_proxy``); `ProxyInput` is what it receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from supernet import ArchConfig, NASError, SearchSpace, Subnet

__all__ = ["ProxyInput", "get_proxy", "list_proxies", "random_subnet", "register_proxy"]

_PROXIES: dict[str, Callable[[ProxyInput], float]] = {}


@dataclass(eq=False)
class ProxyInput:
    """One arch to score: its images (normalised, NCHW, at the arch's resolution) and labels,
    and the network, built on first use (``params`` and ``macs`` never build it). ``build``
    returns the network (random initialisation or inherited weights), in eval mode: batch
    norm uses its stored statistics, so one image's output never depends on the others."""

    space: SearchSpace
    arch: ArchConfig
    images: torch.Tensor
    labels: torch.Tensor
    build: Callable[[], nn.Module]
    chunk: int = 16

    @cached_property
    def model(self) -> nn.Module:
        return self.build().eval()


def random_subnet(space: SearchSpace, arch: ArchConfig, seed: int) -> Subnet:
    """The arch's network, freshly initialised from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Subnet.build(space.layout(arch))


def register_proxy(name: str) -> Callable:
    """Decorator: ``@register_proxy("gradsign")`` on ``fn(ProxyInput) -> float``."""
    def add(fn: Callable[[ProxyInput], float]) -> Callable[[ProxyInput], float]:
        if not name or not callable(fn):
            raise NASError(f"register_proxy: expected a name and a function, got {name!r}, {fn!r}")
        _PROXIES[name] = fn
        return fn
    return add


def list_proxies() -> list[str]:
    """Names accepted by ``proxy:NAME`` (``nas search --predictor proxy:gradsign``)."""
    return sorted(_PROXIES)


def get_proxy(name: str) -> Callable[[ProxyInput], float]:
    if name not in _PROXIES:
        raise NASError(f"unknown zero-cost proxy {name!r}; available: {list_proxies()} "
                       "(give it as --predictor proxy:NAME)")
    return _PROXIES[name]
