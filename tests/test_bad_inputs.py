"""Bad input, command by command and artifact by artifact: every case must end in a clear
one-line error (exit code 2) that names the problem, no traceback, and no user file
changed. Add a case by adding a row: ``(id, make, fragment)`` where ``make(world, tmp)``
returns the ``nas`` arguments (and may write the bad file first)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from latency_tables import BuildConfig, Protocol, build_table
from nas.cli import main
from predictors import CollectConfig, FitConfig, collect, fit_predictors
from tests.predictors.test_predictors_collect import TINY, make_checkpoint

FAST = Protocol(rounds=3, calls=1, warmup=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Real artifacts of a tiny space: checkpoint, latency table, accuracy table, predictor."""
    root = tmp_path_factory.mktemp("world")
    ckpt = make_checkpoint(root)
    space_file = root / "space.json"
    space_file.write_text(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}))
    table = root / "tiny_t1.csv"
    build_table(BuildConfig(space=str(space_file), device="tiny", protocol=FAST, passes=1,
                            calibration_archs=0), table, progress=False)
    acc = root / "acc.csv"
    collect(CollectConfig(supernet=str(ckpt), out=str(acc), num_archs=24, calib_images=32), progress=False)
    fit_predictors(FitConfig(data=str(acc), out=str(root / "pred"), models=("ridge",)))
    arch = json.loads(pd.read_csv(acc)["arch"][0])
    return {"root": root, "ckpt": ckpt, "space": space_file, "table": table, "acc": acc,
            "pred": root / "pred", "arch": arch}


def _copy_table(world, tmp, edit) -> Path:
    """The world's latency table copied into ``tmp`` with ``edit(frame, meta)`` applied (in
    place, or the frame it returns)."""
    frame = pd.read_csv(world["table"])
    meta = json.loads(world["table"].with_suffix(".json").read_text())
    edited = edit(frame, meta)
    frame = frame if edited is None else edited
    out = tmp / "bad_t1.csv"
    frame.to_csv(out, index=False)
    out.with_suffix(".json").write_text(json.dumps(meta))
    return out


def _copy_acc(world, tmp, edit) -> Path:
    frame = pd.read_csv(world["acc"], dtype={"arch": str, "encoding": str, "source": str})
    frame = edit(frame) if callable(edit) else frame
    out = tmp / "bad_acc.csv"
    frame.to_csv(out, index=False)
    Path(f"{out}.meta.json").write_text(Path(f"{world['acc']}.meta.json").read_text())
    return out


def _bad_ckpt(world, tmp) -> Path:
    import torch

    from supernet import load_checkpoint, save_checkpoint

    payload = load_checkpoint(world["ckpt"])
    payload["model"]["stem.conv.weight"] = torch.zeros(1)
    del payload["model"]["head.classifier.bias"]
    return save_checkpoint(tmp / "bad.pt", payload)


def _search(world, tmp, *extra):
    return ["search", "--space", str(world["space"]), "--predictor", str(world["pred"]),
            "--budget", "20", "--out", str(tmp / "s"), *extra]


def _yaml(tmp, text: str, name: str = "cfg.yaml") -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


def _set(frame, column, row, value):
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi"))

