"""ONNX export of a static module, ONNX Runtime sessions, and the parity check between
the two (the one export path used by latency tables, reports and `nas export`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from supernet.core import NASError, atomic_path

__all__ = ["CPU_PROVIDER", "OPSET", "check_provider", "export_onnx", "ort_session", "onnx_parity"]

OPSET = 17


def export_onnx(module: nn.Module, path: str | Path, input_shape: tuple[int, ...], *,
                dynamic_batch: bool = True, check: bool = True, dtype: torch.dtype = torch.float32) -> Path:
    """Export ``module`` (in eval mode) to ``path`` atomically; input ``input`` (of ``dtype``),
    output ``output``; batch axis dynamic unless ``dynamic_batch`` is False."""
    import onnx

    path = Path(path)
    was_training = module.training
    module.eval()
    try:
        with atomic_path(path) as tmp, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (torch.zeros(input_shape, dtype=dtype),), str(tmp), dynamo=False, opset_version=OPSET,
                input_names=["input"], output_names=["output"],
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None,
            )
            if check:
                onnx.checker.check_model(str(tmp))
    finally:
        module.train(was_training)
    return path


CPU_PROVIDER = "CPUExecutionProvider"


def check_provider(provider: str) -> None:
    """A clear error when this onnxruntime lacks the execution provider ``provider``."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if provider not in available:
        raise NASError(f"execution provider {provider!r} is not in this onnxruntime ({ort.__version__}); "
                       f"it has {available} (install the onnxruntime build for that device)")


def ort_session(path: str | Path, threads: int = 1, provider: str = CPU_PROVIDER):
    """An ONNX Runtime session with full graph optimisation and fixed thread counts, on
    ``provider`` (what it cannot run falls back to the CPU, as it would when deployed)."""
    import onnxruntime as ort

    check_provider(provider)

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads > 1:  # idle sessions must not spin-wait: timing interleaves many of them
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = [provider] + ([CPU_PROVIDER] if provider != CPU_PROVIDER else [])
    return ort.InferenceSession(str(path), opts, providers=providers)


def onnx_parity(path: str | Path, module: nn.Module, x: torch.Tensor) -> float:
    """Max absolute difference between ONNX Runtime's and PyTorch's (eval) outputs on ``x``."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        expected = module(x).numpy()
    module.train(was_training)
    got = ort_session(path).run(None, {"input": x.numpy()})[0]
    return float(np.max(np.abs(got - expected)))
