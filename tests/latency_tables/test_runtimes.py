"""OpenVINO and LiteRT beside ONNX Runtime: each times a tiny table's blocks, exports a
subnet that agrees with PyTorch and classifies the test split as it does, and times a probe
bundle in a virtual environment that holds only that runtime and numpy. Skipped, with the
extra to install, where a runtime is not installed (install.sh installs both)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from latency_tables import BuildConfig, LatencyTable, Protocol, build_table, import_results, write_bundle
from latency_tables.backends import runtime_module
from nas.cli import main
from nas.export import ExportConfig, export_subnet
from supernet import NASError, get_space
from tests.conftest import bare_env
from tests.latency_tables.test_latency_tables import tiny_space
from tests.latency_tables.test_probe import _bare

EXTRAS = {"openvino": ("openvino", "openvino"), "litert": ("ai_edge_litert", "ai-edge-litert")}


def _need(runtime: str) -> None:
    modules = [EXTRAS[runtime][0]] + (["litert_torch"] if runtime == "litert" else [])
    if any(importlib.util.find_spec(m) is None for m in modules):
        pytest.skip(f"the {runtime} runtime is not installed: pip install -e \".[{runtime}]\"")


def test_a_missing_runtime_names_its_extra():
    with pytest.raises(NASError, match=r'pip install -e "\.\[litert\]"'):
        runtime_module("no_such_runtime_module", extra="litert")


@pytest.mark.parametrize("runtime, precision",
                         [("openvino", "fp32"), ("openvino", "int8"), ("litert", "fp32")])
def test_each_runtime_builds_a_table(runtime, precision, tmp_path):
    _need(runtime)
    space = tiny_space(resolutions=(8,))
    config = BuildConfig(space=space, device="test-cpu", runtime=runtime, precision=precision,
                         protocol=Protocol(rounds=5, calls=1, warmup=1), passes=1, calibration_archs=2)
    table = build_table(config, tmp_path / "t.csv", progress=False)
    assert table.meta["runtime"] == runtime and table.meta["runtime_version"].split()[0] in ("openvino",
                                                                                             "ai-edge-litert")
    archs = [space.smallest(8), space.largest(8)]
    if precision == "int8":
        archs = [a.with_precision("int8") for a in archs]
    ms = table.predict(archs)
    assert np.all(ms > 0) and ms[1] > ms[0] * 0.8
    assert LatencyTable.load(tmp_path / "t.csv").calibration["num_archs"] == 2


def test_litert_times_all_int8_models(tmp_path):
    _need("litert")
    from latency_tables.backends import make_runner

    block = tiny_space().layout(tiny_space().largest(8))[1]
    from supernet import build_block

    run = make_runner("litert", build_block(block), (1, block.in_channels, 8, 8), threads=1, workdir=tmp_path,
                      name="b", quantize=True)
    run()
    from latency_tables.backends import tflite_interpreter

    interpreter = tflite_interpreter(tmp_path / "b.tflite", 1)
    int8 = [t for t in interpreter.get_tensor_details() if t["dtype"] == np.int8]
    assert len(int8) > len(interpreter.get_tensor_details()) / 3  # weights and activations
    with pytest.raises(NASError, match="not the mixed policy"):
        make_runner("litert", build_block(block), (1, block.in_channels, 8, 8), threads=1, workdir=tmp_path,
                    name="m", quantize=("int8", "fp32"))


def test_litert_refuses_mixed_precision_and_openvino_takes_only_its_devices():
    with pytest.raises(NASError, match="LiteRT times fp32 or all-int8 models"):
        BuildConfig(space=tiny_space(), runtime="litert", precision="mixed")
    with pytest.raises(NASError, match=r"OpenVINO device: got 'TPU', expected one of \['CPU', 'GPU', 'NPU"):
        BuildConfig(space=tiny_space(), runtime="openvino", provider="TPU")


@pytest.mark.parametrize("runtime, precision", [("openvino", "fp32"), ("litert", "fp32"), ("litert", "int8")])
def test_export_to_the_runtime_agrees_with_pytorch_and_is_timed_in_it(runtime, precision, tmp_path, capsys):
    _need(runtime)
    out = tmp_path / "model.onnx"
    args = ["export", "--supernet", "pretrained:fmnist_small", "--arch", "smallest", "--runtime", runtime,
            "--out", str(out), "--timing-rounds", "5", "--precision", precision, "--allow-accuracy-drop",
            "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    card = json.loads(out.with_suffix(".json").read_text())
    deployed = card["runtime"]
    files = {"openvino": [".xml", ".bin"], "litert": [".tflite"]}[runtime]
    assert deployed["files"] == [str(out.with_suffix(ext)) for ext in files] and all(
        out.with_suffix(ext).stat().st_size > 0 for ext in files)
    if precision == "fp32":
        assert deployed["parity_max_abs_diff"] < 1e-4 and deployed["parity_reference"] == "PyTorch"
        assert abs(deployed["test_acc"] - card["onnx_test_acc"]) < 0.2  # the same model, raw uint8 input
    else:  # quantised by LiteRT's own converter: another int8 model than ONNX Runtime's, close to it
        assert deployed["parity_reference"] == "ONNX Runtime (int8)" and deployed["top1_agreement"] > 80
        assert abs(deployed["test_acc"] - card["quantization"]["fp32_test_acc"]) < 5
    assert card["latency_runtime"] == runtime and card["measured_latency_ms"] > 0
    assert summary["runtime"]["name"] == runtime
    assert not list(tmp_path.glob(".*partial*"))  # nothing half-made left
    assert main(["show", str(out)]) == 0
    assert f"measured in {runtime}" in capsys.readouterr().out
    assert main(args) == 2  # never overwritten without --force


def test_export_refuses_a_table_of_another_runtime_and_litert_int8(tmp_path):
    table = tmp_path / "t.csv"
    build_table(BuildConfig(space="fmnist_small", resolutions=(20,), protocol=Protocol(rounds=2, warmup=1),
                            passes=1, calibration_archs=0, chunk_size=256), table, progress=False)
    base = ["export", "--supernet", "pretrained:fmnist_small", "--arch", "smallest", "--out",
            str(tmp_path / "m.onnx")]
    arch = get_space("fmnist_small").smallest(20)
    with pytest.raises(NASError, match="was timed in ort; a model is timed as its table was"):
        export_subnet(ExportConfig(supernet="pretrained:fmnist_small", arch=arch, table=str(table),
                                   out=str(tmp_path / "m.onnx"), runtime="openvino"))
    assert main([*base, "--runtime", "litert", "--precision", "int8,stem:fp32"]) == 2
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("runtime", ["openvino", "litert"])
def test_a_device_with_only_the_runtime_times_a_bundle(runtime, tmp_path_factory, tmp_path):
    _need(runtime)
    python = bare_env(tmp_path_factory, EXTRAS[runtime][1])
    assert _bare(python, "-c", "import torch").wait(60) != 0
    space = tiny_space(resolutions=(8,))
    config = BuildConfig(space=space, device="test-cpu", runtime=runtime, chunk_size=8, passes=1,
                         protocol=Protocol(rounds=10, warmup=1), calibration_archs=2)
    bundle = write_bundle(config, tmp_path / "probe.zip")
    results = tmp_path / "results.csv"
    run = _bare(python, str(tmp_path / "probe_runner.py"), str(bundle), "--out", str(results))
    log = run.communicate(timeout=600)[0]
    assert run.returncode == 0, log
    table = import_results(results, bundle, tmp_path / "dev.csv", device="bare-device")
    assert table.meta["runtime"] == runtime
    assert table.meta["runtime_version"].split()[0] in ("openvino", "ai-edge-litert")
    assert table.meta["probe"]["device"]["runtime"] == runtime
    assert np.all(table.predict([space.smallest(8), space.largest(8)]) > 0)
