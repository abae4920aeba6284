"""Whole subnets timed end to end exactly as a table's blocks were: beside the reference
subnets, in groups, with the table's runtime, threads, batch size and protocol."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latency_tables._calibration import reference_archs, reference_time, spread_archs
from latency_tables._shipped import reference_precisions
from latency_tables._timing import Protocol, pinned, time_interleaved
from latency_tables.backends import get_backend, make_runner
from supernet import ArchConfig, NASError, SearchSpace, Subnet
from supernet.deploy import CPU_PROVIDER

if TYPE_CHECKING:
    from latency_tables._table import LatencyTable

__all__ = ["Measured", "measure_archs", "measure_subnets"]


def measure_subnets(space: SearchSpace, archs: Sequence[ArchConfig], *, runtime: str, threads: int,
                    batch_size: int, protocol: Protocol, passes: int = 1, seed: int = 0,
                    group_size: int = 20, pin_core: int | None = None, provider: str = CPU_PROVIDER,
                    reference_precisions: Sequence[str] | None = None,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Latency (ms, the protocol's statistic) of each whole subnet and the reference time
    (`reference_archs` in ``reference_precisions``) beside it, both of shape
    ``(passes, len(archs))``. An arch with int8 parts is timed quantised (`ArchConfig.precision`).

    Subnets are timed in groups of ``group_size``, interleaved with each other and the
    reference: how many other models run between two calls of one changes how warm the
    caches are, so calibration and validation use the same group size. The groups are drawn
    at random (``seed``): archs listed by size or resolution, timed in groups of their own
    kind, would each run in company unlike the searched subnets' (small models leave the
    caches warmer than large ones). Within a group the passes run one after the other, each
    with its own sessions: independent measurements.
    """
    from supernet.core import progress as show_progress

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(archs))
    archs = [archs[i] for i in order]
    runs, refs = np.zeros((passes, len(archs))), np.zeros((passes, len(archs)))
    references = reference_archs(space, reference_precisions)
    with tempfile.TemporaryDirectory(prefix="nas-e2e-") as tmp, pinned(threads, pin_core), \
            show_progress(len(archs) * passes, "subnets", unit="timing", disable=not progress) as bar:
        for start in range(0, len(archs), group_size):
            group = [*archs[start:start + group_size], *references]
            models = []
            for arch in group:
                shape = (batch_size, space.in_channels, arch.resolution, arch.resolution)
                models.append((Subnet.build(space.layout(arch)), shape, (space.hash, arch.to_json(), shape),
                               tuple(space.block_precisions(arch)) if arch.quantized else None))
            get_backend(runtime).prepare(models)  # LiteRT: the group's conversions in parallel
            sessions = []
            for i, (module, shape, key, quantize) in enumerate(models):
                made = make_runner(runtime, module, shape, threads=threads, workdir=Path(tmp),
                                   name=f"a{start + i}", sessions=passes, cache_key=key, provider=provider,
                                   quantize=quantize)
                sessions.append(made if passes > 1 else [made])
            timed = len(group) - len(references)
            for p in range(passes):
                runners = {i: per_arch[p] for i, per_arch in enumerate(sessions)}
                times = time_interleaved(runners, protocol, rng=rng, runtime=runtime, threads=threads)
                runs[p, start:start + timed] = [protocol.summary(times[i]) for i in range(timed)]
                refs[p, start:start + timed] = reference_time([protocol.summary(times[i])
                                                               for i in range(timed, len(group))])
                bar.update(timed)
    back = np.argsort(order)  # in the order ``archs`` were given
    return runs[:, back], refs[:, back]


@dataclass(frozen=True)
class Measured:
    """End-to-end timings of subnets, each beside the reference subnets: ``raw_ms`` and
    ``reference_ms`` have shape ``(passes, archs)``; ``level_ms`` is the reference time
    when the table was calibrated (None for a table without calibration).

    ``ms`` is the protocol's measurement: each raw time scaled by ``level / reference timed
    beside it``, i.e. on the scale of the machine as it was during the build. The host's
    speed drifts by up to 30 % within a minute here, uniformly across the subnets timed
    together, and this cancels it; ``load_factor`` says how far the machine was from that
    state. Without a level, ``ms`` is the raw time."""

    raw_ms: np.ndarray
    reference_ms: np.ndarray
    level_ms: float | None

    @property
    def ms(self) -> np.ndarray:
        return self.raw_ms if self.level_ms is None else self.raw_ms * self.level_ms / self.reference_ms

    @property
    def load_factor(self) -> float | None:
        return None if self.level_ms is None else float(np.mean(self.reference_ms) / self.level_ms)


def measure_archs(table: LatencyTable, archs: Sequence[ArchConfig], *, passes: int = 1, seed: int = 0,
                  protocol: Protocol | None = None, rounds: int | None = None,
                  pin_core: int | None = None, progress: bool = False) -> Measured:
    """Time ``archs`` end to end as ``table`` was built and calibrated: same runtime,
    threads, batch size, protocol (unless given; ``rounds`` overrides its rounds) and group
    size, each group beside the reference subnets (see `Measured`). A group left short is
    filled with other subnets spread over the size range, timed and dropped, so that every
    subnet runs in the company it was calibrated in."""
    meta, calibration = table.meta, table.calibration or {}
    if meta.get("imported"):
        raise NASError(f"latency table {meta['device']!r} ({table.path}) was imported from timings made "
                       f"elsewhere ({meta['imported'].get('format')}): this machine cannot time subnets as "
                       "it was timed; time them on that device, or build a table here with "
                       "`nas latency build`")
    protocol = protocol or Protocol.recorded(meta["protocol"])
    if rounds is not None:
        protocol = replace(protocol, rounds=rounds)
    group = calibration.get("group_size", 20)
    short = -len(archs) % group  # spread_archs draws at least 2
    space = table.covered_space  # the build's references and resolutions
    fillers = spread_archs(space, max(short, 2), seed=7, exclude=set(archs))[:short]
    runs, refs = measure_subnets(space, [*archs, *fillers], runtime=meta["runtime"],
                                 threads=meta["threads"], batch_size=meta["batch_size"], passes=passes,
                                 seed=seed, protocol=protocol, pin_core=pin_core, group_size=group,
                                 provider=meta.get("provider", CPU_PROVIDER), progress=progress,
                                 reference_precisions=reference_precisions(table.meta))
    return Measured(runs[:, :len(archs)], refs[:, :len(archs)], calibration.get("reference_ms"))