CASES = [
    # --- configs
    ("train: missing config", lambda w, t: ["train", "--config", str(t / "no.yaml"), "--out", str(t / "r")],
     "does not exist"),
    ("train: not YAML", lambda w, t: ["train", "--config", _yaml(t, "phases: [\n"), "--out", str(t / "r")],
     "not valid YAML"),
    ("train: YAML bomb", lambda w, t: ["train", "--config", _yaml(t, BOMB), "--out", str(t / "r")],
     "expands to more than"),
    ("train: unknown key", lambda w, t: ["train", "--config", _yaml(t, "phases: [{name: a, epochs: 1, lr: 0.1}]\n"
                                                                    "colour: red\n"), "--out", str(t / "r")],
     "unknown key"),
    ("train: negative lr", lambda w, t: ["train", "--config", _yaml(t, "phases: [{name: a, epochs: 1, lr: -1}]\n"),
                                         "--out", str(t / "r")], "lr: got -1"),
    ("train: huge value is cut", lambda w, t: ["train", "--config", _yaml(t, "phases: [{name: a, epochs: 1, lr: " + "x" * 5000 + "}]\n"), "--out", str(t / "r")], "(5002 characters)"),
    ("train: 5000-digit number", lambda w, t: ["train", "--config", _yaml(t, "phases: [{name: a, epochs: 1, lr: " + "9" * 5000 + "}]\n"), "--out", str(t / "r")], "not valid YAML"),
    ("run: experiment bad key", lambda w, t: ["run", "--config", _yaml(t, "serch: {}\n"), "--out", str(t / "r")],
     "experiment: got ['serch']"),
    ("demo: --set of an unknown key", lambda w, t: ["demo", "--set", "serch.budget=3", "--out", str(t / "d")],
     "experiment: got ['serch']"),
    ("train: --set without a value", lambda w, t: ["train", "--config", _yaml(t, "phases: [{name: a, epochs: 1, "
     "lr: 0.1}]\n"), "--set", "train.batch_size", "--out", str(t / "r")], "expected KEY=VALUE"),
    ("space: bad preset", lambda w, t: ["space", "nope"], "unknown search space 'nope'"),
    ("space: file of wrong fields", lambda w, t: ["space", _yaml(t, "name: x\n", "s.yaml")], "SearchSpace"),
    # --- checkpoints
    ("collect: no checkpoint", lambda w, t: ["collect", "--supernet", str(t / "none.pt"), "--out", str(t / "a.csv")],
     "does not exist"),
    ("collect: not a checkpoint", lambda w, t: ["collect", "--supernet", _yaml(t, "x", "junk.pt"),
                                                "--out", str(t / "a.csv")], "not a readable checkpoint"),
    ("export: weights of the wrong shape", lambda w, t: ["export", "--supernet", str(_bad_ckpt(w, t)), "--arch", json.dumps(w["arch"]), "--out", str(t / "m.onnx")], "stem.conv.weight of shape (1,)"),
    ("export: unknown pretrained", lambda w, t: ["export", "--supernet", "pretrained:nope", "--arch",
                                                 json.dumps(w["arch"]), "--out", str(t / "m.onnx")],
     "no pretrained supernet 'nope'"),
    # --- archs
    ("export: malformed inline arch", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--arch", "{bad json",
                                                    "--out", str(t / "m.onnx")], "--arch: not valid JSON"),
    ("export: malformed arch string", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--arch", "r12[k3x6]",
                                                    "--out", str(t / "m.onnx")], "block 'k3x6'"),
    ("export: negative depth", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--arch",
                                             json.dumps({**w["arch"], "depths": [-1, 2]}),
                                             "--out", str(t / "m.onnx")], "positive number of blocks"),
    ("export: arch of another space", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--arch",
                                                    json.dumps({**w["arch"], "resolution": 99}),
                                                    "--out", str(t / "m.onnx")], "resolution"),
    # --- latency tables
    ("search: NaN latency", lambda w, t: _search(w, t, "--table", str(_copy_table(
        w, t, lambda f, m: _set(f, "latency_ms", 2, float("nan")))), "--latency-max", "1"),
     "column 'latency_ms', row 3"),
    ("search: negative latency", lambda w, t: _search(w, t, "--table", str(_copy_table(
        w, t, lambda f, m: _set(f, "latency_ms", 0, -0.85))), "--latency-max", "1"), "got -0.85"),
    ("search: non-numeric latency", lambda w, t: _search(w, t, "--table", str(_copy_table(
        w, t, lambda f, m: _set(f, "latency_ms", 1, "fast"))), "--latency-max", "1"), "got 'fast'"),
    ("search: table metadata not JSON", lambda w, t: _search(w, t, "--table", str(_copy_table(
        w, t, lambda f, m: m.clear())), "--latency-max", "1"), "format"),
    ("search: a table row twice", lambda w, t: _search(w, t, "--table", str(_copy_table(
        w, t, lambda f, m: f.iloc.__setitem__(1, f.iloc[0]))),
        "--latency-max", "1"), "row 2 repeats an earlier row's"),
    ("search: a table missing rows", lambda w, t: _search(w, t, "--table", str(_copy_table(
        w, t, lambda f, m: f.iloc[:-5])), "--latency-max", "1"), "its metadata"),
    ("search: an accuracy table as the table", lambda w, t: _search(w, t, "--table", str(w["acc"]), "--latency-max",
                                                                     "1"), "an accuracy table of `nas collect`"),
    ("export: a supernet as --weights", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--weights",
        str(w["ckpt"]), "--out", str(t / "m.onnx")], "a supernet checkpoint, not a fine-tuned subnet"),
    ("search: missing table", lambda w, t: _search(w, t, "--table", str(t / "none.csv"), "--latency-max", "1"),
     "does not exist"),
    ("show: not an artifact", lambda w, t: ["show", _yaml(t, "{}", "notes.json")], "not an artifact"),
    ("show: missing", lambda w, t: ["show", str(t / "none.pt")], "does not exist"),
    ("validate: report exists", lambda w, t: ["latency", "validate", "--table", str(w["table"]), "--report",
                                              _yaml(t, "{}", "mine.json")], "already exist"),
    # --- accuracy tables
    ("fit: accuracy 250 %", lambda w, t: ["fit-predictor", "--data", str(_copy_acc(
        w, t, lambda f: f.assign(accuracy=np.where(f.index == 4, 250.0, f["accuracy"])))), "--out", str(t / "p")],
     "column 'accuracy', row 5: got 250.0, expected a finite number >= 0 and <= 100"),
    ("fit: accuracy -40 %", lambda w, t: ["fit-predictor", "--data", str(_copy_acc(
        w, t, lambda f: f.assign(accuracy_a=-40.0))), "--out", str(t / "p")], "column 'accuracy_a'"),
    ("fit: repeated rows", lambda w, t: ["fit-predictor", "--data", str(_copy_acc(
        w, t, lambda f: pd.concat([f, f.iloc[:3]]))), "--out", str(t / "p")], "repeats an earlier row"),
    ("fit: broken arch string", lambda w, t: ["fit-predictor", "--data", str(_copy_acc(
        w, t, lambda f: f.assign(arch=f["arch"].where(f.index != 2, '{"oops"')))), "--out", str(t / "p")],
     "row 3, column 'arch'"),
    ("fit: too few rows", lambda w, t: ["fit-predictor", "--data", str(_copy_acc(w, t, lambda f: f.iloc[:3])),
                                        "--out", str(t / "p")], "too few to fit"),
    ("fit: output exists", lambda w, t: ["fit-predictor", "--data", str(w["acc"]), "--out", str(w["pred"])],
     "already exist"),
    ("collect: another seed", lambda w, t: ["collect", "--supernet", str(w["ckpt"]), "--num-archs", "24",
                                            "--calib-images", "32", "--seed", "5", "--out", str(w["acc"])],
     "seed=0; this run has seed=5"),
    # --- predictors
    ("search: predictor of another supernet", lambda w, t: [
        "export", "--supernet", str(make_checkpoint(t, seed=3)), "--arch", json.dumps(w["arch"]),
        "--predictor", str(w["pred"]), "--out", str(t / "m.onnx")], "fitted on accuracies of supernet"),
    ("search: predictor folder empty", lambda w, t: _search(w, t)[:4] + [str(t)] + _search(w, t)[5:],
     "no saved predictor"),
    # --- search options
    ("search: unknown storage scheme", lambda w, t: _search(w, t, "--strategy", "optuna-tpe", "--storage",
                                                            "foo://bar"), "--storage"),
    ("search: output in an unwritable place", lambda w, t: _search(w, t)[:-1] + [str(w["acc"]) + "/s"],
     "is a file, not a folder"),
    ("train: output under a file", lambda w, t: ["train", "--config", _yaml(t, "phases: [{name: a, epochs: 1, lr: 0.1}]\n"), "--out", str(w["acc"]) + "/run"], "is a file, not a folder"),
    ("latency build: output under a file", lambda w, t: ["latency", "build", "--space", str(w["space"]), "--out", str(w["acc"]) + "/t.csv"], "is a file, not a folder"),
    ("latency build: an OpenVINO device this machine lacks", lambda w, t: ["latency", "build", "--space", str(w["space"]), "--runtime", "openvino", "--ov-device", "GPU.7", "--out", str(t / "t.csv")], "OpenVINO device 'GPU.7' is not on this machine"),
    ("latency build: LiteRT with mixed precision", lambda w, t: ["latency", "build", "--space", str(w["space"]), "--runtime", "litert", "--precision", "mixed", "--out", str(t / "t.csv")], "LiteRT times fp32 or all-int8 models"),
    ("latency import-ofa-lut: a folder without MIT's tables", lambda w, t: ["latency", "import-ofa-lut", str(t), "--out", str(t / "n.csv")], "holds no RES_lookup_table.yaml"),
    ("export: a table of another runtime", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--arch", json.dumps(w["arch"]), "--table", str(w["table"]), "--runtime", "openvino", "--out", str(t / "m.onnx")], "was timed in ort"),
    ("export: execution provider not in onnxruntime", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--arch", json.dumps(w["arch"]), "--provider", "NoSuchExecutionProvider", "--out", str(t / "m.onnx")], "'NoSuchExecutionProvider' is not in this onnxruntime"),
    ("import-ofa: missing checkpoint", lambda w, t: ["import-ofa", "--checkpoint", str(t / "none.pth"), "--out", str(t / "s.pt")], "does not exist"),
    ("import-ofa: our own checkpoint", lambda w, t: ["import-ofa", "--checkpoint", str(w["ckpt"]), "--out", str(t / "s.pt")], "not one of MIT's once-for-all supernets"),
    ("finetune: missing checkpoint", lambda w, t: ["finetune", "--supernet", str(t / "none.pt"), "--arch",
        json.dumps(w["arch"]), "--out", str(t / "f")], "does not exist"),
    ("finetune: zero epochs", lambda w, t: ["finetune", "--supernet", str(w["ckpt"]), "--arch", json.dumps(w["arch"]),
        "--epochs", "0", "--out", str(t / "f")], "epochs"),
    ("finetune: unknown teacher", lambda w, t: ["finetune", "--supernet", str(w["ckpt"]), "--arch",
        json.dumps(w["arch"]), "--teacher", str(t / "nope.pt"), "--out", str(t / "f")], "nope.pt"),
    ("search: study of other inputs", lambda w, t: _study_of_other_inputs(w, t), "made with other inputs"),
    # --- non-finite numbers and impossible sizes (infinity is no setting's meaning; null is "no bound")
    ("search: infinite latency budget", lambda w, t: _search(w, t, "--table", str(w["table"]), "--latency-max",
                                                             "inf"), "(--latency-max): got inf, expected a positive, finite number"),
    ("search: NaN accuracy bound", lambda w, t: _search(w, t, "--accuracy-min", "nan"), "(--accuracy-min): got nan"),
    ("run: infinite budget in the experiment", lambda w, t: ["run", "--config", _yaml(
        t, f"supernet: {w['ckpt']}\nsearch: {{latency_budgets_ms: [.inf]}}\n"), "--out", str(t / "r")],
     "search.latency_budgets_ms"),
    ("space: stage widths not numbers", lambda w, t: ["space", _yaml(t, yaml.safe_dump(
        {**{k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}, "stage_widths": "abc"}),
        "s.yaml")], "stage_widths: got 'abc'"),
    ("latency build: resolution of 100000 px", lambda w, t: ["latency", "build", "--space", _yaml(t, yaml.safe_dump(
        {**{k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}, "resolutions": [100000]}),
        "s.yaml"), "--out", str(t / "t.csv")], "ints from 8 to 2048"),
    ("export: negative accuracy drop", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--arch", "smallest",
        "--precision", "int8", "--max-accuracy-drop", "-1", "--out", str(t / "m.onnx")],
     "(--max-accuracy-drop): got -1.0"),
    ("export: empty front file", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--front",
        _yaml(t, "", "front.csv"), "--out", str(t / "m.onnx")], "not a readable front"),
    ("show: a truncated ONNX model", lambda w, t: ["show", _yaml(t, "\x08\x07\x12\x04half", "m.onnx")],
     "not a readable ONNX model"),
    ("search: storage at a text file", lambda w, t: _search(w, t, "--strategy", "optuna-tpe", "--storage",
                                                            "sqlite:///" + _yaml(t, "my notes\n", "notes.db")),
     "not an Optuna database (file is not a database)"),
    ("export: an accuracy table as the front", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--front",
        str(w["acc"]), "--out", str(t / "m.onnx")], "an accuracy table of `nas collect`, not a front"),
    ("export: the evaluated archs as the front", lambda w, t: _evaluated_as_front(w, t),
     "not the front of its search"),
    ("export: --out a folder, even with --force", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--arch",
        "smallest", "--force", "--out", str(_folder(t / "m.onnx"))], "is a folder; expected the path"),
    ("collect: --out a folder", lambda w, t: ["collect", "--supernet", str(w["ckpt"]), "--num-archs", "2",
        "--out", str(_folder(t / "a.csv"))], "a folder; expected the path of the table"),
    ("search: non-finite reference point", lambda w, t: _search(w, t, "--ref-point", "nan,inf"),
     "ref_point (--ref-point): got (nan, inf)"),
    ("search: a budget of 10^20", lambda w, t: _search(w, t)[:5] + ["--budget", str(10**20)] + _search(w, t)[7:],
     "at most 10,000,000 evaluations"),
    ("search: a table with a negative overhead", lambda w, t: _search(w, t, "--table", str(_copy_table(
        w, t, lambda f, m: m.update(overhead_ms=-1000.0))), "--latency-max", "1"), "overhead_ms is -1000.0"),
    ("show: a predictor manifest that is something else", lambda w, t: ["show", str(_foreign_predictor(w, t))],
     "not a predictor's manifest"),
    ("export: a front of another space", lambda w, t: _front_of_another_space(w, t),
     "was it searched in the space of another supernet"),
    ("export: front with a header only", lambda w, t: ["export", "--supernet", str(w["ckpt"]), "--front",
        _yaml(t, "arch,accuracy,latency\n", "front.csv"), "--out", str(t / "m.onnx")], "no subnet in it"),
]


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _evaluated_as_front(world, tmp):
    assert main(_search(world, tmp, "--quiet")) == 0
    return ["export", "--supernet", str(world["ckpt"]), "--front", str(tmp / "s" / "evaluated.csv"),
            "--out", str(tmp / "m.onnx")]


