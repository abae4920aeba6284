"""Whole subnets, end to end: choosing archs that cover a space's size range, timing them
exactly as blocks are timed, and the linear calibration fitted on such timings."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from latency_tables._measure import Protocol, make_runner, pinned, time_interleaved
from supernet import ArchConfig, NASError, SearchSpace, Subnet, arch_cost

__all__ = ["fit_calibration", "measure_subnets", "reference_arch", "spread_archs"]


def spread_archs(space: SearchSpace, n: int, seed: int, *,
                 exclude: Collection[ArchConfig] = ()) -> list[ArchConfig]:
    """``n`` distinct random archs spread evenly over the MACs range: many are sampled,
    sorted by MACs and taken at evenly spaced ranks (smallest and largest included)."""
    if not isinstance(n, int) or n < 2:
        raise NASError(f"number of archs: got {n!r}, expected an integer >= 2")
    rng = np.random.default_rng(seed)
    pool = {space.smallest(), space.largest()} | {space.sample(rng) for _ in range(20 * n)}
    pool = sorted(set(pool) - set(exclude), key=lambda a: (arch_cost(space, a).macs, a.to_json()))
    if len(pool) < n:
        raise NASError(f"the space {space.name!r} has only {len(pool)} archs left to draw, "
                       f"{n} were asked for; ask for fewer")
    picks = np.unique(np.round(np.linspace(0, len(pool) - 1, n)).astype(int))
    return [pool[i] for i in picks]


def reference_arch(space: SearchSpace) -> ArchConfig:
    """The subnet timed next to everything a build or a validation measures, so that
    timings taken under different machine loads can be put on one scale."""
    return space.smallest()


def measure_subnets(space: SearchSpace, archs: Sequence[ArchConfig], *, runtime: str, threads: int,
                    batch_size: int, protocol: Protocol, passes: int = 1, seed: int = 0,
                    group_size: int = 20, pin_core: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median latency (ms) of each whole subnet and of the reference subnet timed beside
    it, both of shape ``(passes, len(archs))``.

    Subnets are timed in groups of ``group_size``, interleaved with each other and the
    reference: how many other models run between two calls of one changes how warm the
    caches are, so calibration and validation use the same group size. Within a group the
    passes run one after the other, each with its own sessions: independent measurements.
    """
    rng = np.random.default_rng(seed)
    runs, refs = np.zeros((passes, len(archs))), np.zeros((passes, len(archs)))
    with tempfile.TemporaryDirectory(prefix="nas-e2e-") as tmp, pinned(threads, pin_core):
        for start in range(0, len(archs), group_size):
            group = [*archs[start:start + group_size], reference_arch(space)]
            sessions = []
            for i, arch in enumerate(group):
                shape = (batch_size, space.in_channels, arch.resolution, arch.resolution)
                made = make_runner(runtime, Subnet.build(space.layout(arch)), shape, threads=threads,
                                   workdir=Path(tmp), name=f"a{start + i}", sessions=passes)
                sessions.append(made if passes > 1 else [made])
            for p in range(passes):
                runners = {i: per_arch[p] for i, per_arch in enumerate(sessions)}
                times = time_interleaved(runners, protocol, rng=rng, runtime=runtime, threads=threads)
                stop = start + len(group) - 1
                runs[p, start:stop] = [np.median(times[i]) for i in range(len(group) - 1)]
                refs[p, start:stop] = np.median(times[len(group) - 1])
    return runs, refs


def fit_calibration(predicted: np.ndarray, measured: np.ndarray) -> dict:
    """``measured ~ intercept_ms + slope * predicted``, least squares on relative error."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    design = np.stack([1.0 / measured, predicted / measured], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, np.ones_like(measured), rcond=None)
    fitted = intercept + slope * predicted
    return {"intercept_ms": float(intercept), "slope": float(slope),
            "fit_mape": float(np.mean(np.abs(fitted / measured - 1)) * 100)}
