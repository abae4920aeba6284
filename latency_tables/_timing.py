"""How we time: the process pinned to a core when timing with one thread, every runner of
a batch interleaved round by round, a low quantile of many calls (`Protocol`). The runners
themselves come from the runtimes' backends (`latency_tables.backends`).

Interleaving spreads the machine's slow moments (another process, a frequency change)
evenly over everything measured in a batch, instead of letting them land on one entry.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from supernet import NASError
from supernet.train import cpu_model

__all__ = ["Protocol", "cpu_model", "default_device_name", "device_name", "pinned", "time_interleaved"]


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
    (docs/results/latency.md). Tables built before the protocol had a quantile used the
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
    """A short file-name-safe name of this machine from its CPU model, widest vector ISA and
    core count: ``xeon-amx-2c``, ``epyc-avx2-2c`` (two machines that one model name covers,
    such as Xeons with and without AMX, time blocks differently and get different names)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return device_name(cpu_model(), cores or 1, isa=cpu_isa())


def cpu_isa() -> str:
    """The widest vector instruction set of this CPU that the runtimes use: ``amx``,
    ``avx512``, ``avx2``, ``neon``, or ``""`` when /proc/cpuinfo does not say."""
    with contextlib.suppress(OSError):
        line = re.search(r"^(?:flags|Features)\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        flags = set(line.group(1).split()) if line else set()
        for isa, flag in (("amx", "amx_tile"), ("avx512", "avx512f"), ("avx2", "avx2"), ("neon", "asimd")):
            if flag in flags:
                return isa
    return ""


def device_name(model: str, cores: int, isa: str = "") -> str:
    """``xeon-amx-2c`` for ``Intel(R) Xeon(R) Processor`` with AMX and 2 cores."""
    words = re.sub(r"\(r\)|\(tm\)|@.*$", " ", model.lower()).split()
    drop = {"intel", "amd", "cpu", "processor", "core", "with", "radeon", "graphics"}
    kept = [re.sub(r"[^a-z0-9.]+", "", w) for w in words if w not in drop][:2]
    return "-".join([w for w in kept if w] or ["cpu"]) + (f"-{isa}" if isa else "") + f"-{cores}c"


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
