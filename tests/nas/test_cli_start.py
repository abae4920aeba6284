"""The commands a person browses with answer without importing torch, pandas, onnxruntime,
optuna or ray (what makes them start in a fraction of a second: experiments/bench_cli_start.py;
`nas show` reads a checkpoint without torch and a table from its metadata), and the package
faces still give every name they list."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "pandas", "onnxruntime", "optuna", "ray", "sklearn", "matplotlib")


TABLE = str(ROOT / "latency_tables" / "tables" / "xeon-amx-2c_t1.csv")


@pytest.mark.parametrize(("argv", "allowed"), [
    (["--version"], ()), (["--help"], ()), (["search", "--help"], ()), (["export", "--help"], ()),
    (["latency", "list"], ()), (["latency", "list", "--json"], ()), (["space", "fmnist_small"], ()),
    (["space", "ofa_resnet50", "--json"], ()), (["show", TABLE], ()),
    (["show", "pretrained:fmnist_small"], ()),
])
def test_browsing_commands_import_nothing_heavy(argv, allowed):
    heavy = tuple(m for m in HEAVY if m not in allowed)
    code = (f"import sys\nfrom nas.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit as e:\n"
            f"    assert not e.code, e.code\nprint(sorted(m for m in {heavy!r} if m in sys.modules))")
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


def _parsers(parser, path=()):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def test_every_command_describes_itself_and_every_option_its_default():
    import argparse

    from nas.cli import build_parser

    for path, parser in _parsers(build_parser()):
        if path:
            assert parser.description or parser.format_usage(), path
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or action.dest == "help":
                continue
            assert action.help, f"nas {' '.join(path)} {action.option_strings[0]} has no help"
            text = parser._get_formatter()._get_help_string(action)
            if action.default not in (None, False, [], argparse.SUPPRESS):
                assert "default" in text.lower(), f"nas {' '.join(path)} {action.option_strings[0]}"
            if action.dest == "out":  # one rule: every command that writes has --out, with a default it names
                assert not action.required and "default" in text.lower(), f"nas {' '.join(path)} --out"


def test_old_option_spellings_work_for_one_release_with_a_warning(tmp_path, capsys):
    from nas.cli import main

    out = tmp_path / "s"
    assert main(["search", "--device", "xeon-amx-2c_t1", "--objectives", "latency,macs", "--budget", "20",
                 "--quiet", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "--device is deprecated" in err and "use --table" in err
    assert '"table": "xeon-amx-2c_t1"' in (out / "summary.json").read_text()
    from nas import SearchConfig

    assert SearchConfig(device="xeon-amx-2c_t1").table == "xeon-amx-2c_t1"  # the Python name too


@pytest.mark.parametrize(("rank", "level"), [("0", 20), ("1", 30)])
def test_under_torchrun_only_rank_0_logs(rank, level):
    import os

    code = ("import logging\nfrom nas.cli import main\nmain(['space', 'fmnist_small', '--json'])\n"
            "print(logging.getLogger().level)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RANK": rank})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(level)


def test_a_face_name_wins_over_its_subpackage():
    code = ("import supernet.train\nimport supernet\nassert callable(supernet.train), supernet.train\n"
            "from supernet import train\nprint(train.__module__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "supernet.train._trainer", done.stderr[-2000:]
