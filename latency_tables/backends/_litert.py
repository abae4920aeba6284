"""LiteRT (TensorFlow Lite) as a timing backend: each module converted from PyTorch with
``litert-torch`` to a fixed-shape ``.tflite`` model and run by the LiteRT interpreter with its
default XNNPACK delegate, as ``benchmark_model`` runs it on a phone's CPU."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path

import torch
from torch import nn

from latency_tables.backends._base import Backend, register_backend, runtime_module

__all__ = ["LiteRtBackend", "export_tflite", "tflite_interpreter"]

_CONVERTED: OrderedDict[Hashable, bytes] = OrderedDict()  # .tflite files of recent cache keys
_CONVERTED_BYTES = 256 * 2**20


@contextlib.contextmanager
def _quiet():
    """The converter prints its stages and absl lines on stdout and stderr: silenced."""
    loggers = [logging.getLogger(n) for n in ("absl", "litert_torch", "jax")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def export_tflite(module: nn.Module, path: Path, input_shape: tuple[int, ...],
                  key: Hashable | None = None) -> Path:
    """``module`` (fp32, eval mode) converted to a fixed-shape LiteRT model at ``path``; with
    a ``key``, a model converted in this process under that key is reused (a conversion
    takes about a second)."""
    path = Path(path)
    if key is not None and key in _CONVERTED:
        _CONVERTED.move_to_end(key)
        path.write_bytes(_CONVERTED[key])
        return path
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    converter = runtime_module("litert_torch", extra="litert")
    with _quiet(), torch.no_grad():
        edge = converter.convert(module.eval(), (torch.zeros(input_shape),))
        tmp = path.with_name(f".{path.name}.partial")
        edge.export(str(tmp))
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
