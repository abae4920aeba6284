"""The commands a person browses with answer without importing torch, pandas, onnxruntime,
optuna or ray (what makes them start in a fraction of a second: experiments/bench_cli_start.py),
and the package faces still give every name they list."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "pandas", "onnxruntime", "optuna", "ray", "sklearn", "matplotlib")


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["search", "--help"], ["export", "--help"],
                                  ["latency", "list"], ["latency", "list", "--json"]])
def test_browsing_commands_import_nothing_heavy(argv):
    code = (f"import sys\nfrom nas.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit as e:\n"
            f"    assert not e.code, e.code\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", f"nas {' '.join(argv)} imported {done.stdout[-200:]}"


@pytest.mark.parametrize("package", ["supernet", "latency_tables", "predictors", "nas"])
def test_every_name_of_a_face_resolves(package):
    face = importlib.import_module(package)
    for name in face.__all__:
        assert getattr(face, name) is not None, f"{package}.{name}"
    assert set(face.__all__) <= set(dir(face))
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        face.not_a_name  # noqa: B018
