"""What a person sees: every command ends with a short summary holding its key figures
(no JSON dump, no traceback), and ``--json`` prints the full machine-readable record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nas.cli import main
from supernet import arch_cost, get_space

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory):
    """A real ridge predictor whose targets grow with an arch's size."""
    from predictors import create_predictor

    space = get_space("fmnist_small")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(200)]
    y = [60 + 2 * np.log(c.macs) for c in (arch_cost(space, a) for a in archs)]
    folder = tmp_path_factory.mktemp("predictor")
    create_predictor("ridge", space=space).fit(archs, np.array(y)).save(folder)
    return str(folder)


def test_search_prints_the_best_subnet_against_its_budget(tmp_path, predictor_dir, capsys):
    from supernet import ArchConfig

    argv = ["search", "--predictor", predictor_dir, "--table", "xeon-2c_t1", "--latency-max", "0.6",
            "--budget", "150"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    text = capsys.readouterr().out
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    best = ArchConfig.from_dict(summary["best"]["arch"])
    assert str(best) in text  # the compact arch string, r24[k5e6,...]
    assert "budget 0.600 ms" in text and f"{summary['best']['accuracy']:.2f} %" in text
    assert f"{arch_cost(get_space('fmnist_small'), best).macs:,} MACs" in text
    assert str(tmp_path / "a") in text and len(text.splitlines()) <= 25 and not text.lstrip().startswith("{")
    assert main([*argv, "--out", str(tmp_path / "b"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["best"]["arch"] == summary["best"]["arch"] and record["evaluated"] == summary["evaluated"]


def test_an_optuna_search_names_the_dashboard_command(tmp_path, predictor_dir, capsys):
    out = tmp_path / "o"
    assert main(["search", "--predictor", predictor_dir, "--objectives", "accuracy,macs", "--budget", "40",
                 "--strategy", "optuna-tpe", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    text = captured.out
    lines = [line for line in captured.err.splitlines() if line.startswith("search: ")]
    assert 1 <= len(lines) <= 11 and "40/40 arch (100 %)" in lines[-1]  # plain lines in a log, not a bar
    assert "optuna-dashboard" not in text and not (out / "optuna.db").exists()  # predictions: in memory
    assert "front:" in text and "macs (MACs)" in text
    assert "rank" in text and f"--front {out / 'front.csv'} --rank N" in text  # rows map to `export --rank`
    assert "accuracy (predicted)" in text and "feasible" not in text  # no constraint, no feasibility
    storage = f"sqlite:///{(tmp_path / 'study.db').resolve()}"  # a database when asked: resumable, viewable
    assert main(["search", "--predictor", predictor_dir, "--objectives", "accuracy,macs", "--budget", "10",
                 "--strategy", "optuna-tpe", "--storage", storage, "--out", str(tmp_path / "o2")]) == 0
    assert f"optuna-dashboard {storage}" in capsys.readouterr().out


def test_space_prints_stages_choices_and_cost_range(capsys):
    space = get_space("fmnist_small")
    assert main(["space", "fmnist_small"]) == 0
    text = capsys.readouterr().out
    assert f"{space.num_subnets:,} subnets" in text and space.hash in text
    assert str(space.smallest()) in text and str(space.largest()) in text
    assert f"{arch_cost(space, space.largest()).macs:,}" in text
    assert len(text.splitlines()) <= 25
    assert main(["space", "fmnist_small", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_subnets"] == space.num_subnets


def test_a_log_gets_plain_text_without_colour_codes(tmp_path):
    """Run as a subprocess writing to a pipe (a log, CI): no escape codes, no wrapping of the rows."""
    env = {**os.environ, "TERM": "xterm-256color"}
    done = subprocess.run([sys.executable, "-m", "nas", "latency", "list"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b[" not in done.stdout and "Traceback" not in done.stderr
    assert all(line == line.rstrip() for line in done.stdout.splitlines())  # no padding to the widest cell
    rows = [line for line in done.stdout.splitlines() if line.startswith("xeon-")]
    from latency_tables import list_tables

    assert [line.split()[0] for line in rows] == list_tables()  # one row per table, none wrapped
    assert all(line.split()[1] in ("fmnist_small", "ofa_mbv3") and line.endswith(("yes", "no"))
               for line in rows)


def test_show_recognises_each_artifact(tmp_path, predictor_dir, capsys):
    from latency_tables._shipped import TABLES_DIR
    from supernet import Subnet, export_onnx

    assert main(["search", "--predictor", predictor_dir, "--objectives", "accuracy,macs", "--budget", "40",
                 "--out", str(tmp_path / "s")]) == 0
    space = get_space("fmnist_small")
    bare = export_onnx(Subnet.build(space.layout(space.smallest())), tmp_path / "net.onnx", (1, 1, 20, 20))
    cases = {"pretrained:fmnist_small": ("supernet checkpoint", "mac_q50"),
             str(TABLES_DIR / "xeon-amx-2c_t1.csv"): ("latency table", "quantile 0.05"),
             str(ROOT / "predictors" / "pretrained" / "fmnist_small"): ("accuracy predictor", "gbt"),
             predictor_dir: ("accuracy predictor", "ridge"),
             str(tmp_path / "s"): ("search folder", "on the front"),
             str(bare): ("ONNX model", "tensor(float)")}
    capsys.readouterr()
    for path, (kind, detail) in cases.items():
        assert main(["show", path]) == 0, path
        text = capsys.readouterr().out
        assert text.startswith(kind) and detail in text, (path, text)
        assert main(["show", path, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["kind"].startswith(kind.lower().split()[0])
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["show", str(tmp_path / "notes.txt")]) == 2
    err = capsys.readouterr().err
    assert "not an artifact nas recognises" in err and "latency table" in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_terminal_gets_the_same_figures_styled():
    import fcntl
    import pty
    import struct
    import termios

    space = get_space("fmnist_small")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))  # 160 columns
    env = {**os.environ, "COLUMNS": "160", "LINES": "50"}
    done = subprocess.run([sys.executable, "-m", "nas.cli", "space", "fmnist_small"], cwd=ROOT, env=env,
                          stdout=follower, stderr=subprocess.PIPE, timeout=300)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: everything is read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    text = b"".join(chunks).decode()
    assert done.returncode == 0 and b"Traceback" not in done.stderr
    assert "\x1b[" in text and f"{space.num_subnets:,} subnets" in text and str(space.largest()) in text


def test_an_error_names_the_whole_command(tmp_path, capsys):
    report = str(tmp_path / "v.json")
    assert main(["latency", "validate", "--table", "no-such-table", "--report", report]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas latency validate: error: ") and "no-such-table" in err
    assert len(err.splitlines()) == 1
