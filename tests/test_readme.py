"""The README's quick start and Python API run as written (read from the file itself), so the
manual cannot drift from the code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block(section: str, language: str) -> str:
    """The first ``language`` code block under the ``## section`` heading."""
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {section}' section"
    code = re.search(rf"^```{language}\n(.*?)^```", match.group(1), re.M | re.S)
    assert code, f"README's '{section}' has no {language} block"
    return code.group(1)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_the_two_commands_lead_the_readme():
    first = README.split("\n```", 1)[0].splitlines()
    assert first[0] == "```bash" and "nas demo" in first[1] and "pytest" in first[2]
    assert (ROOT / ".ci" / "run").read_text().count("python3 -m pytest -q") == 1


@pytest.mark.slow
def test_quick_start_runs_as_written(tmp_path):
    assert shutil.which("nas"), "the `nas` command is not installed (bash install.sh)"
    script = block("Quick start", "bash")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((tmp_path / "runs/qs/model.json").read_text())
    assert card["test_acc"] >= 88 and (tmp_path / "runs/qs/model.onnx").stat().st_size > 0
    search = json.loads((tmp_path / "runs/qs/search/summary.json").read_text())
    assert search["latency_budget_ms"] == 0.5 and card["arch_str"] in done.stdout
    assert card["budget"]["latency_max_ms"] == 0.5 and "within budget" in done.stdout  # the search's budget


@pytest.mark.slow
def test_python_api_runs_as_written(tmp_path):
    done = subprocess.run([sys.executable, "-c", block("Python API", "python")], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 6 and all(" % " in line and line.endswith(" ms") for line in lines[:5])
    card = json.loads((tmp_path / "runs/api/model.json").read_text())
    assert lines[-1].split()[0] == card["arch_str"] and card["test_acc"] >= 88
