"""ONNX Runtime as a timing backend: each module exported once to a fixed-shape ONNX
file (int8 on request), run in its own sessions."""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
from torch import nn

from latency_tables.backends._base import Backend, ModelCache, register_backend
from supernet import export_onnx, ort_session

__all__ = ["OrtBackend", "export_model"]

_EXPORTED = ModelCache()  # ONNX files of recent cache keys


def _onnx_file(module: nn.Module, path: Path, input_shape: tuple[int, ...], key: Hashable | None,
               quantize: Sequence[str] | bool | None = None) -> Path:
    """``module`` exported to ``path``; with a ``key`` (what defines the graph: space hash,
    arch, input shape), a file already exported in this process under that key is reused:
    the reference and filler subnets come back in every end-to-end timing. With
    ``quantize`` the file is the int8 model (`quantize_onnx`; True: every node, a precision
    per block: the blocks at fp32 left out), its activation ranges calibrated on random inputs (the ranges
    change the values, not the work)."""
    if not _EXPORTED.restore(key, path):
        export_model(module, path, input_shape, quantize)
        _EXPORTED.keep(key, path)
    return path


def export_model(module: nn.Module, path: Path, input_shape: tuple[int, ...],
                 quantize: Sequence[str] | bool | None = None) -> Path:
    """``module`` as a fixed-shape ONNX model at ``path``, int8 with ``quantize`` (see
    `_onnx_file`): what every timing of this package runs."""
    export_onnx(module, path, input_shape, dynamic_batch=False, check=False)
    if quantize:
        from supernet.deploy import quantize_onnx

        fp32 = path.with_name(f"{path.stem}.fp32.onnx")
        os.replace(path, fp32)
        b = input_shape[0]  # the graph's fixed batch: whole batches of at least 8 inputs
        calib = np.random.default_rng(0).standard_normal((b * -(-8 // b), *input_shape[1:]))
        calib = calib.astype(np.float32)
        quantize_onnx(fp32, path, calib, block_precisions=None if quantize is True else quantize,
                      batch=input_shape[0])
        fp32.unlink()
    return path


@register_backend
class OrtBackend(Backend):
    name = "ort"
    int8 = True

    def version(self) -> str:
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"

    def runners(self, module, x, *, threads, workdir, name, sessions, cache_key, provider, quantize):
        path = _onnx_file(module, workdir / f"{name}.onnx", tuple(x.shape), cache_key, quantize)
        feed = {"input": x.numpy()}
        runs = [ort_session(path, threads, provider).run for _ in range(sessions)]
        return [lambda run=run: run(None, feed) for run in runs]
