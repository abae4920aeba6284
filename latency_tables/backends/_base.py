"""`Backend`: one runtime's way of running a module for timing, and the registry of them."""

from __future__ import annotations

import abc
import importlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from supernet import NASError
from supernet.deploy import CPU_PROVIDER

__all__ = ["DEPLOY_RUNTIMES", "Backend", "ModelCache", "get_backend", "int8_runtimes", "list_backends",
           "make_runner", "register_backend", "runtime_module"]

_BACKENDS: dict[str, Backend] = {}
DEPLOY_RUNTIMES = ("ort", "openvino", "litert")  # what models deploy on: bundles, exports (not torch eager)


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


class ModelCache:
    """Model files a backend made in this process, by cache key (what defines the graph:
    space hash, arch or block, input shape, precision), up to ``max_bytes``, the least
    recently used dropped first: reference, filler and calibration subnets and the blocks of
    every pass come back, and making one (an ONNX export, a LiteRT conversion) costs more
    than copying its bytes."""

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes, self._files = max_bytes, OrderedDict()
        self._held: frozenset = frozenset()

    def hold(self, keys) -> None:
        """Keep the files of ``keys`` whatever the bound, until the next ``hold``: a group
        prepared ahead of its timing (`Backend.prepare`) larger than the bound would
        otherwise lose its first models before they are used, and each be made again, one
        at a time (measured: whole ofa_mbv3 subnets in LiteRT, 20 of them >> 256 MB)."""
        self._held = frozenset(k for k in keys if k is not None)

    def __contains__(self, key: Hashable) -> bool:
        return key is not None and key in self._files

    def restore(self, key: Hashable | None, path: Path) -> bool:
        """Write the file kept under ``key`` to ``path``; False when there is none."""
        if key not in self:
            return False
        self._files.move_to_end(key)
        Path(path).write_bytes(self._files[key])
        return True

    def keep(self, key: Hashable | None, path: Path) -> None:
        """Keep the file at ``path`` under ``key`` (nothing without a key)."""
        if key is None:
            return
        self._files[key] = Path(path).read_bytes()
        free = [k for k in self._files if k not in self._held]  # least recently used first
        size = sum(len(b) for b in self._files.values())
        for old in free:
            if size <= self.max_bytes:
                break
            size -= len(self._files.pop(old))


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
