"""How we time a module: one runner per runtime, the process pinned to a core when timing
with one thread, every runner of a batch interleaved round by round, a low quantile of
many calls.

Interleaving spreads the machine's slow moments (another process, a frequency change)
evenly over everything measured in a batch, instead of letting them land on one entry.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from supernet import NASError, export_onnx, ort_session
from supernet.deploy import CPU_PROVIDER
from supernet.train import cpu_model

__all__ = ["RUNTIMES", "Protocol", "cpu_model", "default_device_name", "make_runner", "pinned",
           "runtime_version", "time_interleaved"]

RUNTIMES = ("ort", "torch")


@dataclass(frozen=True)
class Protocol:
    """Timing protocol: every runner first makes ``warmup`` untimed calls; then come
    ``rounds`` rounds, in each of which every runner, in a fresh random order, makes
    ``calls`` timed calls. The result per runner is the ``quantile`` of its timed calls.

    One call per visit (the default) times each model right after a *different* one, as a
    block runs inside a whole network: caches and branch predictors are not left warm by
    the previous call of the same tiny graph, which would flatter isolated blocks.

    The 5th percentile, not the median: what slows a call down (another process on the
    core or its sibling, an interrupt, a cache another program emptied) only ever adds time,
    so the low tail is what the model itself costs. Timed twice, 20 subnets of the small
    preset agreed to 1.5 % (mean gap) at the 5th percentile against 4.7 % at the median on
    the idle machine, and 1.5 % against 3.4 % beside a CPU-bound training run
    (README "How it measures"). Tables built before the protocol had a quantile used the
    median (`Protocol.recorded`).
    """

    rounds: int = 400
    calls: int = 1
    warmup: int = 10
    quantile: float = 0.05

    def __post_init__(self) -> None:
        for name in ("rounds", "calls"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise NASError(f"Protocol.{name}: got {value!r}, expected a positive integer")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise NASError(f"Protocol.warmup: got {self.warmup!r}, expected an integer >= 0")
        q = self.quantile
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1:
            raise NASError(f"Protocol.quantile: got {q!r}, expected a number in [0, 1] (0.5: the median)")

    @classmethod
    def recorded(cls, fields: dict) -> Protocol:
        """The protocol a table or bundle records (the median where none is recorded)."""
        return cls(**{"quantile": 0.5, **fields})

    def summary(self, calls: np.ndarray) -> float:
        """One runner's result from its timed calls (ms): their ``quantile``."""
        return float(np.quantile(np.asarray(calls, dtype=np.float64), self.quantile))


