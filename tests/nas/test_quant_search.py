"""Precision as part of the architecture: the policy field, drawn, mutated, crossed and
encoded by the space; int8 and mixed latency tables; quantised accuracies collected in
ONNX Runtime; the transfer predictor; a joint architecture + precision search."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import optuna
import pandas as pd
import pytest
from onnxruntime.quantization.shape_inference import quant_pre_process

from latency_tables import BuildConfig, LatencyTable, Protocol, build_table
from nas.strategies import suggest_arch
from predictors import CollectConfig, RidgePredictor, TransferPredictor, collect, load_predictor
from supernet import (
    ArchConfig,
    ArtifactMismatchError,
    SearchSpace,
    SpaceError,
    Subnet,
    arch_cost,
    export_onnx,
    get_space,
)
from supernet.deploy import quantize_onnx
from supernet.deploy._quantize import _child_index, _node_children
from tests.predictors.test_predictors_collect import TINY, make_checkpoint

FAST = Protocol(rounds=3, calls=1, warmup=1)


def test_a_policy_is_part_of_the_arch():
    space = get_space("fmnist_small")
    arch = space.sample(0)
    assert arch.precision == () and not arch.quantized and "precision" not in arch.to_dict()
    assert arch.with_precision("fp32") == arch  # all-fp32 is no policy at all
    q = arch.with_precision({"stage2": "int8", "head": "int8"})
    assert q.precision == ("fp32", "fp32", "int8", "fp32", "int8") and str(q).endswith("@ffifi")
    assert str(arch.with_precision("int8")).endswith("@int8")
    assert ArchConfig.from_json(q.to_json()) == q and ArchConfig.from_dict(arch.to_dict()) == arch
    blocks = space.block_precisions(q)
    assert len(blocks) == len(space.layout(q)) and blocks[-1] == "int8" and blocks[0] == "fp32"
    with pytest.raises(SpaceError, match="expected one of"):
        arch.with_precision(("int8",) * 4)  # one per part: stem, 3 stages, head
    with pytest.raises(SpaceError, match="unknown part"):
        arch.with_precision({"neck": "int8"})
    with pytest.raises(SpaceError, match="int4"):
        ArchConfig.from_dict({**arch.to_dict(), "precision": ["int4"] * 5})


def test_the_space_draws_mutates_crosses_and_encodes_policies():
    space = get_space("fmnist_small")
    mixed, int8 = space.with_precision("mixed"), space.with_precision("int8")
    assert mixed.hash == space.hash  # a deployment choice: artifacts of the space still match
    assert space.with_precision("fp32").sample(3) == space.sample(3)  # fp32 draws what it always drew
    assert all(set(int8.sample(i).precision) == {"int8"} for i in range(5))
    drawn = [mixed.sample(i) for i in range(60)]
    assert {p for a in drawn for p in a.policy().values()} == {"fp32", "int8"}
    rng = np.random.default_rng(0)
    children = [mixed.mutate(drawn[i], rng, prob=0.5) for i in range(20)]
    children += [mixed.crossover(drawn[i], drawn[i + 1], rng) for i in range(20)]
    assert any(c.policy() != p.policy() for c, p in zip(children, drawn))
    assert all(set(int8.mutate(a, rng).precision) == {"int8"} for a in drawn[:5])
    x = mixed.encode(drawn[:4])
    assert x.shape == (4, space.encoding_size + 5)
    assert np.array_equal(x[:, -5:], [[p == "int8" for p in a.policy().values()] for a in drawn[:4]])
    assert np.array_equal(x[:, :space.encoding_size], space.encode(drawn[:4]))
    assert mixed.precision_mode == "mixed" and int8.precision_mode == "int8"


def test_optuna_suggests_a_policy_per_part():
    space = get_space("fmnist_small").with_precision("mixed")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    archs = [suggest_arch(study.ask(), space) for _ in range(30)]
    assert {p for a in archs for p in a.policy().values()} == {"fp32", "int8"}
    assert all(len(a.policy()) == space.num_stages + 2 for a in archs)


def test_int8_parts_store_a_byte_a_weight():
    space = get_space("fmnist_small")
    arch = space.largest()
    fp32, int8 = arch_cost(space, arch), arch_cost(space, arch.with_precision("int8"))
    assert fp32.weight_bytes == 4 * fp32.params and int8.weight_bytes == int8.params
    assert int8.peak_memory_bytes * 4 == fp32.peak_memory_bytes
    head_only = arch_cost(space, arch.with_precision({"head": "int8"}))
    assert int8.weight_bytes < head_only.weight_bytes < fp32.weight_bytes


def test_the_policy_keeps_every_node_of_an_fp32_part_float(tmp_path):
    """A hard-swish splits into nodes without a module path; they belong to their part."""
    space = SearchSpace(**TINY)
    arch = space.largest(12).with_precision({"stage1": "int8", "stage2": "int8", "head": "int8"})
    fp32 = export_onnx(Subnet.build(space.layout(arch)), tmp_path / "m.onnx", (1, 1, 12, 12), check=False)
    quant_pre_process(str(fp32), str(tmp_path / "prepared.onnx"), skip_symbolic_shape=True)
    nodes = onnx.load(str(tmp_path / "prepared.onnx")).graph.node  # what the quantiser sees
    unnamed = [(n.op_type, c) for n, c in zip(nodes, _node_children(nodes)) if not n.name.startswith("/")]
    assert {"HardSigmoid", "Mul"} <= {t for t, _ in unnamed}  # the hard-swish, split up
    assert all(c is not None for _, c in unnamed)  # every node is given its part
    calib = np.random.default_rng(0).standard_normal((8, 1, 12, 12)).astype(np.float32)
    info = quantize_onnx(fp32, tmp_path / "q.onnx", calib, block_precisions=space.block_precisions(arch))
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    produced_by = {o: n for n in graph.node for o in n.output}
    stem = [n for n in graph.node if n.name.startswith("/0/") and n.op_type == "Conv"][0]
    assert stem.input[1] not in produced_by  # float weights: no DequantizeLinear in front
    assert info["nodes_left_fp32"] >= 3 and info["quantize_nodes"] > 0
    # and the int8 parts' own hard-swish nodes are quantised: excluding the fp32 part's
    # nameless nodes by the name "" once left every nameless node of the model float
    int8_children = {i for i, p in enumerate(space.block_precisions(arch)) if p == "int8"}
    int8_muls = sum(n.op_type == "Mul" and c in int8_children for n, c in zip(nodes, _node_children(nodes)))
    quantized_muls = [n for n in graph.node if n.op_type == "Mul" and all(
        i in produced_by and produced_by[i].op_type == "DequantizeLinear" for i in n.input)]
    assert int8_muls > 0 and len(quantized_muls) == int8_muls


def test_fp32_parts_keep_constant_weights_when_the_export_shares_them(tmp_path):
    """The exporter merges equal constants (an untrained model's zero biases) into one
    initializer; quantised for an int8 node, it must not reach an fp32 node dequantized:
    ONNX Runtime runs a convolution whose weight or bias is not a constant without its
    fast kernels (a mixed subnet measured 2.2x slower whole)."""
    space = SearchSpace(**TINY)
    arch = space.largest(12).with_precision({"stem": "int8", "stage1": "fp32", "stage2": "int8",
                                             "head": "fp32"})
    fp32 = export_onnx(Subnet.build(space.layout(arch)), tmp_path / "m.onnx", (1, 1, 12, 12), check=False)
    model = onnx.load(str(fp32))
    inits = {t.name for t in model.graph.initializer}
    consumers = [i for n in model.graph.node for i in n.input if i in inits]
    assert len(consumers) > len(set(consumers))  # the export shares some: the case under test
    calib = np.random.default_rng(0).standard_normal((8, 1, 12, 12)).astype(np.float32)
    quantize_onnx(fp32, tmp_path / "q.onnx", calib, block_precisions=space.block_precisions(arch))
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    produced_by = {o: n for n in graph.node for o in n.output}
    fp32_children = {i for i, p in enumerate(space.block_precisions(arch)) if p == "fp32"}
    float_convs = [n for n in graph.node if n.op_type == "Conv" and _child_index(n.name) in fp32_children]
    assert float_convs and all(i not in produced_by for n in float_convs for i in n.input[1:])
    int8_convs = [n for n in graph.node if n.op_type == "Conv" and _child_index(n.name) not in fp32_children]
    assert int8_convs and all(produced_by[n.input[1]].op_type == "DequantizeLinear" for n in int8_convs)
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    y = session.run(None, {"input": calib[:1]})[0]
    assert y.shape == (1, TINY["num_classes"]) and np.isfinite(y).all()


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """An int8 and a mixed table of the collected supernet's space, at one resolution."""
    folder = tmp_path_factory.mktemp("qtables")
    space_file = folder / "tiny.json"
    space_file.write_text(json.dumps(SearchSpace(**TINY).to_dict()))
    made = {"space_file": space_file}
    for precision in ("int8", "mixed"):
        config = BuildConfig(space=str(space_file), device="test-cpu", protocol=FAST, chunk_size=64,
                             calibration_archs=4, passes=1, precision=precision, resolutions=(12,))
        made[precision] = build_table(config, folder / f"t_{precision}.csv", progress=False)
    return made


def test_int8_and_mixed_tables(tables):
    int8, mixed = tables["int8"], tables["mixed"]
    assert set(int8.frame["precision"]) == {"int8"} and set(mixed.frame["precision"]) == {"fp32", "int8"}
    assert mixed.num_blocks == 2 * int8.num_blocks and int8.precision == "int8"
    arch = SearchSpace(**TINY).largest(12)
    both = [arch, arch.with_precision("int8"), arch.with_precision({"stage2": "int8"})]
    assert np.all(mixed.predict(both) > 0) and int8.predict([both[1]])[0] > 0
    with pytest.raises(ArtifactMismatchError, match="times int8 blocks only.*--precision int8"):
        int8.predict([arch])
    assert all(ArchConfig.from_json(a).quantized for a in int8.calibration["archs"])
    again = LatencyTable.load(mixed.path)  # the precision column survives the round trip
    assert np.allclose(again.predict(both), mixed.predict(both))
    config = BuildConfig(space=str(tables["space_file"]), device="test-cpu", protocol=FAST, chunk_size=64,
                         calibration_archs=4, passes=1, precision="fp32", resolutions=(12,))
    with pytest.raises(ArtifactMismatchError, match="precision"):
        build_table(config, mixed.path, resume=True, progress=False)


@pytest.fixture(scope="module")
def quant_table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qcollect")
    ckpt = make_checkpoint(folder)
    out = folder / "acc.csv"
    table = collect(CollectConfig(supernet=str(ckpt), out=str(out), num_archs=12, calib_images=32,
                                  chunk_size=4, precision="mixed"), progress=False)
    return ckpt, out, table


def test_collect_measures_archs_as_deployed(quant_table):
    _, out, table = quant_table
    archs = [ArchConfig.from_json(a) for a in table["arch"]]
    plain = table[[not a.quantized for a in archs]]
    assert (plain["accuracy"] == plain["accuracy_fp32"]).all()  # nothing quantised, nothing changes
    assert any(a.quantized for a in archs) and table["accuracy_fp32"].between(0, 100).all()
    meta = json.loads(out.with_name("acc.csv.meta.json").read_text())
    assert meta["precision"] == "mixed" and meta["space"]["precisions"] == ["fp32", "int8"]
    space = SearchSpace.from_dict(meta["space"])
    assert all(len(e) == space.encoding_size for e in table["encoding"])


def test_the_transfer_predictor_learns_what_quantisation_takes(tmp_path):
    """On targets whose drop is known (2 pp when the stem is int8), the ridge on the policy
    finds it from few samples, on top of the fp32 predictor it starts from."""
    space = get_space("fmnist_small")
    base = load_predictor("pretrained:fmnist_small")  # the shipped GBT: its trees are files to carry along
    mixed = space.with_precision("mixed")
    archs = [mixed.sample(100 + i) for i in range(40)]
    drop = np.array([2.0 if a.policy()["stem"] == "int8" else 0.0 for a in archs])
    y = base.predict([a.with_precision("fp32") for a in archs]) - drop
    model = TransferPredictor(space=mixed, base=base).fit(archs, y)
    test = [mixed.sample(500 + i) for i in range(20)]
    truth = base.predict([a.with_precision("fp32") for a in test]) - \
        np.array([2.0 if a.policy()["stem"] == "int8" else 0.0 for a in test])
    assert np.abs(model.predict(test) - truth).max() < 0.3
    model.save(tmp_path / "transfer")
    loaded = load_predictor(tmp_path / "transfer", space=space)  # the fp32 space's artifacts match
    assert np.allclose(loaded.predict(test), model.predict(test))
    assert sorted(p.name for p in (tmp_path / "transfer").iterdir())[0].startswith("base__")
    with pytest.raises(Exception, match="full-precision"):
        TransferPredictor(space=mixed, base=model)
    ridge = RidgePredictor(space=mixed).fit(archs, y)  # fitted on a space that draws int8: not a base
    with pytest.raises(Exception, match="full-precision"):
        TransferPredictor(space=mixed, base=ridge)


def test_a_joint_search_picks_policies_the_table_times(tables, tmp_path, capsys):
    from nas.cli import main

    assert main(["fit-predictor", "--data", "x.csv", "--models", "transfer",
                 "--out", str(tmp_path / "t")]) == 2
    assert "--base" in capsys.readouterr().err
    args = ["search", "--space", str(tables["space_file"]), "--objectives", "latency,weight_bytes",
            "--budget", "40", "--strategy", "evolution", "--population", "10", "--json"]
    assert main([*args, "--table", str(tables["mixed"].path), "--precision", "mixed",
                 "--out", str(tmp_path / "s")]) == 0
    front = [ArchConfig.from_dict(f["arch"]) for f in json.loads((tmp_path / "s" / "front.json").read_text())]
    evaluated = [ArchConfig.from_json(a) for a in pd.read_csv(tmp_path / "s" / "evaluated.csv")["arch"]]
    assert {p for a in evaluated for p in a.policy().values()} == {"fp32", "int8"}
    assert any(a.quantized for a in front)  # the smallest model stores its weights in int8
    assert main([*args, "--table", str(tables["int8"].path), "--precision", "mixed",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "times int8 blocks only" in capsys.readouterr().err
