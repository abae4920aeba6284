"""Fault injection: each long stage is killed with SIGKILL at several points (as the OOM
killer or a lost node would), then run again with the same command. Every output must be
complete, with no row twice, no process left running and no temporary file left behind.
Add a stage by adding a `Stage`: its command, the files to watch, and when to kill."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from supernet.core import atomic_write_text
from supernet.core._io import _writer_tag, remove_stale_temps
from tests._train_helpers import PS_PHASES, write_config
from tests.predictors.test_predictors_collect import make_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Stage:
    name: str
    argv: Callable[[Path], list[str]]                 # the command, given a work folder
    kill_points: list[Callable[[Path], bool]]          # kill as soon as each is true
    check: Callable[[Path], None]                      # after the final, uninterrupted run


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _run_and_kill(argv: list[str], when: Callable[[set[int]], bool], timeout: float = 240) -> bool:
    """Start ``argv``; SIGKILL it (the main process only) once ``when(descendants)`` holds. Returns
    whether it was killed (False: it finished first). Fails if any of its child processes
    outlives it by more than 10 s."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start, kids = time.monotonic(), set()
    while proc.poll() is None and time.monotonic() - start < timeout:
        kids |= _children(proc.pid)
        if when(kids):
            kids |= _children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            deadline = time.monotonic() + 10
            while any(_alive(k) for k in kids) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = [k for k in kids if _alive(k)]
            for k in left:
                os.kill(k, signal.SIGKILL)
            assert not left, f"processes {left} outlived the killed {argv[3:5]}"
            return True
        time.sleep(0.05)
    assert proc.poll() is not None, f"{argv} did not finish in {timeout} s"
    return False


def _no_temps(folder: Path) -> None:
    temps = [p for p in folder.rglob(".*.tmp")]
    assert not temps, f"temporary files left behind: {temps}"


def _rows(path: Path) -> int:
    try:
        return len(pd.read_csv(path))
    except (OSError, pd.errors.EmptyDataError):
        return 0


def _pass_rows(work: Path) -> int:
    """Blocks in one pass of the latency build in ``work`` (from its metadata; large until written)."""
    try:
        return int(json.loads((work / "t.json").read_text())["num_blocks"])
    except (OSError, ValueError, KeyError):
        return 10**9


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


NAS = [sys.executable, "-m", "nas.cli"]


def _train_stage() -> Stage:
    def argv(work: Path) -> list[str]:
        cfg = work / "config.yaml"
        if not cfg.is_file():
            write_config(work, PS_PHASES, train={"max_steps_per_epoch": 4})
        return [*NAS, "train", "--config", str(cfg), "--out", str(work / "run"), "--resume", "--no-progress"]

    def check(work: Path) -> None:
        run = work / "run"
        lines = (run / "metrics.jsonl").read_text().splitlines()
        epochs = [json.loads(line)["global_epoch"] for line in lines]
        assert epochs == list(range(1, sum(p["epochs"] for p in PS_PHASES) + 1))  # each epoch once
        assert (run / "summary.json").is_file()
        _no_temps(run)

    return Stage("train", argv, [lambda w: (w / "run" / "supernet.pt").is_file(),
                                 lambda w: _lines(w / "run" / "metrics.jsonl") >= 3], check)


def _collect_stage() -> Stage:
    def argv(work: Path) -> list[str]:
        ckpt = work / "supernet0.pt"
        if not ckpt.is_file():
            make_checkpoint(work)
        return [*NAS, "collect", "--supernet", str(ckpt), "--num-archs", "40", "--workers", "2",
                "--calib-images", "32", "--out", str(work / "acc.csv"), "--no-progress"]

    def check(work: Path) -> None:
        table = pd.read_csv(work / "acc.csv")
        assert len(table) == 40 and table["arch"].is_unique and table["plan_index"].is_unique
        assert sorted(table["plan_index"]) == list(range(40))
        _no_temps(work)

    return Stage("collect", argv, [lambda w: _rows(w / "acc.csv") >= 4, lambda w: _rows(w / "acc.csv") >= 20],
                 check)


