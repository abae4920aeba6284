"""INT8 export: ONNX Runtime static quantisation (QDQ, per-channel) of a subnet of the
shipped supernet, whole or with parts kept at fp32, what it changed recorded in the card,
and a drop over the allowed one refused loudly."""

from __future__ import annotations

import json

import onnx
import pytest

from nas.cli import main
from supernet import ConfigError, get_space
from supernet.deploy import parse_precision


def _export(tmp_path, name: str, *extra: str) -> tuple[int, dict | None]:
    arch = get_space("fmnist_small").smallest()
    out = tmp_path / f"{name}.onnx"
    code = main(["export", "--supernet", "pretrained:fmnist_small", "--arch", arch.to_json(),
                 "--out", str(out), "--quant-calib-images", "64", *extra])
    card = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else None
    return code, card


def _quantize_nodes(path) -> int:
    return sum(n.op_type == "QuantizeLinear" for n in onnx.load(str(path)).graph.node)


def test_int8_export_whole_and_mixed(tmp_path):
    code, card = _export(tmp_path, "all", "--precision", "int8", "--allow-accuracy-drop")
    assert code == 0
    q = card["quantization"]
    assert set(card["precision"].values()) == {"int8"} and q["format"] == "QDQ" and q["per_channel"]
    assert q["int8_bytes"] < 0.5 * q["fp32_bytes"]  # int8 weights are 4x smaller
    assert q["accuracy_drop_pp"] == pytest.approx(q["fp32_val_acc"] - q["int8_val_acc"])
    assert q["top1_agreement_test"] > 80 and q["int8_test_acc"] > 80
    assert q["fp32_test_acc"] == pytest.approx(card["fp32_test_acc"], abs=0.05)  # the twin, in ONNX Runtime
    assert card["test_acc"] == q["int8_test_acc"] and card["fp32_twin"].endswith("all.fp32.onnx")
    assert (tmp_path / "all.fp32.onnx").is_file() and q["int8_ms_raw"] > 0
    assert _quantize_nodes(tmp_path / "all.onnx") > 10 and q["nodes_left_fp32"] == 0

    code, mixed = _export(tmp_path, "mixed", "--precision", "int8,stem:fp32,head:fp32",
                          "--allow-accuracy-drop")
    assert code == 0 and mixed["precision"]["stem"] == "fp32" and mixed["precision"]["stage2"] == "int8"
    assert mixed["quantization"]["nodes_left_fp32"] > 0
    assert 0 < _quantize_nodes(tmp_path / "mixed.onnx") < _quantize_nodes(tmp_path / "all.onnx")
    assert mixed["quantization"]["int8_bytes"] > q["int8_bytes"]  # the fp32 head keeps its float weights


def test_a_drop_over_the_allowed_one_is_refused(tmp_path, capsys, monkeypatch):
    import nas.export._export as export

    real = export.onnx_predictions

    def int8_one_class_off(session, x):  # the int8 model (not the fp32 twin) made worse, for certain
        predicted = real(session, x)
        return predicted if ".fp32." in str(session._model_path) else (predicted + 1) % 10

    monkeypatch.setattr(export, "onnx_predictions", int8_one_class_off)
    code, card = _export(tmp_path, "m", "--precision", "int8", "--max-accuracy-drop", "1")
    assert code == 2 and card is None
    assert "pp of validation accuracy" in capsys.readouterr().err
    assert (tmp_path / "m.failed.onnx").is_file() and not (tmp_path / "m.onnx").exists()
    assert not (tmp_path / "m.fp32.onnx").exists()


@pytest.mark.parametrize("text, fragment", [
    ("int4", "expected 'int8'"), ("int8,neck:fp32", "'neck:fp32'"), ("int8,stem:fp16", "'stem:fp16'"),
    ("int8,stage9:fp32", "stage9")])
def test_bad_precision_policies_are_explained(text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_precision(text, num_stages=3)
    assert parse_precision("fp32", 3) is None and parse_precision("int8,stem:fp32", 3)["stem"] == "fp32"
