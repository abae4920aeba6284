"""Which archs to measure: uniform samples of the space (what a search explores) plus
samples stratified across the size range, so small and large subnets, rare under uniform
sampling, are covered too."""

from __future__ import annotations

import numpy as np

from supernet import ArchConfig, NASError, SearchSpace, arch_cost, as_rng

__all__ = ["plan_archs", "size_tilted_sample"]


def size_tilted_sample(space: SearchSpace, rng: np.random.Generator) -> ArchConfig:
    """An arch whose choices lean together towards small or large values: one level
    ``u ~ U(0, 1)`` per arch, each choice index drawn around ``u`` times the last index."""
    u = rng.random()

    def pick(choices, size=None, per_position=None):
        """``size`` values of ``choices`` (or one of each of the ``per_position`` lists)."""
        jitter = np.ravel(rng.normal(0.0, 0.25, size=size))
        lists = per_position or [choices] * len(jitter)
        return [c[int(np.clip(np.floor((u + j) * len(c)), 0, len(c) - 1))] for c, j in zip(lists, jitter)]

    n, m = space.num_stages, space.max_depth
    slots = {key: np.array(pick(values, n * m), dtype=object).reshape(n, m).tolist()
             for key, values in space.block_choices.items()}
    resolution = pick(space.resolutions)[0]
    depths = pick(None, n, per_position=space.offered_depths())
    net = {key: [pick(allowed)[0] for allowed in positions] for key, positions in space.net_choices.items()}
    arch = space.make_arch(resolution, depths, slots, net=net)
    return arch.with_precision(space.draw_policy(rng))  # no draw at all in an fp32 space


def plan_archs(space: SearchSpace, num_archs: int, *, seed: int = 0, stratified_fraction: float = 0.25,
               bins: int = 10) -> list[tuple[ArchConfig, str]]:
    """``num_archs`` distinct ``(arch, source)`` pairs, the same for the same arguments.

    ``source`` is ``"uniform"`` (`SearchSpace.sample`) or ``"stratified"``: from a pool of
    size-tilted samples, an equal share per bin of log MACs between the smallest and the
    largest arch (the smallest and largest archs included). The order is shuffled, so a
    collection stopped early still holds both kinds in proportion."""
    if isinstance(num_archs, bool) or not isinstance(num_archs, int) or num_archs < 1:
        raise NASError(f"num_archs: expected a positive integer, got {num_archs!r}")
    if not 0.0 <= stratified_fraction <= 1.0:
        raise NASError(f"stratified_fraction: expected a number in [0, 1], got {stratified_fraction!r}")
    rng = as_rng(seed)
    n_strat = int(round(num_archs * stratified_fraction))
    seen: set[ArchConfig] = set()
    plan: list[tuple[ArchConfig, str]] = []

    def add(arch: ArchConfig, source: str) -> None:
        if arch not in seen:
            seen.add(arch)
            plan.append((arch, source))

    if n_strat:
        lo, hi = (np.log(arch_cost(space, a).macs) for a in (space.smallest(), space.largest()))
        pool = [size_tilted_sample(space, rng) for _ in range(max(20 * n_strat, 200))]
        logm = np.array([np.log(arch_cost(space, a).macs) for a in pool])
        which = np.clip(((logm - lo) / max(hi - lo, 1e-9) * bins).astype(int), 0, bins - 1)
        queues = [[a for a, b in zip(pool, which) if b == k] for k in range(bins)]
        for arch in (space.smallest(), space.largest()):
            add(arch, "stratified")
        while len(plan) < n_strat and any(queues):
            for queue in queues:
                if queue and len(plan) < n_strat:
                    add(queue.pop(0), "stratified")
    tries = 0
    while len(plan) < num_archs:
        add(space.sample(rng), "uniform")
        tries += 1
        if tries > 100 * num_archs:
            raise NASError(f"num_archs: the space has fewer than {num_archs} distinct archs to sample")
    order = rng.permutation(num_archs)  # any prefix of the plan mixes both sources
    return [plan[i] for i in order]
