"""The exported model in the runtime it deploys on, beside the ONNX file: OpenVINO IR
(``.xml`` + ``.bin``, converted from the checked ONNX model) or a LiteRT model (``.tflite``,
converted from the PyTorch module with litert-torch). Each is checked against its reference
(PyTorch, or for int8 the ONNX Runtime model it was converted from) and run on the test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from latency_tables.backends import (
    DEPLOY_RUNTIMES,
    export_tflite,
    ov_compile,
    runtime_module,
    tflite_input,
    tflite_interpreter,
    tflite_output,
)
from supernet import NASError

__all__ = ["RUNTIMES", "RuntimeModel", "runtime_files", "write_runtime_model"]

RUNTIMES = DEPLOY_RUNTIMES


def runtime_files(runtime: str, out: Path) -> list[Path]:
    """The files the export writes for ``runtime`` besides ``out`` (the ONNX model)."""
    if runtime not in RUNTIMES:
        raise NASError(f"runtime (--runtime): got {runtime!r}, expected one of {list(RUNTIMES)}")
    return {"ort": [], "openvino": [out.with_suffix(".xml"), out.with_suffix(".bin")],
            "litert": [out.with_suffix(".tflite")]}[runtime]


def write_runtime_model(runtime: str, onnx: Path, net: nn.Module, input_shape: tuple[int, ...],
                        dtype: torch.dtype, path: Path, calib: np.ndarray | None = None) -> Path:
    """The model for ``runtime`` at ``path`` (for OpenVINO the ``.xml``, its ``.bin`` beside):
    OpenVINO's from the ONNX file ``onnx`` (int8 if it is), LiteRT's from ``net`` at
    ``input_shape`` (int8 throughout with ``calib``, the inputs its activation ranges come
    from)."""
    if runtime == "openvino":
        ov = runtime_module("openvino")
        ov.save_model(ov.convert_model(str(onnx)), str(path), compress_to_fp16=False)
    elif runtime == "litert":
        export_tflite(net, path, input_shape, dtype=dtype, int8=calib is not None, calib=calib)
    return path


class RuntimeModel:
    """A model file run in its runtime with ``threads`` threads: ``predict(x)`` gives the
    logits of a batch (LiteRT's model has a fixed batch of 1: one call per image)."""

    def __init__(self, runtime: str, path: Path, threads: int = 1) -> None:
        self.runtime = runtime
        if runtime == "openvino":
            self._model = ov_compile(path, threads=threads)
        else:
            self._model = tflite_interpreter(path, threads)
            self._in = self._model.get_input_details()[0]["index"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.runtime == "openvino":
            return np.asarray(self._model(np.ascontiguousarray(x))[0])
        outs = []
        for row in x:  # an int8 model's input quantised, its output dequantised
            self._model.set_tensor(self._in, tflite_input(self._model, np.ascontiguousarray(row[None])))
            self._model.invoke()
            outs.append(tflite_output(self._model)[0].copy())
        return np.stack(outs)

    def labels(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        return np.concatenate([self.predict(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])
