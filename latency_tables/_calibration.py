"""The subnets timed beside everything measured (reference subnets and their reference
time), archs spread over a space's size range, and the linear calibration fitted on whole
subnets timed end to end. Below the table and the measurement, which both use it."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from supernet import ArchConfig, NASError, SearchSpace, arch_cost

__all__ = ["apply_calibration", "calibration_archs", "fit_calibration", "reference_archs", "reference_time",
           "spread_archs"]


def spread_archs(space: SearchSpace, n: int, seed: int, *, exclude: Collection[ArchConfig] = (),
                 resolution: int | None = None) -> list[ArchConfig]:
    """``n`` distinct random archs (at ``resolution`` only, when given) spread evenly over the
    MACs range: many are sampled, sorted by MACs and taken at evenly spaced ranks (the
    smallest and largest subnets included when no resolution is given)."""
    if not isinstance(n, int) or n < 2:
        raise NASError(f"number of archs: got {n!r}, expected an integer >= 2")
    rng = np.random.default_rng(seed)
    only = None if resolution is None else [resolution]
    pool = {space.sample(rng, restrict={"resolutions": only}) for _ in range(20 * n)}
    if resolution is None:
        pool |= {space.smallest(), space.largest()}
    pool = sorted(pool - set(exclude), key=lambda a: (arch_cost(space, a).macs, a.to_json()))
    if len(pool) < n:
        raise NASError(f"the space {space.name!r} has only {len(pool)} archs left to draw, "
                       f"{n} were asked for; ask for fewer")
    picks = np.unique(np.round(np.linspace(0, len(pool) - 1, n)).astype(int))
    return [pool[i] for i in picks]


def calibration_archs(space: SearchSpace, n: int, seed: int) -> list[ArchConfig]:
    """About ``n`` archs, the same number at every resolution (at least 2 each), each
    resolution's spread over its MACs range: the calibration fits one slope per resolution."""
    per = max(2, -(-n // len(space.resolutions)))
    return [a for r in space.resolutions for a in spread_archs(space, per, seed + r, resolution=r)]


def reference_archs(space: SearchSpace, precisions: Sequence[str] | None = None) -> list[ArchConfig]:
    """The subnets timed next to everything a build or a validation measures, so that
    timings taken under different machine loads can be put on one scale: the smallest and
    largest choices at the lowest and highest resolution (four subnets spanning the size
    range; the geometric mean of their times is the reference time, steadier than one), in
    each of ``precisions`` (default: those the space draws). An int8 table is scaled by
    int8 subnets: the machine's int8 and fp32 kernels do not slow down alike under load."""
    lo_r, hi_r = min(space.resolutions), max(space.resolutions)
    archs = [a for r in (lo_r, hi_r) for a in (space.smallest(r), space.largest(r))]
    return list(dict.fromkeys(a.with_precision(p) for p in (precisions or space.precisions) for a in archs))


def reference_time(times: Sequence[float]) -> float:
    """The reference time of one group: the geometric mean of the reference subnets' times."""
    return float(np.exp(np.mean(np.log(np.asarray(times, dtype=np.float64)))))


def fit_calibration(predicted: np.ndarray, measured: np.ndarray, resolutions: Sequence[int]) -> dict:
    """``measured ~ intercept_ms + slope[resolution] * predicted``, least squares on relative
    error: one slope per input resolution, because how much warmer a block runs alone than
    inside a network depends on the size of its activations. A fit with a negative
    intercept or slope (timings too noisy for it) would predict negative latencies for
    small subnets: then each resolution gets the median ratio instead, through zero."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    res = np.asarray(resolutions)
    levels = sorted(set(res.tolist()))
    columns = [np.where(res == r, predicted, 0.0) / measured for r in levels]
    design = np.stack([1.0 / measured, *columns], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.ones_like(measured), rcond=None)
    if coef[0] < 0 or np.any(coef[1:] <= 0):  # noisy timings: a fit that could go below zero
        coef = np.array([0.0, *[np.median(measured[res == r] / predicted[res == r]) for r in levels]])
    slopes = {str(r): float(c) for r, c in zip(levels, coef[1:])}
    fitted = apply_calibration({"intercept_ms": coef[0], "slopes": slopes}, predicted, res)
    return {"intercept_ms": float(coef[0]), "slopes": slopes,
            "fit_mape": float(np.mean(np.abs(fitted / measured - 1)) * 100)}


def apply_calibration(calibration: dict, predicted: np.ndarray, resolutions: Sequence[int]) -> np.ndarray:
    """The calibrated latency of archs whose plain block sums are ``predicted``."""
    slopes = calibration["slopes"]
    missing = {str(r) for r in resolutions} - set(slopes)
    if missing:
        raise NASError(f"the table's calibration has no slope for resolution(s) {sorted(missing)} "
                       f"(it has {sorted(slopes)}); rebuild the table with a calibration covering them")
    slope = np.array([slopes[str(r)] for r in resolutions], dtype=np.float64)
    return calibration["intercept_ms"] + slope * np.asarray(predicted, float)
