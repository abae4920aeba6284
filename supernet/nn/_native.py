"""The C kernels (`_dw_grad.c`: depthwise weight gradients; `_fused.c`: batch norm fused
with its activation), compiled for this machine on first use into one library, and cached.

Compiled with the system's C compiler (``cc``, or ``$CC``) into
``$XDG_CACHE_HOME/ofa-nas`` (default ``~/.cache/ofa-nas``), keyed by the source, the
compiler and the CPU's instruction-set flags, so a cache shared between machines never
runs code built for another CPU. Without a compiler every caller falls back to a pure
torch path (slower, same values up to float rounding)."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

__all__ = ["dw_weight_grad", "bn_act_forward", "bn_act_backward", "ACTIVATIONS", "MAX_KERNEL",
           "channels_last_float", "fast_kernels", "fast_kernels_enabled", "kernels_available"]

log = logging.getLogger(__name__)
SOURCES = tuple(Path(__file__).parent / "csrc" / name for name in ("_dw_grad.c", "_fused.c"))
MAX_KERNEL = 15
_lib: dict[str, object] = {}
_fast = {"depthwise": True, "batch_norm": True}


@contextlib.contextmanager
def fast_kernels(enabled: bool, *, batch_norm: bool | None = None) -> Iterator[None]:
    """Turn the faster training paths (the depthwise backward of `supernet._conv`; batch norm
    fused with its activation, `supernet._fused`, unless ``batch_norm`` says otherwise) on or
    off inside the block: benchmarks compare them; results agree up to float rounding."""
    before = dict(_fast)
    _fast.update(depthwise=enabled, batch_norm=enabled if batch_norm is None else batch_norm)
    try:
        yield
    finally:
        _fast.update(before)


def fast_kernels_enabled(which: str) -> bool:
    """Whether the faster path ``which`` (``depthwise`` or ``batch_norm``) is on."""
    return _fast[which]


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):  # x86, ARM
                return line
    except OSError:
        pass
    return os.uname().machine


def _build() -> ctypes.CDLL | None:
    found = shutil.which("cc") or shutil.which("gcc")
    cc = shlex.split(os.environ.get("CC", "")) or ([found] if found else [])
    if not cc:
        log.warning("no C compiler found: depthwise weight gradients and batch norm use slower torch paths")
        return None
    flags = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags.insert(2, "-mprefer-vector-width=512")
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    sources = [src.read_text() for src in SOURCES]
    key = hashlib.sha256("\n".join([*sources, *cc, version, *flags, _cpu_flags()]).encode())
    try:
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory known
        home = Path(tempfile.gettempdir())
    cache = home / "ofa-nas"
    lib = cache / f"kernels_{key.hexdigest()[:16]}.so"
    if not lib.is_file():
        try:
            cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".kernels.", suffix=".so", dir=cache)
            os.close(fd)
            try:
                subprocess.run([*cc, *flags, *map(str, SOURCES), "-o", tmp, "-lm"], check=True,
                               capture_output=True, text=True, timeout=120)
                os.replace(tmp, lib)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except (OSError, subprocess.SubprocessError) as err:
            detail = getattr(err, "stderr", "") or err
            log.warning("could not compile %s (%s): the slower torch paths serve",
                        ", ".join(src.name for src in SOURCES), str(detail).strip()[:300])
            return None
    try:
        dll = ctypes.CDLL(str(lib))
    except OSError as err:
        log.warning("could not load %s (%s): using the slower torch path", lib, err)
        return None
    dll.dw_weight_grad.restype = ctypes.c_int
    dll.dw_weight_grad.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int] * 10
    dll.bn_act_forward.restype = dll.bn_act_backward.restype = ctypes.c_int
    dll.bn_act_forward.argtypes = ([ctypes.c_void_p] * 9 + [ctypes.c_long, ctypes.c_int, ctypes.c_float]
                                   + [ctypes.c_int] * 2)
    dll.bn_act_backward.argtypes = [ctypes.c_void_p] * 9 + [ctypes.c_long] + [ctypes.c_int] * 3
    return dll


def _kernel():
    if "dll" not in _lib:
        _lib["dll"] = _build()
    return _lib["dll"]


def kernels_available() -> bool:
    """Whether the compiled kernels load on this machine (compiling them on first call)."""
    return _kernel() is not None


def dw_weight_grad(x: torch.Tensor, grad: torch.Tensor, k: int, stride: int) -> torch.Tensor | None:
    """The ``(c, 1, k, k)`` weight gradient of a depthwise conv (padding ``k // 2``) with
    input ``x`` and output gradient ``grad`` (float32, CPU); None where the kernel cannot
    serve (no compiler, another dtype or a kernel over `MAX_KERNEL`)."""
    if (x.dtype != torch.float32 or grad.dtype != torch.float32 or k > MAX_KERNEL
            or x.device.type != "cpu" or grad.device.type != "cpu"):
        return None
    dll = _kernel()
    if dll is None:
        return None
    n, c, h, w = x.shape
    ho, wo = grad.shape[-2:]
    xl = x.permute(0, 2, 3, 1).contiguous()   # no copy when x is channels-last already
    gl = grad.permute(0, 2, 3, 1).contiguous()
    out = torch.empty(k, k, c, dtype=torch.float32)
    if dll.dw_weight_grad(xl.data_ptr(), gl.data_ptr(), out.data_ptr(), n, h, w, c, ho, wo, k, stride,
                          k // 2, torch.get_num_threads()):
        return None  # out of memory in the kernel: the torch path serves
    return out.permute(2, 0, 1).unsqueeze(1).contiguous()


ACTIVATIONS = {None: 0, "relu": 1, "hswish": 2}  # the activations `_fused.c` fuses


def channels_last_float(t: torch.Tensor) -> bool:
    """A float32 CPU tensor whose memory is an (n*h*w, c) matrix (channels-last 4-D): what
    `bn_act_forward` takes."""
    return (t.dtype == torch.float32 and t.device.type == "cpu" and t.dim() == 4
            and t.is_contiguous(memory_format=torch.channels_last))


def _call(fn, *args) -> None:
    code = fn(*args)
    if code == -1:
        raise MemoryError(f"{fn.__name__}: out of memory")
    if code:
        raise ValueError(f"{fn.__name__}: expected at least 2 values per channel and 1 channel")


def bn_act_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float,
                   act: str | None):
    """``act(batch_norm(x))`` with the batch's statistics, for a channels-last float32 ``x``:
    ``(y, stats)``, ``stats`` being ``(mean, invstd, biased_var, scale, shift)`` per channel
    (`bn_act_backward` takes them back). The caller checks that the kernels are available
    (`kernels_available`)."""
    if not (channels_last_float(x) and act in ACTIVATIONS):
        raise ValueError(f"bn_act_forward: expected a channels-last float32 CPU map and an activation "
                         f"of {list(ACTIVATIONS)}; got {x.dtype} {tuple(x.shape)} on {x.device}, {act!r}")
    dll = _kernel()
    n, c, h, w = x.shape
    gamma, beta = gamma.detach().float().contiguous(), beta.detach().float().contiguous()
    y = torch.empty_like(x, memory_format=torch.channels_last)
    stats = tuple(torch.empty(c, dtype=torch.float32) for _ in range(5))
    _call(dll.bn_act_forward, x.data_ptr(), y.data_ptr(), gamma.data_ptr(), beta.data_ptr(),
          *(t.data_ptr() for t in stats), n * h * w, c, eps, ACTIVATIONS[act], torch.get_num_threads())
    return y, stats


def bn_act_backward(x: torch.Tensor, grad: torch.Tensor, stats: tuple[torch.Tensor, ...], act: str | None):
    """The gradients ``(x, gamma, beta)`` of `bn_act_forward`'s output, given its output
    gradient ``grad`` (any layout: copied to channels-last when it is not) and the
    forward's ``stats``."""
    dll = _kernel()
    grad = grad.float().contiguous(memory_format=torch.channels_last)
    n, c, h, w = x.shape
    mean, invstd, _, scale, shift = stats
    grad_x = torch.empty_like(x, memory_format=torch.channels_last)
    grad_gamma, grad_beta = torch.empty(c, dtype=torch.float32), torch.empty(c, dtype=torch.float32)
    _call(dll.bn_act_backward, x.data_ptr(), grad.data_ptr(), grad_x.data_ptr(), scale.data_ptr(),
          shift.data_ptr(), mean.data_ptr(), invstd.data_ptr(), grad_gamma.data_ptr(), grad_beta.data_ptr(),
          n * h * w, c, ACTIVATIONS[act], torch.get_num_threads())
    return grad_x, grad_gamma, grad_beta
