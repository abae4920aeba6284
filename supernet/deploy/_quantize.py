"""INT8 models: a precision policy per part of a subnet (stem, each stage, head), ONNX
Runtime's static quantisation of the FP32 export (QDQ, per-channel int8 weights, uint8
activations calibrated on training images) with the FP32 parts left out, and the checks
that say what quantisation changed (accuracy, agreement with the FP32 twin, size, speed)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from supernet.core import ConfigError
from supernet.space import PRECISIONS, precision_parts

__all__ = ["parse_precision", "quantize_onnx", "onnx_predictions"]


def parse_precision(text: str | None, num_stages: int) -> dict[str, str] | None:
    """``fp32`` (or None): no quantisation. ``int8``: every part. ``int8,stem:fp32,head:fp32``:
    a default for every part, then ``PART:PRECISION`` overrides. Returns part -> precision,
    or None when nothing is quantised."""
    if text is None or text.strip() == "fp32":
        return None
    parts = precision_parts(num_stages)
    items = [t.strip() for t in text.split(",") if t.strip()]
    expected = (f"'int8', or a default precision followed by PART:PRECISION items, e.g. "
                f"'int8,stem:fp32,head:fp32'; parts: {parts}; precisions: {list(PRECISIONS)}")
    if not items or items[0] not in PRECISIONS:
        raise ConfigError(f"precision {text!r}: expected {expected}")
    policy = dict.fromkeys(parts, items[0])
    for item in items[1:]:
        part, _, precision = item.partition(":")
        if part not in policy or precision not in PRECISIONS:
            raise ConfigError(f"precision {text!r}: item {item!r} is not PART:PRECISION; expected {expected}")
        policy[part] = precision
    return policy if "int8" in policy.values() else None


def quantize_onnx(fp32: Path, out: Path, calib: np.ndarray, *, block_precisions: Sequence[str] | None = None,
                  batch: int = 32) -> dict:
    """Quantise the model ``fp32`` into ``out``: QDQ, per-channel int8 weights, uint8
    activations whose ranges come from ``calib`` (model inputs, NCHW float32). With
    ``block_precisions`` (the model is an exported `Subnet`; one precision per block of its
    layout, `SearchSpace.block_precisions`), the nodes of the blocks kept at fp32 are left
    out; without, every node is quantised. Returns what was done."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calib[i:i + batch] for i in range(0, len(calib), batch))

        def get_next(self):
            x = next(self.batches, None)
            return None if x is None else {"input": np.ascontiguousarray(x, dtype=np.float32)}

    # the exported `Subnet`'s children are its layout's blocks: stem conv, first block, active blocks, head
    keep = {i for i, p in enumerate(block_precisions or ()) if p == "fp32"}
    with tempfile.TemporaryDirectory(prefix="nas-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        nodes = model.graph.node
        children = _node_children(nodes)
        renamed = keep and _name_nodes(nodes)  # the quantiser excludes nodes by name: each needs its own
        if _unshare_initializers(model) or renamed:
            onnx.save(model, str(prepared))
        excluded = [n.name for n, child in zip(nodes, children) if child in keep]
        with _quiet_logs():
            quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=excluded)
    quantized = sum(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)
    return {"format": "QDQ", "per_channel": True, "weights": "int8", "activations": "uint8",
            "calib_images": len(calib), "nodes_left_fp32": len(excluded), "quantize_nodes": quantized}


@contextlib.contextmanager
def _quiet_logs():
    """ONNX Runtime's quantiser logs advice at INFO/WARNING on the root logger for every
    model (pre-processing hints); a table build quantises hundreds: keep them out."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def _name_nodes(nodes) -> bool:
    """Give every nameless node (a hard-swish the pre-processing inlined into HardSigmoid
    and Mul) a unique name; returns whether any was renamed. Left nameless, excluding one
    such node by its name ``""`` would exclude all of them, in the int8 parts too."""
    taken = {n.name for n in nodes}
    renamed = False
    for i, node in enumerate(nodes):
        if not node.name:
            node.name = _unique(f"_nas_{node.op_type}_{i}", taken)
            renamed = True
    return renamed


def _unshare_initializers(model) -> bool:
    """Give every node its own copy of each initializer it shares with another node; returns
    whether any was copied. The exporter merges equal constants (the zero biases of an
    untrained model, say) into one initializer; quantising it for an int8 node then feeds
    the fp32 nodes that share it through a DequantizeLinear, and ONNX Runtime runs an fp32
    convolution whose weight or bias is not a constant without its fast (NCHWc) kernels:
    measured, a mixed subnet ran 2.2x slower whole than with its own copies."""
    inits = {t.name: t for t in model.graph.initializer}
    graph = model.graph
    taken = set(inits) | {i.name for i in graph.input} | {o for n in graph.node for o in n.output}
    seen: set[str] = set()
    copied = False
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name not in inits:
                continue
            if name not in seen:
                seen.add(name)
                continue
            tensor = graph.initializer.add()
            tensor.CopyFrom(inits[name])
            tensor.name = node.input[k] = _unique(f"{name}_nas{len(taken)}", taken)
            copied = True
    return copied


def _unique(name: str, taken: set[str]) -> str:
    """``name``, made longer while the model already uses it; added to ``taken``."""
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _node_children(nodes) -> list[int | None]:
    """The subnet child (`_child_index`) of every node, in graph order. Nodes the exporter or
    the pre-processing left without a module path (a hard-swish split into HardSigmoid and
    Mul) belong to the child of the node whose output they read: left out of the policy,
    they would be quantised in a part meant to stay fp32."""
    producer: dict[str, int | None] = {}
    children = []
    for node in nodes:
        child = _child_index(node.name)
        if child is None:
            child = next((producer[i] for i in node.input if producer.get(i) is not None), None)
        children.append(child)
        producer.update(dict.fromkeys(node.output, child))
    return children


def _child_index(name: str) -> int | None:
    """``/3/conv/Conv`` -> 3: the exporter names a node by its module path in the subnet."""
    head = name.split("/")[1] if name.startswith("/") else ""
    return int(head) if head.isdigit() else None


def onnx_predictions(session, images: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """Top-1 class of every image (NCHW float32 model inputs) from an ONNX Runtime session."""
    return np.concatenate([session.run(None, {"input": np.ascontiguousarray(images[i:i + batch])})[0]
                           .argmax(1) for i in range(0, len(images), batch)])