def _search_stage() -> Stage:
    def argv(work: Path) -> list[str]:
        return [*NAS, "search", "--objectives", "macs,params", "--strategy", "optuna-nsga2", "--population",
                "10", "--budget", "300", "--storage", f"sqlite:///{work / 'study.db'}", "--study-name", "s",
                "--out", str(work / f"out{len(list(work.glob('out*')))}")]

    def trials(work: Path) -> int:
        import sqlite3

        if not (work / "study.db").is_file():
            return 0
        try:
            with sqlite3.connect(work / "study.db", timeout=1) as db:
                return db.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
        except sqlite3.Error:
            return 0

    def check(work: Path) -> None:
        import optuna

        study = optuna.load_study(study_name="s", storage=f"sqlite:///{work / 'study.db'}")
        archs = [t.user_attrs["arch"] for t in study.trials if t.state.name == "COMPLETE"]
        assert len(set(archs)) >= 300
        summary = json.loads(sorted(work.glob("out*/summary.json"))[-1].read_text())
        assert summary["evaluated"] >= 300
        _no_temps(work)

    return Stage("search", argv, [lambda w: trials(w) >= 30, lambda w: trials(w) >= 150], check)


def _latency_stage() -> Stage:
    def argv(work: Path) -> list[str]:
        space = work / "space.yaml"
        if not space.is_file():
            write_config(work, PS_PHASES)
        return [*NAS, "latency", "build", "--space", str(space), "--device-name", "kill-test",
                "--rounds", "3", "--passes", "3", "--calibration-archs", "0", "--out", str(work / "t.csv"),
                "--resume", "--quiet"]

    def check(work: Path) -> None:
        from latency_tables import LatencyTable

        table = LatencyTable.load(work / "t.csv")
        assert table.meta["complete"] and not table.frame.duplicated(["kind", "resolution", "in_channels",
                                                                      "out_channels", "kernel", "stride",
                                                                      "mid_channels", "pass"]).any()
        _no_temps(work)

    # a chunk never spans two passes: three passes are three saved chunks, so each kill point
    # (after the first chunk, after the second) leaves work for the run after it
    return Stage("latency build", argv,
                 [lambda w: _rows(w / "t.csv") >= 1, lambda w: _rows(w / "t.csv") > _pass_rows(w)], check)


def _export_argv(work: Path) -> list[str]:
    ckpt = work / "supernet0.pt"
    if not ckpt.is_file():
        make_checkpoint(work)
    return [*NAS, "export", "--supernet", str(ckpt), "--arch", "largest", "--timing-rounds", "20",
            "--out", str(work / "m.onnx")]


def _export_stage() -> Stage:
    """Killed while the model is written but not yet checked, and while it is timed: never an
    unchecked model at --out, and the plain rerun finishes the export (no --force needed)."""

    def unchecked(work: Path) -> bool:
        if (work / ".m.partial.onnx").exists():
            assert not (work / "m.onnx").exists(), "an unchecked model stood at --out"
            return True
        return False

    def check(work: Path) -> None:
        card = json.loads((work / "m.json").read_text())
        assert card["parity_max_abs_diff"] < 1e-3 and (work / "m.onnx").is_file()
        assert not list(work.glob(".m*")), f"left behind: {list(work.glob('.m*'))}"

    return Stage("export", _export_argv, [unchecked, unchecked], check)


