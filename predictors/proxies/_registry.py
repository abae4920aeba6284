"""Zero-cost proxies by name: each scores one untrained (or inherited) network on a few
images, higher meaning "expected to be more accurate". A proxy registers itself where it is
defined (``@register_proxy``); `ProxyInput` is what it receives."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn
from torch.func import replace_all_batch_norm_modules_

from supernet import ArchConfig, NASError, SearchSpace, Subnet

__all__ = ["ProxyInput", "batch_statistics", "get_proxy", "list_proxies", "random_subnet", "register_proxy",
           "scored_weights"]

_PROXIES: dict[str, Callable[[ProxyInput], float]] = {}


@dataclass(eq=False)
class ProxyInput:
    """One arch to score: its images (normalised, NCHW, at the arch's resolution) and labels,
    and the network, built on first use (``params`` and ``macs`` never build it) in eval
    mode (no dropout; batch norm on its stored statistics: see `batch_statistics`)."""

    space: SearchSpace
    arch: ArchConfig
    images: torch.Tensor
    labels: torch.Tensor
    build: Callable[[], nn.Module]
    chunk: int = 16

    @cached_property
    def model(self) -> nn.Module:
        return self.build().eval()


def batch_statistics(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose batch norms normalise with the statistics of the batch they
    see, as in training, and store none (dropout stays off): what the papers' proxies run.
    Under ``vmap`` over single images, each image is normalised by its own statistics."""
    twin = copy.deepcopy(model).eval()
    replace_all_batch_norm_modules_(twin)
    return twin


def scored_weights(model: nn.Module) -> list[str]:
    """Names of the convolution and linear weights: the parameters the proxies sum over."""
    return [f"{name}.weight" if name else "weight" for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))]


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
