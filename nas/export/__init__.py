"""A chosen subnet out of its supernet: ONNX (fp32 or int8, optionally taking raw inputs),
verified against PyTorch, timed as its latency table was built, with a model card."""

from nas.export._export import ExportConfig, arch_from_front, export_subnet

__all__ = ["ExportConfig", "arch_from_front", "export_subnet"]
