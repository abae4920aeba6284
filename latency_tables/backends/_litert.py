"""LiteRT (TensorFlow Lite) as a timing backend: each module converted from PyTorch with
``litert-torch`` to a fixed-shape ``.tflite`` model and run by the LiteRT interpreter with its
default XNNPACK delegate, as ``benchmark_model`` runs it on a phone's CPU."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import logging
import multiprocessing
import os
import warnings
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path

import torch
from torch import nn

from latency_tables.backends._base import Backend, register_backend, runtime_module
from supernet import NASError

__all__ = ["LiteRtBackend", "export_tflite", "tflite_interpreter"]

_CONVERTED: OrderedDict[Hashable, bytes] = OrderedDict()  # .tflite files of recent cache keys
_CONVERTED_BYTES = 256 * 2**20


_POOL = None  # the converter's process (`_converter`)


def _silenced() -> None:
    """A conversion process's start: the converter's stage lines and absl's C++ logging go
    to the null device (its errors come back to the caller as exceptions)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)


def _convert(module: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype, path: str) -> None:
    """In the converter's process: ``module`` converted and written to ``path``."""
    import litert_torch

    with torch.no_grad():
        litert_torch.convert(module.eval(), (torch.zeros(input_shape, dtype=dtype),)).export(path)


def _converter() -> concurrent.futures.ProcessPoolExecutor:
    """One process, started fresh (spawn) on first use, that converts models: litert-torch
    imports JAX, whose threads make a later fork of the caller unsafe (data loaders, Ray), and
    prints as it goes; neither reaches the caller's process."""
    global _POOL
    if importlib.util.find_spec("litert_torch") is None:
        runtime_module("litert_torch", extra="litert")  # the error that names the extra
    if _POOL is None:
        _POOL = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_silenced)
    return _POOL


def export_tflite(module: nn.Module, path: Path, input_shape: tuple[int, ...],
                  key: Hashable | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """``module`` (eval mode) converted to a fixed-shape LiteRT model at ``path`` taking
    ``dtype`` input, in the converter's process (`_converter`); with a ``key``, a model
    converted in this process under that key is reused (a block's conversion takes about
    2 s here, a whole subnet's 10-30 s)."""
    global _POOL
    path = Path(path)
    if key is not None and key in _CONVERTED:
        _CONVERTED.move_to_end(key)
        path.write_bytes(_CONVERTED[key])
        return path
    tmp = path.with_name(f".{path.name}.partial")
    try:
        _converter().submit(_convert, module.eval(), tuple(input_shape), dtype, str(tmp)).result()
    except concurrent.futures.process.BrokenProcessPool:
        _POOL = None
        raise NASError(f"the LiteRT converter's process died while converting {path.name} (out of "
                       "memory?); run again") from None
    os.replace(tmp, path)
    if key is not None:
        _CONVERTED[key] = path.read_bytes()
        while sum(len(b) for b in _CONVERTED.values()) > _CONVERTED_BYTES:
            _CONVERTED.popitem(last=False)
    return path


def tflite_interpreter(path: str | Path, threads: int):
    """A LiteRT interpreter of the model at ``path`` with its tensors allocated."""
    interpreter_module = runtime_module("ai_edge_litert.interpreter", extra="litert")
    interpreter = interpreter_module.Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


@register_backend
class LiteRtBackend(Backend):
    name = "litert"

    def version(self) -> str:
        from importlib.metadata import version

        runtime_module("ai_edge_litert.interpreter", extra="litert")
        return f"ai-edge-litert {version('ai-edge-litert')}"

    def runners(self, module, x, *, threads, workdir, name, sessions, cache_key, provider, quantize):
        path = export_tflite(module, workdir / f"{name}.tflite", tuple(x.shape), cache_key)
        feed = x.numpy()
        runs = []
        for _ in range(sessions):
            interpreter = tflite_interpreter(path, threads)
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], feed)
            runs.append(interpreter.invoke)
        return runs
