"""Deployment: ONNX export and parity, ONNX Runtime sessions, int8 quantisation by
precision policy."""

from supernet.deploy._onnx import CPU_PROVIDER, OPSET, check_provider, export_onnx, onnx_parity, ort_session
from supernet.deploy._quantize import onnx_predictions, parse_precision, quantize_onnx

__all__ = ["CPU_PROVIDER", "OPSET", "check_provider", "export_onnx", "onnx_parity", "onnx_predictions",
           "ort_session", "parse_precision",
           "quantize_onnx"]