def _front_of_another_space(world, tmp):
    assert main(["search", "--predictor", "pretrained:fmnist_small", "--budget", "20", "--quiet",
                 "--out", str(tmp / "other")]) == 0
    return ["export", "--supernet", str(world["ckpt"]), "--front", str(tmp / "other" / "front.csv"),
            "--out", str(tmp / "m.onnx")]


def _foreign_predictor(world, tmp) -> Path:
    folder = tmp / "pred"
    folder.mkdir()
    (folder / "predictor.json").write_text(world["table"].with_suffix(".json").read_text())
    return folder


def _study_of_other_inputs(world, tmp):
    db = f"sqlite:///{tmp / 'study.db'}"
    first = _search(world, tmp, "--strategy", "optuna-tpe", "--storage", db, "--study-name", "s")
    assert main(first) == 0
    again = _search(world, tmp, "--strategy", "optuna-tpe", "--storage", db, "--study-name", "s",
                    "--objectives", "accuracy,params")
    again[again.index("--out") + 1] = str(tmp / "s2")  # a new output folder, the same study
    return again


def _digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("case", "make", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(case, make, fragment, world, tmp_path, capsys):
    before = _digest(world["root"])
    argv = make(world, tmp_path)
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, f"{case}: exit code {rc}, stderr: {err[-600:]}"
    assert "Traceback" not in err and err.count("\n") <= 2, err
    assert fragment in err, f"{case}: {fragment!r} not in {err!r}"
    assert len(err) < 1200
    assert _digest(world["root"]) == before  # nothing of the user's changed


def test_every_command_is_covered():
    from nas.cli import COMMANDS

    covered = {c[0].split(":")[0] for c in CASES}
    names = {m.removeprefix("nas.cli._") for m in COMMANDS}
    assert {"train", "collect", "search", "export", "space", "import-ofa", "run", "fit", "validate",
            "latency build"} <= covered
    assert names - {"demo", "predict", "import"} <= {n.split()[0] for n in covered}


def test_an_unexpected_failure_is_one_line_unless_verbose(capsys, monkeypatch):
    import nas.cli._space as cmd

    def boom(args):
        raise RuntimeError("x" * 5000)

    monkeypatch.setattr(cmd, "run", boom)  # the parser is built anew by every main()
    assert main(["space"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "--verbose" in err and "Traceback" not in err and len(err) < 800
    with pytest.raises(RuntimeError):
        main(["--verbose", "space"])


@pytest.mark.parametrize(("code", "words"), [(28, "no space left on the device; free some space"),
                                             (30, "the file system is read-only; write elsewhere"),
                                             (1, "not permitted (an immutable or protected"),
                                             (40, "a loop of symbolic links")])
def test_a_refused_file_operation_is_named_not_unexpected(code, words, capsys, monkeypatch):
    import errno
    import os as os_

    import nas.cli._space as cmd

    assert errno.errorcode[code]  # ENOSPC, EROFS, EPERM, ELOOP on Linux

    def refused(args):
        raise OSError(code, os_.strerror(code), "/data/runs/model.onnx")

    monkeypatch.setattr(cmd, "run", refused)
    assert main(["space"]) == 2
    err = capsys.readouterr().err
    assert err == f"nas space: error: /data/runs/model.onnx: {words}" + err.split(words, 1)[1]
    assert "unexpected" not in err and err.count("\n") == 1


def test_read_only_output_is_refused_before_the_work(world, tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere; the 'is a file' case covers the check")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    assert main(_search(world, tmp_path)[:-1] + [str(locked / "s")]) == 2
    assert "no write permission" in capsys.readouterr().err


def test_yaml_bomb_is_refused_quickly(tmp_path):
    import time

    from supernet import ConfigError, load_train_config

    start = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than"):
        load_train_config(_yaml(tmp_path, BOMB))
    assert time.perf_counter() - start < 5.0
    assert yaml.safe_load("a: 1") == {"a": 1}