STAGES = [_train_stage(), _collect_stage(), _search_stage(), _latency_stage(), _export_stage()]


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_killed_at_several_points_then_finished(stage, tmp_path):
    for i, point in enumerate(stage.kill_points):
        killed = _run_and_kill(stage.argv(tmp_path), lambda _, p=point: p(tmp_path))
        assert killed, f"{stage.name} finished before kill point {i + 1}; make the stage longer"
    done = subprocess.run(stage.argv(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    stage.check(tmp_path)


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "supernet.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    host = _writer_tag().rsplit("-", 1)[0]
    stale = tmp_path / f".supernet.pt.{host}-{dead}.abc123.tmp"  # what SIGKILL during torch.save leaves
    live = tmp_path / f".supernet.pt.{host}-{os.getpid()}.def456.tmp"  # a writer still at work
    other = tmp_path / f".supernet.pt.otherhost-{dead}.ghi789.tmp"  # another machine's writer
    for f in (stale, live, other):
        f.write_bytes(b"half a checkpoint")
    atomic_write_text(target, "whole")
    assert target.read_text() == "whole" and not stale.exists() and live.exists() and other.exists()
    assert remove_stale_temps(target) == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.slow
def test_a_killed_search_takes_its_local_ray_with_it(tmp_path):
    """Ray's own helpers (raylet, GCS, agents, workers) outlive a SIGKILLed driver by a
    minute or more; the search's reaper removes every one within seconds."""
    import yaml

    from tests.predictors.test_predictors_collect import TINY

    ckpt = make_checkpoint(tmp_path)
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(dict(TINY)))
    argv = [*NAS, "search", "--space", str(tmp_path / "space.yaml"), "--measure-accuracy", str(ckpt),
            "--backend", "ray", "--budget", "200", "--batch-size", "4", "--out", str(tmp_path / "out")]
    up: list[float] = []

    def ray_running(kids: set[int]) -> bool:  # then 2 s more, for its workers to start
        lines = [_cmdline(k) for k in kids]
        if not up and any("raylet" in c for c in lines) and any("ray::" in c for c in lines):
            up.append(time.monotonic())
        return bool(up) and time.monotonic() - up[0] > 2

    assert _run_and_kill(argv, ray_running), "the search ended before its local Ray was up"


def test_the_reaper_kills_what_was_started_after_it_and_spares_the_rest():
    from supernet.core import Reaper

    older = subprocess.Popen(["sleep", "60"])  # the owner's process from before: spared
    reaper = Reaper()
    reaper.start()
    time.sleep(0.05)  # start times are in clock ticks
    newer = subprocess.Popen(["sleep", "60"])
    forked = os.fork()  # a forked child holds the pipe open: stop() must not wait for it
    if forked == 0:
        time.sleep(30)
        os._exit(0)
    try:
        time.sleep(1.5)  # the watcher notes the family once a second
        t0 = time.monotonic()
        reaper.stop()
        assert time.monotonic() - t0 < 10
        assert newer.wait(timeout=5) == -signal.SIGKILL
        assert older.poll() is None
    finally:
        older.kill()
        newer.kill()
        with contextlib.suppress(OSError):
            os.kill(forked, signal.SIGKILL)
        os.waitpid(forked, 0)


def test_two_exports_to_one_path_at_once_one_is_refused(tmp_path):
    """Started together, one export writes the model; the other is refused with one line
    (the output is being written, or it exists) and changes nothing."""
    argv = _export_argv(tmp_path)
    procs = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    refused = next(err for rc, err in results if rc == 2).strip().splitlines()[-1]
    assert "is being written by another process" in refused or "already exist" in refused, refused
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["onnx"] == str(tmp_path / "m.onnx") and not list(tmp_path.glob(".m*"))


def test_an_output_held_by_one_writer_is_refused_to_another(tmp_path):
    """The lock every writing stage holds (collect, latency build, fit-predictor, search,
    run, export): a second writer is refused at once; a killed writer's lock file tells the
    next one, which takes the output over."""
    from supernet.core import NASError, output_lock

    target = tmp_path / "acc.csv"
    with output_lock(target) as killed:
        assert not killed
        refused = r"acc.csv is being written by another process now \(pid \d+ on "
        with pytest.raises(NASError, match=refused), output_lock(target):
            pass
    assert not (tmp_path / ".acc.csv.lock").exists()
    (tmp_path / ".acc.csv.lock").write_text("pid 1 on elsewhere")  # what SIGKILL leaves behind
    with output_lock(target) as killed:
        assert killed
    assert not (tmp_path / ".acc.csv.lock").exists()
    (tmp_path / "link.csv").symlink_to(target)  # a symlink and its target are one output
    link = tmp_path / "link.csv"
    with output_lock(target), pytest.raises(NASError, match="being written"), output_lock(link):
        pass
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    with pytest.raises(NASError, match="a loop of symbolic links"), output_lock(tmp_path / "loop1"):
        pass
