"""Latency tables for devices with only onnxruntime and numpy: a probe bundle timed by
probe_runner.py in a fresh virtual environment that holds nothing else (neither torch nor
this project), killed once and resumed, then imported into a table that matches a direct
build in shape and scale."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from latency_tables import BuildConfig, LatencyTable, Protocol, build_table, import_results, write_bundle
from nas.cli import main
from supernet import ArtifactMismatchError
from tests.latency_tables.test_latency_tables import tiny_space

PROTOCOL = Protocol(rounds=30, calls=1, warmup=2)


def _bare(python, *args, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.Popen([str(python), "-I", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_a_device_with_only_onnxruntime_profiles_a_bundle(bare_python, tmp_path, monkeypatch):
    for module in ("torch", "supernet", "latency_tables", "pandas"):
        probe = _bare(bare_python, "-c", f"import {module}")
        assert probe.wait(60) != 0, f"{module} is importable in the bare environment"

    space = tiny_space()
    config = BuildConfig(space=space, device="test-cpu", protocol=PROTOCOL, chunk_size=4, passes=2,
                         calibration_archs=2)
    bundle = write_bundle(config, tmp_path / "probe.zip")
    assert (tmp_path / "probe_runner.py").is_file()
    manifest_jobs = 10 + 1  # 18 blocks in chunks of 4, two passes; one calibration group

    results = tmp_path / "device" / "results.csv"
    results.parent.mkdir()
    cmd = [str(tmp_path / "probe_runner.py"), str(bundle), "--out", str(results)]
    first = _bare(bare_python, *cmd)
    deadline = time.monotonic() + 120
    while not (results.exists() and len(results.read_text().splitlines()) > 2):
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # killed after its first job
    first.wait(30)
    second = _bare(bare_python, *cmd)
    log = second.communicate(timeout=300)[0]
    assert second.returncode == 0, log
    assert "jobs already done" in log and "job 11/11 done" in log
    lines = results.read_text().splitlines()[1:]
    jobs = [line.split(",")[1] for line in lines]
    assert jobs.count("device") == 1 and len(set(jobs) - {"device"}) == manifest_jobs

    table = import_results(results, bundle, tmp_path / "dev.csv", device="bare-device")
    direct = build_table(config, tmp_path / "direct.csv", progress=False)
    assert table.meta["device"] == "bare-device" and table.meta["probe"]["device"]["onnxruntime"]
    assert table.num_blocks == direct.num_blocks and len(table.frame) == len(direct.frame)
    assert sorted(table.frame.columns) == sorted(direct.frame.columns)
    archs = [space.smallest(8), space.largest(8), space.smallest(12), space.largest(12)]
    ratio = table.predict(archs) / direct.predict(archs)
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio  # the same machine: the same scale
    assert table.calibration["num_archs"] == direct.calibration["num_archs"]
    assert table.calibration["groups"] == direct.calibration["groups"] == "random"  # timed as a build times

    capsys_out = tmp_path / "cli.csv"
    assert main(["latency", "import", str(results), "--bundle", str(bundle), "--out", str(capsys_out)]) == 0
    assert LatencyTable.load(capsys_out).num_blocks == table.num_blocks
    assert main(["latency", "import", str(results), "--bundle", str(bundle), "--out", str(capsys_out)]) == 2

    other = write_bundle(BuildConfig(space=space, protocol=PROTOCOL, passes=1, calibration_archs=0),
                         tmp_path / "other" / "probe.zip")
    with pytest.raises(ArtifactMismatchError, match="results of bundle .* not of this bundle"):
        import_results(results, other, tmp_path / "x.csv")
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(results.read_text().splitlines()[:4]) + "\n")
    with pytest.raises(ArtifactMismatchError, match="run probe_runner.py again"):
        import_results(partial, bundle, tmp_path / "y.csv")
    cut = tmp_path / "cut.csv"  # the last 40 bytes lost in a copy: cut off, not "another bundle"
    cut.write_bytes(results.read_bytes()[:-40])
    with pytest.raises(ArtifactMismatchError, match=rf"row {len(lines)} is incomplete; the file was cut off"):
        import_results(cut, bundle, tmp_path / "z.csv")
    # with no --out the table is named after its device, as a build names it
    monkeypatch.chdir(tmp_path)
    default = import_results(results, bundle, device="bare-device")
    assert Path(default.path).resolve() == tmp_path / f"bare-device_t{config.threads}.csv"
    meta = json.loads((tmp_path / "dev.json").read_text())
    assert meta["complete"] and meta["space_hash"] == space.hash
