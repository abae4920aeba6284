"""LiteRT (TensorFlow Lite) as a timing backend: each module converted from PyTorch with
``litert-torch`` to a fixed-shape ``.tflite`` model and run by the LiteRT interpreter with its
default XNNPACK delegate, as ``benchmark_model`` runs it on a phone's CPU."""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.util
import logging
import multiprocessing
import os
import warnings
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latency_tables.backends._base import Backend, ModelCache, register_backend, runtime_module
from supernet import NASError

__all__ = ["LiteRtBackend", "export_tflite", "tflite_input", "tflite_interpreter", "tflite_output"]

_CONVERTED = ModelCache()  # .tflite files of recent cache keys
_POOL = None  # the converter's process (`_converter`)


def _silenced() -> None:
    """A conversion process's start: the converter's stage lines and absl's C++ logging go
    to the null device (its errors come back to the caller as exceptions)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if hasattr(os, "sched_setaffinity"):  # a timing caller pins itself to one core: conversions use all
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)


def _convert(module: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype, path: str,
             calib: np.ndarray | None) -> None:
    """In the converter's process: ``module`` converted and written to ``path``; with
    ``calib`` (inputs), quantised to int8 first (PT2E, static, symmetric per-channel weights,
    activation ranges from ``calib``)."""
    import litert_torch

    example = (torch.zeros(input_shape, dtype=dtype),)
    config = None
    with torch.no_grad():
        if calib is not None:
            from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
            from litert_torch.quantize.quant_config import QuantConfig
            try:
                from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
            except ImportError:  # older stacks keep PT2E in torch
                from torch.ao.quantization.quantize_pt2e import convert_pt2e, prepare_pt2e

            quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
            module = prepare_pt2e(torch.export.export(module.eval(), example).module(), quantizer)
            for i in range(0, len(calib), input_shape[0]):
                batch = calib[i:i + input_shape[0]]
                if len(batch) == input_shape[0]:
                    module(torch.from_numpy(batch))
            module = convert_pt2e(module, fold_quantize=False)
            config = QuantConfig(pt2e_quantizer=quantizer)
        else:
            module = module.eval()
        litert_torch.convert(module, example, quant_config=config).export(path)


def _converter() -> concurrent.futures.ProcessPoolExecutor:
    """Processes, started fresh (spawn) on first use, one per core up to 2, that convert
    models: litert-torch imports JAX, whose threads make a later fork of the caller unsafe
    (data loaders, Ray), and prints as it goes; neither reaches the caller's process."""
    global _POOL
    if importlib.util.find_spec("litert_torch") is None:
        runtime_module("litert_torch", extra="litert")  # the error that names the extra
    if _POOL is None:
        workers = max(1, min(2, os.cpu_count() or 1))  # the machine's cores, not a timing pin's one
        _POOL = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_silenced)
    return _POOL


def _int8(quantize: Sequence[str] | bool | None) -> bool:
    """Whether a model is timed all-int8; a policy that mixes precisions is refused."""
    if quantize in (None, False, True):
        return bool(quantize)
    if set(quantize) != {"int8"}:
        raise NASError(f"LiteRT times fp32 or all-int8 models, not the mixed policy {list(quantize)}: "
                       "time mixed precision in runtime 'ort' or 'openvino'")
    return True


def _random_calib(shape: tuple[int, ...]) -> np.ndarray:
    """8 batches of random normal inputs: the ranges change an int8 model's values, not its work."""
    return np.random.default_rng(0).standard_normal((8 * shape[0], *shape[1:])).astype(np.float32)


def _submit(module: nn.Module, path: Path, input_shape: tuple[int, ...], dtype: torch.dtype, int8: bool,
            calib: np.ndarray | None) -> tuple[concurrent.futures.Future, Path, Path]:
    """``module``'s conversion handed to the converter's processes: (job, its temporary file,
    ``path``)."""
    path = Path(path)
    if int8:
        calib = _random_calib(tuple(input_shape)) if calib is None else np.asarray(calib, np.float32)
    tmp = path.with_name(f".{path.name}.partial")
    job = _converter().submit(_convert, module.eval(), tuple(input_shape), dtype, str(tmp),
                              calib if int8 else None)
    return job, tmp, path


