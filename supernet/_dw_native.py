"""The C kernel of `_dw_grad.c`, compiled for this machine on first use and cached.

Compiled with the system's C compiler (``cc``, or ``$CC``) into
``$XDG_CACHE_HOME/ofa-nas`` (default ``~/.cache/ofa-nas``), keyed by the source, the
compiler and the CPU's instruction-set flags, so a cache shared between machines never
runs code built for another CPU. Without a compiler the caller falls back to a pure
torch path (slower, same values)."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

__all__ = ["dw_weight_grad", "MAX_KERNEL"]

log = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("_dw_grad.c")
MAX_KERNEL = 15
_lib: dict[str, object] = {}


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return os.uname().machine


def _build() -> ctypes.CDLL | None:
    found = shutil.which("cc") or shutil.which("gcc")
    cc = shlex.split(os.environ.get("CC", "")) or ([found] if found else [])
    if not cc:
        log.warning("no C compiler found: depthwise weight gradients use the slower torch path")
        return None
    flags = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags.insert(2, "-mprefer-vector-width=512")
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    key = hashlib.sha256("\n".join([SOURCE.read_text(), *cc, version, *flags, _cpu_flags()]).encode())
    try:
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory known
        home = Path(tempfile.gettempdir())
    cache = home / "ofa-nas"
    lib = cache / f"dw_grad_{key.hexdigest()[:16]}.so"
    if not lib.is_file():
        try:
            cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".dw_grad.", suffix=".so", dir=cache)
            os.close(fd)
            try:
                subprocess.run([*cc, *flags, str(SOURCE), "-o", tmp], check=True, capture_output=True,
                               text=True, timeout=120)
                os.replace(tmp, lib)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except (OSError, subprocess.SubprocessError) as err:
            detail = getattr(err, "stderr", "") or err
            log.warning("could not compile %s (%s): depthwise weight gradients use the slower torch "
                        "path", SOURCE.name, str(detail).strip()[:300])
            return None
    try:
        dll = ctypes.CDLL(str(lib))
    except OSError as err:
        log.warning("could not load %s (%s): using the slower torch path", lib, err)
        return None
    dll.dw_weight_grad.restype = None
    dll.dw_weight_grad.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int] * 10
    return dll


def _kernel():
    if "dll" not in _lib:
        _lib["dll"] = _build()
    return _lib["dll"]


def dw_weight_grad(x: torch.Tensor, grad: torch.Tensor, k: int, stride: int) -> torch.Tensor | None:
    """The ``(c, 1, k, k)`` weight gradient of a depthwise conv (padding ``k // 2``) with
    input ``x`` and output gradient ``grad`` (float32, CPU); None where the kernel cannot
    serve (no compiler, another dtype or a kernel over `MAX_KERNEL`)."""
    if x.dtype != torch.float32 or grad.dtype != torch.float32 or k > MAX_KERNEL:
        return None
    dll = _kernel()
    if dll is None:
        return None
    n, c, h, w = x.shape
    ho, wo = grad.shape[-2:]
    xl = x.permute(0, 2, 3, 1).contiguous()   # no copy when x is channels-last already
    gl = grad.permute(0, 2, 3, 1).contiguous()
    if not (xl.is_contiguous() and gl.is_contiguous() and xl.device.type == gl.device.type == "cpu"):
        return None
    out = torch.empty(k, k, c, dtype=torch.float32)
    dll.dw_weight_grad(xl.data_ptr(), gl.data_ptr(), out.data_ptr(), n, h, w, c, ho, wo, k, stride,
                       k // 2, torch.get_num_threads())
    return out.permute(2, 0, 1).unsqueeze(1).contiguous()
