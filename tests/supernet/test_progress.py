"""Progress where it runs: a live bar on a terminal, a few plain lines in a log."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from supernet.core import progress

ROOT = Path(__file__).resolve().parents[2]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_tenth_with_rate_and_time_left():
    log = io.StringIO()
    with progress(1000, "collect", unit="arch", stream=log) as bar:
        for _ in range(1000):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in log.getvalue()
    assert lines[0].startswith("collect: 100/1000 arch (10 %), ")
    assert "arch/s" in lines[0] and "left" in lines[0]
    assert lines[-1].startswith("collect: 1000/1000 arch (100 %)")
    assert all("arch/s" in line and "e+" not in line for line in lines)  # one unit, plain numbers


def test_the_rate_keeps_its_form_when_the_speed_changes(monkeypatch):
    import supernet.core._progress as module

    clock = iter([0.0, 0.5, 1.0, 10.0, 30.0, 31.0])  # fast first, then slower than a step a second
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    log = io.StringIO()
    bar = progress(5, "fine-tune", unit="step", stream=log, every_pct=20)
    for _ in range(5):
        bar.update(1)
    lines = log.getvalue().splitlines()
    assert len(lines) == 5 and all("step/s" in line and "s/step" not in line for line in lines), lines


def test_a_terminal_gets_a_live_bar_and_disable_gets_nothing():
    tty, off = _Terminal(), io.StringIO()
    bar = progress(50, "build", stream=tty)
    for _ in range(50):
        bar.update(1)
    bar.close()
    assert "\r" in tty.getvalue() and "50/50" in tty.getvalue()
    quiet = progress(50, "build", stream=off, disable=True)
    quiet.update(50)
    quiet.close()
    assert off.getvalue() == ""


def test_a_latency_build_logged_to_a_file_stays_short(tmp_path):
    import yaml

    from tests._train_helpers import TINY_SPACE

    (tmp_path / "space.yaml").write_text(yaml.safe_dump(TINY_SPACE))
    argv = [sys.executable, "-m", "nas.cli", "latency", "build", "--space", str(tmp_path / "space.yaml"),
            "--rounds", "2", "--passes", "2", "--calibration-archs", "0", "--device-name", "log-test",
            "--out", str(tmp_path / "t.csv")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    progress_lines = [ln for ln in done.stderr.splitlines() if ln.startswith("log-test t1:")]
    assert 1 <= len(progress_lines) <= 11 and "\r" not in done.stderr
