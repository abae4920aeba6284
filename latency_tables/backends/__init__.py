"""The runtimes a latency table is timed in, each a `Backend` registered where it is
defined (``@register_backend``): ONNX Runtime (``ort``), OpenVINO (``openvino``), LiteRT
(``litert``) and torch eager (``torch``). OpenVINO and LiteRT are optional extras, imported
only when used.

    make_runner("ort", module, (1, 3, 32, 32), threads=1, workdir=tmp, name="b0")()
"""

from latency_tables.backends import _litert, _openvino, _torch  # noqa: F401  (register themselves)
from latency_tables.backends._base import (
    DEPLOY_RUNTIMES,
    Backend,
    ModelCache,
    get_backend,
    int8_runtimes,
    list_backends,
    make_runner,
    register_backend,
    runtime_module,
)
from latency_tables.backends._litert import (
    export_tflite,
    export_tflite_many,
    tflite_input,
    tflite_interpreter,
    tflite_output,
)
from latency_tables.backends._openvino import OV_DEVICES, ov_compile, ov_device
from latency_tables.backends._ort import export_model

__all__ = ["DEPLOY_RUNTIMES", "OV_DEVICES", "Backend", "ModelCache", "export_model", "export_tflite",
           "export_tflite_many", "get_backend", "int8_runtimes", "list_backends", "make_runner", "ov_compile",
           "ov_device", "register_backend", "runtime_module", "tflite_input", "tflite_interpreter",
           "tflite_output"]
