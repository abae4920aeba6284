"""OpenVINO as a timing backend: the same fixed-shape ONNX files as ONNX Runtime (int8: the
same QDQ models, which OpenVINO runs in int8), compiled for a device (``CPU``; ``GPU`` or
``NPU`` where present) and run with its own synchronous infer request."""

from __future__ import annotations

from latency_tables.backends._base import Backend, register_backend, runtime_module
from latency_tables.backends._ort import _onnx_file
from supernet import NASError
from supernet.deploy import CPU_PROVIDER

__all__ = ["OV_DEVICES", "OpenVinoBackend", "ov_compile", "ov_device"]

OV_DEVICES = ("CPU", "GPU", "NPU")


def ov_device(provider: str) -> str:
    """The OpenVINO device a table's ``provider`` names (ONNX Runtime's CPU provider, the
    default of every table, is OpenVINO's ``CPU``)."""
    device = "CPU" if provider == CPU_PROVIDER else provider
    if device.split(".")[0] not in OV_DEVICES:
        raise NASError(f"OpenVINO device: got {provider!r}, expected one of {list(OV_DEVICES)} "
                       "(GPU.1 for a second GPU)")
    return device


def ov_compile(path, *, threads: int, device: str = "CPU"):
    """The ONNX or IR model at ``path`` compiled for ``device`` with ``threads`` inference
    threads, in fp32 (OpenVINO would run bf16 on CPUs with AMX unless told otherwise) and one
    stream, for latency."""
    ov = runtime_module("openvino")
    core = ov.Core()
    have = core.available_devices  # e.g. ['CPU', 'GPU.0', 'GPU.1']: "GPU" is the first of them
    if device not in have and ("." in device or device not in {d.split(".")[0] for d in have}):
        raise NASError(f"OpenVINO device {device!r} is not on this machine; it has {core.available_devices}")
    config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    if device == "CPU":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    return core.compile_model(str(path), device, config)


@register_backend
class OpenVinoBackend(Backend):
    name = "openvino"
    int8 = True

    def version(self) -> str:
        return f"openvino {runtime_module('openvino').__version__}"

    def runners(self, module, x, *, threads, workdir, name, sessions, cache_key, provider, quantize):
        path = _onnx_file(module, workdir / f"{name}.onnx", tuple(x.shape), cache_key, quantize)
        compiled = ov_compile(path, threads=threads, device=ov_device(provider))
        feed = runtime_module("openvino").Tensor(x.numpy())
        requests = [compiled.create_infer_request() for _ in range(sessions)]
        for request in requests:
            request.set_input_tensor(feed)
        return [request.infer for request in requests]
