"""`Backend`: one runtime's way of running a module for timing, and the registry of them."""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from supernet import NASError
from supernet.deploy import CPU_PROVIDER

__all__ = ["Backend", "get_backend", "list_backends", "make_runner", "register_backend", "runtime_module",
           "int8_runtimes"]

_BACKENDS: dict[str, Backend] = {}


class Backend(abc.ABC):
    """A runtime that times the models of a table. ``name`` is what tables record as their
    ``runtime``; ``int8`` says whether it can run quantised models."""

    name: ClassVar[str]
    int8: ClassVar[bool] = False

    @abc.abstractmethod
    def version(self) -> str:
        """The runtime and its version, recorded in a table's metadata."""

    def prepare(self, models: Sequence[tuple[nn.Module, tuple[int, ...], Hashable, object]]) -> None:  # noqa: B027
        """Make the models about to be run, ``(module, input shape, cache key, quantize)``
        each, ahead of `runners` and all at once where that is faster (LiteRT converts them
        in parallel); `runners` then finds them under their cache keys. Default: nothing."""

    @abc.abstractmethod
    def runners(self, module: nn.Module, x: torch.Tensor, *, threads: int, workdir: Path, name: str,
                sessions: int, cache_key: Hashable | None, provider: str,
                quantize: Sequence[str] | bool | None) -> list[Callable[[], object]]:
        """``sessions`` independent zero-argument callables, each running ``module`` once on
        ``x``."""


def runtime_module(module: str, extra: str | None = None):
    """The optional runtime package ``module``, or an error naming the extra that installs
    it (``pip install -e ".[openvino]"``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = extra or module.split(".")[0]
        raise NASError(f"this needs the {extra!r} runtime, which is not installed ({exc}); install it with "
                       f"pip install -e \".[{extra}]\" (or pip install \"ofa-nas[{extra}]\")") from None


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available under its ``name``."""
    _BACKENDS[cls.name] = cls()
    return cls


def list_backends() -> list[str]:
    return sorted(_BACKENDS)


def int8_runtimes() -> list[str]:
    """The runtimes that time int8 models."""
    return [name for name in list_backends() if _BACKENDS[name].int8]


def get_backend(runtime: str) -> Backend:
    if runtime not in _BACKENDS:
        raise NASError(f"runtime: got {runtime!r}, expected one of {list_backends()}")
    return _BACKENDS[runtime]


def make_runner(runtime: str, module: nn.Module, input_shape: tuple[int, ...], *, threads: int,
                workdir: Path, name: str, sessions: int = 1, cache_key: Hashable | None = None,
                provider: str = CPU_PROVIDER,
                quantize: Sequence[str] | bool | None = None) -> Callable[[], object] | list:
    """A zero-argument callable running ``module`` once on a fixed random input in
    ``runtime`` (int8 with ``quantize``: True for every node, else the precision of each
    block; see the ort backend for ``cache_key``). With ``sessions`` > 1, a list of that many
    independent runners (one session each)."""
    backend = get_backend(runtime)
    if quantize and not backend.int8:
        raise NASError(f"int8 models are timed in {int8_runtimes()} only, not in runtime {runtime!r}")
    runners = backend.runners(module, torch.randn(input_shape), threads=threads, workdir=Path(workdir),
                              name=name, sessions=sessions, cache_key=cache_key, provider=provider,
                              quantize=quantize)
    return runners[0] if sessions == 1 else runners
