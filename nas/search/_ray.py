"""`RayBackend`: measured evaluations as Ray Tune trials, on a local Ray or a cluster; a
trial that fails is retried (Tune's ``FailureConfig``) and only a persistent failure turns
into a missing value (NaN: that arch is treated as infeasible), never a crashed search."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence

from supernet import ArchConfig
from supernet.core import Reaper, check, is_num, start_ray

__all__ = ["RayBackend"]

log = logging.getLogger(__name__)


def _trainable(fn: Callable[[ArchConfig], float]):
    from ray import tune

    def measure(config: dict) -> None:
        tune.report({"value": float(fn(ArchConfig.from_json(config["arch"])))})

    return measure


@contextlib.contextmanager
def _tune_quiet() -> Iterator[None]:
    """Tune's console off while it runs our trials: its reporter prints boxed tables and
    folder hints even at ``verbose=0`` (only its legacy reporter honours that), and logs each
    retried failure with a traceback. The search reports what matters: its own progress,
    and a warning for a value given up. ``nas --verbose`` keeps Tune's logs."""
    tune_log, saved = logging.getLogger("ray.tune"), os.environ.get("RAY_AIR_NEW_OUTPUT")
    level = tune_log.level
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    if not log.isEnabledFor(logging.DEBUG):
        tune_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        tune_log.setLevel(level)
        if saved is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = saved


class RayBackend:
    """Pass as ``backend=`` of a `nas.Measurement`: each batch of archs the search needs
    measured becomes one Ray Tune run with one trial per arch. ``address`` None starts a
    local Ray (``num_cpus``, no dashboard); ``"auto"`` or ``"ray://host:10001"`` joins a
    cluster. Each trial may fail ``max_failures`` times before its value is given up."""

    def __init__(self, *, address: str | None = None, num_cpus: int = 2, cpus_per_trial: float = 1,
                 max_failures: int = 2) -> None:
        own = "RayBackend"
        check(address is None or isinstance(address, str), f"{own}.address", address, "None or a str")
        check(isinstance(num_cpus, int) and num_cpus > 0, f"{own}.num_cpus", num_cpus, "a positive int")
        check(is_num(cpus_per_trial) and cpus_per_trial > 0, f"{own}.cpus_per_trial",
              cpus_per_trial, "a positive number")
        check(isinstance(max_failures, int) and max_failures >= 0, f"{own}.max_failures", max_failures,
              "an int >= 0")
        self.address, self.num_cpus = address, num_cpus
        self.cpus_per_trial, self.max_failures = cpus_per_trial, max_failures
        self.runs = 0
        self._reaper = Reaper()

    def start(self) -> None:
        start_ray(self.address, self.num_cpus, self._reaper)

    def map(self, fn: Callable[[ArchConfig], float], archs: Sequence[ArchConfig]) -> list[float]:
        """``fn(arch)`` for every arch as Ray Tune trials; NaN where a trial kept failing."""
        from ray import tune

        if not archs:
            return []
        self.start()
        keys = list(dict.fromkeys(a.to_json() for a in archs))
        storage = tempfile.mkdtemp(prefix="nas-ray-tune-")
        self.runs += 1
        try:
            tuner = tune.Tuner(
                tune.with_resources(_trainable(fn), {"cpu": self.cpus_per_trial}),
                param_space={"arch": tune.grid_search(keys)},
                run_config=tune.RunConfig(
                    name=f"measure-{self.runs}", storage_path=storage, verbose=0,
                    failure_config=tune.FailureConfig(max_failures=self.max_failures)),
            )
            with _tune_quiet():
                grid = tuner.fit()
            values: dict[str, float] = {}
            for result in grid:
                if result.error is None and result.metrics and "value" in result.metrics:
                    values[result.config["arch"]] = float(result.metrics["value"])
                else:
                    log.warning("Ray trial for %s failed %d+1 times; its value is missing: %s",
                                result.config.get("arch"), self.max_failures, result.error)
        finally:
            shutil.rmtree(storage, ignore_errors=True)
        return [values.get(a.to_json(), math.nan) for a in archs]

    def shutdown(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        self._reaper.stop()