def _finish(job: concurrent.futures.Future, tmp: Path, path: Path) -> None:
    """Wait for a conversion and move its file into place."""
    global _POOL
    try:
        job.result()
    except concurrent.futures.process.BrokenProcessPool:
        _POOL = None
        raise NASError(f"the LiteRT converter's process died while converting {path.name} (out of memory?); "
                       "run again") from None
    os.replace(tmp, path)


def export_tflite_many(models: Sequence[tuple[nn.Module, Path, tuple[int, ...], bool]]) -> None:
    """``(module, path, input shape, int8)`` each converted to ``path`` as `export_tflite`
    converts one (fp32 input; int8 ranges from random inputs), in parallel."""
    jobs = [_submit(module, path, shape, torch.float32, int8, None) for module, path, shape, int8 in models]
    for job in jobs:
        _finish(*job)


def convert_many(models: Sequence[tuple[nn.Module, tuple[int, ...], Hashable, object]],
                 workdir: Path) -> None:
    """``(module, input shape, key, quantize)`` each converted into the cache under its key, in
    parallel in the converter's processes (those cached already are skipped)."""
    _CONVERTED.hold(key for _, _, key, _ in models)
    todo = {key: (module, shape, _int8(q)) for module, shape, key, q in models
            if key is not None and key not in _CONVERTED}
    if len(todo) < 2:
        return
    paths = [Path(workdir) / f".prepared{i}.tflite" for i in range(len(todo))]
    export_tflite_many([(m, path, shape, int8) for (m, shape, int8), path in zip(todo.values(), paths)])
    for key, path in zip(todo, paths):
        _CONVERTED.keep(key, path)
        path.unlink()


def export_tflite(module: nn.Module, path: Path, input_shape: tuple[int, ...],
                  key: Hashable | None = None, dtype: torch.dtype = torch.float32,
                  int8: bool = False, calib: np.ndarray | None = None) -> Path:
    """``module`` (eval mode) converted to a fixed-shape LiteRT model at ``path`` taking
    ``dtype`` input, in the converter's process (`_converter`); ``int8``: quantised, its
    activation ranges from ``calib`` (inputs; default: 8 batches of random normal inputs,
    as the ONNX Runtime timings calibrate: the ranges change the values, not the work).
    With a ``key``, a model converted in this process under that key is reused (a block's
    conversion takes about 2 s here, a whole subnet's 10-30 s)."""
    path = Path(path)
    if not _CONVERTED.restore(key, path):
        _finish(*_submit(module, path, input_shape, dtype, int8, calib))
        _CONVERTED.keep(key, path)
    return path


def tflite_interpreter(path: str | Path, threads: int):
    """A LiteRT interpreter of the model at ``path`` with its tensors allocated."""
    interpreter_module = runtime_module("ai_edge_litert.interpreter", extra="litert")
    interpreter = interpreter_module.Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


def tflite_input(interpreter, x: np.ndarray) -> np.ndarray:
    """``x`` as the model's input tensor takes it: quantised with its scale and zero point
    when the model is int8 from its input on."""
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] in (np.int8, np.uint8) and x.dtype.kind == "f":
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(detail["dtype"])
    return x.astype(detail["dtype"], copy=False)


def tflite_output(interpreter) -> np.ndarray:
    """The model's first output, dequantised when it is int8."""
    detail = interpreter.get_output_details()[0]
    y = interpreter.get_tensor(detail["index"])
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zero = detail["quantization"]
        return (y.astype(np.float32) - zero) * scale
    return y


@register_backend
class LiteRtBackend(Backend):
    """fp32 and all-int8 models (quantised by LiteRT's own converter, which keeps a float
    input and output where it chooses to, with the (de)quantise ops timed with the model);
    a policy that mixes precisions is timed in ONNX Runtime or OpenVINO."""

    name = "litert"
    int8 = True

    def version(self) -> str:
        from importlib.metadata import version

        runtime_module("ai_edge_litert.interpreter", extra="litert")
        return f"ai-edge-litert {version('ai-edge-litert')}"

    def prepare(self, models) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="nas-litert-") as tmp:
            convert_many(models, Path(tmp))

    def runners(self, module, x, *, threads, workdir, name, sessions, cache_key, provider, quantize):
        int8 = _int8(quantize)
        path = export_tflite(module, workdir / f"{name}.tflite", tuple(x.shape), cache_key, int8=int8)
        runs = []
        for _ in range(sessions):
            interpreter = tflite_interpreter(path, threads)
            feed = tflite_input(interpreter, x.numpy())
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], feed)
            runs.append(interpreter.invoke)
        return runs
