"""The runtimes a latency table is timed in, each a `Backend` registered where it is
defined (``@register_backend``): ONNX Runtime (``ort``) and torch eager (``torch``).

    make_runner("ort", module, (1, 3, 32, 32), threads=1, workdir=tmp, name="b0")()
"""

from latency_tables.backends import _torch  # noqa: F401  (registers the torch backend)
from latency_tables.backends._base import Backend, get_backend, list_backends, make_runner, register_backend
from latency_tables.backends._ort import export_model

__all__ = ["Backend", "export_model", "get_backend", "list_backends", "make_runner", "register_backend"]
