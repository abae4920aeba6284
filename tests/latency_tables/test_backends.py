"""Runtimes are backends registered where they are defined: a user's backend builds a table
(blocks, overhead, reference and calibration subnets all run through it), int8 is refused
by a backend that cannot run it, and an unknown runtime is named with the known ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latency_tables import Backend, BuildConfig, Protocol, build_table, list_backends, register_backend
from latency_tables.backends import make_runner
from supernet import NASError
from tests.latency_tables.test_latency_tables import tiny_space

CALLS: list[str] = []


@register_backend
class CountingEager(Backend):
    """Torch eager that records which model each call ran."""

    name = "test-counting"

    def version(self) -> str:
        return "counting 1.0"

    def runners(self, module, x, *, threads, workdir, name, sessions, cache_key, provider, quantize):
        module = module.eval()

        def run() -> object:
            CALLS.append(name)
            with torch.inference_mode():
                return module(x)

        return [run] * sessions


def test_a_registered_backend_times_everything_a_build_times(tmp_path):
    assert {"ort", "torch", "test-counting"} <= set(list_backends())
    CALLS.clear()
    space = tiny_space(resolutions=(8,))
    config = BuildConfig(space=space, device="test-cpu", runtime="test-counting",
                         protocol=Protocol(rounds=2, calls=1, warmup=1), calibration_archs=2)
    table = build_table(config, tmp_path / "counting.csv", progress=False)
    assert table.meta["runtime"] == "test-counting" and table.meta["runtime_version"] == "counting 1.0"
    assert np.all(table.predict([space.smallest(), space.largest()]) > 0)
    kinds = {c.rstrip("0123456789") for c in CALLS}
    assert {"overhead", "ref", "b", "a"} <= kinds  # blocks, overhead, references, calibration subnets


def test_int8_needs_a_backend_that_runs_it_and_unknown_runtimes_are_named(tmp_path):
    conv = torch.nn.Conv2d(1, 4, 3)
    with pytest.raises(NASError, match=r"int8 models are timed in \[.*'ort'\] only, not in runtime 'test-co"):
        make_runner("test-counting", conv, (1, 1, 8, 8), threads=1, workdir=tmp_path, name="m", quantize=True)
    with pytest.raises(NASError, match=r"runtime: got 'tvm', expected one of \[.*'ort'.*'torch'"):
        make_runner("tvm", conv, (1, 1, 8, 8), threads=1, workdir=tmp_path, name="m")
    with pytest.raises(NASError, match="BuildConfig.runtime"):
        BuildConfig(space=tiny_space(), runtime="tvm")


def test_model_cache_keeps_a_held_group_past_its_bound(tmp_path):
    """A group prepared ahead of its timing stays until used, even when it alone exceeds the
    bound; once another group is held, the least recently used files go first."""
    from latency_tables.backends import ModelCache

    cache = ModelCache(max_bytes=250)
    for i in range(4):
        (tmp_path / f"m{i}").write_bytes(bytes(100))
    cache.hold(["a", "b", "c"])
    for key, i in (("a", 0), ("b", 1), ("c", 2)):
        cache.keep(key, tmp_path / f"m{i}")
    assert all(k in cache for k in "abc")  # 300 bytes held over a 250-byte bound
    cache.hold(["d"])
    cache.keep("d", tmp_path / "m3")
    assert "d" in cache and "a" not in cache and "b" not in cache and "c" in cache  # down to 200 bytes
    assert cache.restore("c", tmp_path / "back") and (tmp_path / "back").read_bytes() == bytes(100)
