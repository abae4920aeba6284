"""A checkpoint file read without torch: its hash, and every value in it except the
tensors' contents. Importing torch costs seconds; describing a checkpoint (`nas show`)
should not."""

from __future__ import annotations

import collections
import hashlib
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supernet._pretrained import resolve_checkpoint
from supernet.core import ArtifactMismatchError

__all__ = ["TensorInfo", "checkpoint_record", "file_hash", "peek_checkpoint"]


@dataclass(frozen=True)
class TensorInfo:
    """What `peek_checkpoint` puts where a tensor was: its shape and element type."""

    shape: tuple[int, ...]
    dtype: str


def file_hash(path: str | Path) -> str:
    """Short sha256 of a file's bytes (``pretrained:NAME`` names a shipped checkpoint):
    artifacts record the hashes of their inputs."""
    digest = hashlib.sha256()
    with open(resolve_checkpoint(path), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def peek_checkpoint(path: str | Path) -> dict[str, Any]:
    """The payload of a checkpoint (a path or ``pretrained:NAME``) with each tensor as a
    `TensorInfo`. The pickle is read by an unpickler that knows plain containers and
    torch's tensor records only, so it runs no code from the file. A file it cannot read
    this way (an older format, other types) raises `ArtifactMismatchError`; `load_checkpoint`
    reads it with torch and says what is wrong."""
    path = resolve_checkpoint(path)
    try:
        with zipfile.ZipFile(path) as zf:
            pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise ArtifactMismatchError(f"{path}: not a torch checkpoint archive (no data.pkl)")
            with zf.open(pickles[0]) as fh:
                payload = _Unpickler(fh).load()
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ArtifactMismatchError(f"{path}: not readable without torch ({err})") from None
    if not isinstance(payload, dict) or "model" not in payload or "space" not in payload:
        raise ArtifactMismatchError(f"{path}: expected a supernet checkpoint with 'model' and 'space'")
    return payload


def checkpoint_record(path: str | Path) -> dict[str, Any]:
    """What a checkpoint records, for reading its space, config and metrics: `peek_checkpoint`
    (no torch, each tensor a `TensorInfo`), or, for a file it cannot read, `load_checkpoint`,
    which reads it safely with torch or says what is wrong."""
    try:
        return peek_checkpoint(path)
    except ArtifactMismatchError:
        from supernet._checkpoint import load_checkpoint

        return load_checkpoint(path)


_STORAGE_DTYPES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
                   "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                   "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
                   "BoolStorage": "bool"}


def _rebuild_tensor(storage: str, offset: int, size: tuple, stride: tuple, *rest: Any) -> TensorInfo:
    return TensorInfo(tuple(int(n) for n in size), storage)


def _rebuild_parameter(data: TensorInfo, *rest: Any) -> TensorInfo:
    return data


class _Unpickler(pickle.Unpickler):
    _ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
                ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
                ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[module, name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"it holds {module}.{name}, which only torch can read")

    def persistent_load(self, pid: Any) -> str:
        # torch's storage record: ('storage', storage type, key, location, numel)
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], str)):
            raise pickle.UnpicklingError(f"unknown persistent record {str(pid)[:80]}")
        return pid[1]