def default_device_name() -> str:
    """A short file-name-safe device name from the CPU model and core count: ``xeon-2c``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return device_name(cpu_model(), cores or 1)


def device_name(model: str, cores: int) -> str:
    """``xeon-2c`` for ``Intel(R) Xeon(R) Processor`` with 2 cores."""
    words = re.sub(r"\(r\)|\(tm\)|@.*$", " ", model.lower()).split()
    drop = {"intel", "amd", "cpu", "processor", "core", "with", "radeon", "graphics"}
    kept = [re.sub(r"[^a-z0-9.]+", "", w) for w in words if w not in drop][:2]
    return "-".join([w for w in kept if w] or ["cpu"]) + f"-{cores}c"


def runtime_version(runtime: str) -> str:
    if runtime == "ort":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    return f"torch {torch.__version__}"


@contextlib.contextmanager
def pinned(threads: int, core: int | None = None) -> Iterator[int | None]:
    """Pin this process to one core while timing with one thread (restored afterwards);
    with more threads, leave the affinity alone. Yields the core pinned to, or None."""
    if threads != 1 or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    core = max(before) if core is None else core
    if core not in before:
        raise NASError(f"pin core {core} is not one this process may use ({sorted(before)})")
    os.sched_setaffinity(0, {core})
    try:
        yield core
    finally:
        os.sched_setaffinity(0, before)


_EXPORTED: OrderedDict[Hashable, bytes] = OrderedDict()  # ONNX files of recent cache keys
_EXPORTED_BYTES = 256 * 2**20


def _onnx_file(module: nn.Module, path: Path, input_shape: tuple[int, ...], key: Hashable | None,
               quantize: Sequence[str] | bool | None = None) -> Path:
    """``module`` exported to ``path``; with a ``key`` (what defines the graph: space hash,
    arch, input shape), a file already exported in this process under that key is reused:
    the reference and filler subnets come back in every end-to-end timing. With
    ``quantize`` the file is the int8 model (`quantize_onnx`; True: every node, a precision
    per block: the blocks at fp32 left out), its activation ranges calibrated on random inputs (the ranges
    change the values, not the work)."""
    if key is not None and key in _EXPORTED:
        _EXPORTED.move_to_end(key)
        path.write_bytes(_EXPORTED[key])
        return path
    export_model(module, path, input_shape, quantize)
    if key is not None:
        _EXPORTED[key] = path.read_bytes()
        while sum(len(b) for b in _EXPORTED.values()) > _EXPORTED_BYTES:
            _EXPORTED.popitem(last=False)
    return path


def export_model(module: nn.Module, path: Path, input_shape: tuple[int, ...],
                 quantize: Sequence[str] | bool | None = None) -> Path:
    """``module`` as a fixed-shape ONNX model at ``path``, int8 with ``quantize`` (see
    `_onnx_file`): what every timing of this package runs."""
    export_onnx(module, path, input_shape, dynamic_batch=False, check=False)
    if quantize:
        from supernet.deploy import quantize_onnx

        fp32 = path.with_name(f"{path.stem}.fp32.onnx")
        os.replace(path, fp32)
        b = input_shape[0]  # the graph's fixed batch: whole batches of at least 8 inputs
        calib = np.random.default_rng(0).standard_normal((b * -(-8 // b), *input_shape[1:]))
        calib = calib.astype(np.float32)
        quantize_onnx(fp32, path, calib, block_precisions=None if quantize is True else quantize,
                      batch=input_shape[0])
        fp32.unlink()
    return path


def make_runner(runtime: str, module: nn.Module, input_shape: tuple[int, ...], *, threads: int,
                workdir: Path, name: str, sessions: int = 1, cache_key: Hashable | None = None,
                provider: str = CPU_PROVIDER,
                quantize: Sequence[str] | bool | None = None) -> Callable[[], object] | list:
    """A zero-argument callable running ``module`` once on a fixed random input: in ONNX
    Runtime (exported once to ``workdir/name.onnx``, fixed batch, int8 with ``quantize``;
    see `_onnx_file` for ``cache_key``) or in torch eager. With ``sessions`` > 1, a list
    of that many independent runners (one ORT session each)."""
    x = torch.randn(input_shape)
    if quantize and runtime != "ort":
        raise NASError(f"int8 models are timed in ONNX Runtime only (runtime 'ort'), not {runtime!r}")
    if runtime == "ort":
        path = _onnx_file(module, Path(workdir) / f"{name}.onnx", input_shape, cache_key, quantize)
        feed = {"input": x.numpy()}
        runners = [ort_session(path, threads, provider).run for _ in range(sessions)]
        runners = [lambda run=run: run(None, feed) for run in runners]
    elif runtime == "torch":
        module = module.eval()

        def run() -> object:
            with torch.inference_mode():
                return module(x)

        runners = [run] * sessions
    else:
        raise NASError(f"runtime: got {runtime!r}, expected one of {RUNTIMES}")
    return runners[0] if sessions == 1 else runners


def time_interleaved(runners: Mapping[Hashable, Callable[[], object]], protocol: Protocol, *,
                     rng: np.random.Generator | None = None, runtime: str = "ort",
                     threads: int = 1) -> dict[Hashable, np.ndarray]:
    """Per runner, its ``rounds * calls`` timed calls in milliseconds (see `Protocol`).
    The garbage collector is paused meanwhile."""
    rng = rng or np.random.default_rng(0)
    keys = list(runners)
    samples = {k: [] for k in keys}
    old_threads = torch.get_num_threads()
    if runtime == "torch":
        torch.set_num_threads(threads)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    clock = time.perf_counter_ns
    try:
        for k in keys:
            for _ in range(protocol.warmup):
                runners[k]()
        for _ in range(protocol.rounds):
            for i in rng.permutation(len(keys)):
                run, out = runners[keys[i]], samples[keys[i]]
                for _ in range(protocol.calls):
                    t0 = clock()
                    run()
                    out.append(clock() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
        torch.set_num_threads(old_threads)
    return {k: np.asarray(v, dtype=np.float64) / 1e6 for k, v in samples.items()}
