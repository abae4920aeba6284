"""Latency tables: building (real ONNX Runtime sessions, few repetitions), resuming,
querying, mismatch errors, validation and the efficiency tables. No timing is asserted."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from latency_tables import (
    BuildConfig,
    CostModel,
    EfficiencyTable,
    LatencyTable,
    Measured,
    Protocol,
    ValidateConfig,
    build_table,
    create_cost_model,
    distinct_blocks,
    list_metrics,
    measure_archs,
    validate_table,
)
from latency_tables._table import KEY_COLUMNS, table_paths
from supernet import ArtifactMismatchError, NASError, SearchSpace, SpaceError, arch_cost, get_space

FAST = Protocol(rounds=3, calls=1, warmup=1)


def tiny_space(**changes) -> SearchSpace:
    fields = dict(name="tiny", in_channels=1, num_classes=3, stem_channels=8, stem_stride=2,
                  first_block_channels=8, stage_widths=(8, 16), stage_strides=(1, 2),
                  stage_acts=("relu", "hswish"), stage_se=(False, True), kernel_choices=(3,),
                  expand_choices=(1, 2), depth_choices=(1, 2), resolutions=(8, 12),
                  final_expand_channels=16, feature_mix_channels=16)
    return SearchSpace(**{**fields, **changes})


def all_archs(space: SearchSpace):
    choices = list(itertools.product(space.kernel_choices, space.expand_choices))
    for r in space.resolutions:
        for depths in itertools.product(space.depth_choices, repeat=space.num_stages):
            for picks in itertools.product(*[itertools.product(choices, repeat=d) for d in depths]):
                yield space.make_arch(r, depths, {"kernel_sizes": [[k for k, _ in p] for p in picks],
                                                  "expand_ratios": [[e for _, e in p] for p in picks]})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny table built in two runs: a partial one (interrupted), then resumed."""
    out = tmp_path_factory.mktemp("tables") / "test-cpu_t1.csv"
    config = BuildConfig(space=tiny_space(), device="test-cpu", protocol=FAST, chunk_size=4,
                         calibration_archs=3)
    assert build_table(config, out, max_blocks=5, progress=False) is None
    partial = pd.read_csv(out)
    table = build_table(config, out, resume=True, progress=False)
    return table, partial, out, config


def test_distinct_blocks_are_exactly_the_blocks_of_all_archs():
    space = tiny_space()
    seen = {spec for arch in all_archs(space) for spec in space.layout(arch)}
    blocks = distinct_blocks(space)
    assert len(blocks) == len(set(blocks)) and set(blocks) == seen
    assert {b.kind for b in blocks} == {"stem", "mbconv", "head"}


def test_resume_keeps_measured_rows(built):
    table, partial, out, _ = built
    assert len(partial) == 5
    passes = table.meta["passes"]
    assert len(table.frame) == passes * len(distinct_blocks(tiny_space())) and table.meta["complete"]
    assert sorted(table.frame.groupby("pass").size()) == [len(distinct_blocks(tiny_space()))] * passes
    done = table.frame.merge(partial[KEY_COLUMNS + ["pass", "raw_ms"]], on=[*KEY_COLUMNS, "pass"],
                             suffixes=("", "_partial"))
    assert len(done) == 5 and np.array_equal(done["raw_ms"], done["raw_ms_partial"])
    assert not table.frame.duplicated([*KEY_COLUMNS, "pass"]).any()
    meta = json.loads(table_paths(out)[1].read_text())
    for key in ("device", "cpu_model", "runtime_version", "threads", "batch_size", "space_name",
                "space_hash", "created", "calibration", "overhead_ms"):
        assert meta[key] is not None, key


def test_incomplete_table_refused_and_existing_table_protected(built, tmp_path):
    _, _, out, config = built
    partial = tmp_path / "partial.csv"
    build_table(config, partial, max_blocks=2, progress=False)
    with pytest.raises(ArtifactMismatchError, match="incomplete"):
        LatencyTable.load(partial)
    with pytest.raises(NASError, match="already exists"):
        build_table(config, out, progress=False)
    other = BuildConfig(space=tiny_space(), device="test-cpu", threads=2, protocol=FAST)
    with pytest.raises(ArtifactMismatchError, match="threads"):
        build_table(other, out, resume=True, progress=False)
    median = BuildConfig(space=tiny_space(), device="test-cpu", protocol=Protocol(rounds=3, quantile=0.5))
    with pytest.raises(ArtifactMismatchError, match="quantile"):  # no two statistics in one table
        build_table(median, partial, resume=True, progress=False)


def test_the_protocol_statistic_is_a_quantile_and_old_records_mean_the_median(built):
    calls = np.array([5.0, 1.0, 9.0, 2.0, 7.0, 3.0, 100.0])
    assert Protocol().summary(calls) == pytest.approx(np.quantile(calls, 0.05))
    assert Protocol(quantile=0.5).summary(calls) == 5.0 and Protocol(quantile=0).summary(calls) == 1.0
    assert Protocol.recorded({"rounds": 400, "calls": 1, "warmup": 10}).quantile == 0.5  # before quantiles
    assert Protocol.recorded(built[0].meta["protocol"]) == FAST
    for bad in (-0.1, 1.5, "low", True):
        with pytest.raises(NASError, match="quantile"):
            Protocol(quantile=bad)


def test_predict_is_vectorised_and_sums_blocks(built):
    table = built[0]
    archs = [tiny_space().sample(i) for i in range(12)]
    batch = table.predict(archs)
    assert batch.shape == (12,) and batch.dtype == np.float64
    assert np.allclose(batch, [table.predict_one(a) for a in archs])
    cal = table.calibration
    for arch, value in zip(archs, table.predict(archs, calibrated=False)):
        total = sum(table.block_latency(s) for s in tiny_space().layout(arch)) + table.overhead_ms
        assert value == pytest.approx(total)
    slope = np.array([cal["slopes"][str(a.resolution)] for a in archs])
    assert np.allclose(batch, cal["intercept_ms"] + slope * table.predict(archs, calibrated=False))
    assert set(cal["slopes"]) == {str(r) for r in tiny_space().resolutions}


def test_mismatched_space_and_missing_entry(built):
    table, _, out, _ = built
    LatencyTable.load(out, space=tiny_space())
    with pytest.raises(ArtifactMismatchError, match="fmnist_small"):
        LatencyTable.load(out, space="fmnist_small")
    with pytest.raises(ArtifactMismatchError, match="hash"):
        LatencyTable.load(out, space=tiny_space(kernel_choices=(3, 5)))
    arch = tiny_space().largest()
    head = tiny_space().layout(arch)[-1]
    keep = ~(table.frame[KEY_COLUMNS] == pd.Series({**head.to_dict(), "precision": "fp32"})).all(axis=1)
    holed = LatencyTable(table.frame[keep].reset_index(drop=True), table.meta)
    with pytest.raises(ArtifactMismatchError, match="no entry for BlockSpec"):
        holed.predict([tiny_space().smallest(), arch])
    with pytest.raises(ArtifactMismatchError, match="times fp32 blocks only.*--precision int8"):
        table.predict([arch.with_precision({"stage1": "int8"})])


def test_efficiency_tables_match_arch_cost():
    space = get_space("fmnist_small")
    archs = [space.sample(i) for i in range(8)]
    for metric in ("macs", "params", "peak_memory_bytes"):
        expected = [getattr(arch_cost(space, a), metric) for a in archs]
        assert np.array_equal(EfficiencyTable(space, metric).predict(archs), expected)
    with pytest.raises(NASError, match="flops"):
        EfficiencyTable(space, "flops")


@pytest.mark.parametrize("metric", list_metrics())
def test_cost_model_contract(metric, built):
    model = create_cost_model(metric, space=tiny_space(), table=str(built[2]))
    assert isinstance(model, CostModel) and model.metric == metric and model.unit
    archs = [tiny_space().sample(i) for i in range(5)]
    values = model.predict(archs)
    assert values.shape == (5,) and values.dtype == np.float64 and np.all(values > 0)
    assert model.predict(archs[0]).shape == (1,) and model.predict([]).shape == (0,)
    with pytest.raises(SpaceError):
        model.predict([get_space("fmnist_small").largest()])
    with pytest.raises(ArtifactMismatchError):
        model.check_space("fmnist_small")


def test_validate_writes_report_and_plot(built, tmp_path):
    table = built[0]
    report = validate_table(table, ValidateConfig(num_archs=4, seed=1, protocol=FAST),
                            json_path=tmp_path / "r.json", plot_path=tmp_path / "r.png")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["num_archs"] == report["num_archs"] == 4
    for key in ("within_5pct", "within_10pct", "repeat_within_10pct"):
        assert 0.0 <= saved[key] <= 1.0
    assert saved["mape"] >= 0 and -1 <= saved["kendall_tau"] <= 1
    assert saved["reference_scaled"] and saved["raw"]["load_factor"] > 0
    for row in saved["archs"]:  # the headline time is the raw one scaled by the reference beside it
        level = table.calibration["reference_ms"]
        scaled = np.mean(np.array(row["raw_ms"]) * level / np.array(row["reference_ms"]))
        assert row["measured_ms"] == pytest.approx(scaled, rel=1e-4)
    calibration = set(table.calibration["archs"])
    assert not calibration & {a["arch"] for a in saved["archs"]}
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_measure_archs_scales_to_the_build_state(built):
    table = built[0]
    archs = [tiny_space().largest(), tiny_space().smallest()]
    timed = measure_archs(table, archs, passes=2, protocol=FAST)
    assert timed.raw_ms.shape == timed.reference_ms.shape == timed.ms.shape == (2, 2)
    assert np.all(timed.raw_ms > 0) and timed.level_ms == table.calibration["reference_ms"]
    factor = timed.reference_ms / timed.level_ms
    np.testing.assert_allclose(timed.ms * factor, timed.raw_ms)
    assert timed.load_factor == pytest.approx(factor.mean())
    uncalibrated = Measured(timed.raw_ms, timed.reference_ms, None)
    assert uncalibrated.ms is timed.raw_ms and uncalibrated.load_factor is None


def test_subnets_are_timed_in_random_groups_and_returned_in_order(monkeypatch):
    """Archs listed by size, timed in groups of their own kind, would each run in company
    unlike a search's subnets: the groups are drawn at random, the results come back in the
    order given. Each runner here answers with a number naming its arch."""
    import latency_tables._measure as measure
    from latency_tables._calibration import reference_archs, spread_archs

    space = tiny_space()
    archs = spread_archs(space, 8, seed=0, exclude=reference_archs(space))  # sorted by MACs
    code = {a.to_json(): i + 1.0 for i, a in enumerate(archs)}
    groups = []

    def runner(runtime, module, shape, *, cache_key, sessions=1, **_):
        value = code.get(cache_key[1], 0.5)  # 0.5: a reference subnet
        return [value] * sessions if sessions > 1 else value

    def interleaved(runners, protocol, **_):
        groups.append(sorted(v for v in runners.values() if v >= 1))
        return {i: [v] * 3 for i, v in runners.items()}

    monkeypatch.setattr(measure, "make_runner", runner)
    monkeypatch.setattr(measure, "time_interleaved", interleaved)
    runs, refs = measure.measure_subnets(space, archs, runtime="ort", threads=1, batch_size=1, protocol=FAST,
                                         group_size=4, passes=2, seed=3)
    assert runs.tolist() == [[code[a.to_json()] for a in archs]] * 2
    assert sorted(v for g in groups[::2] for v in g) == sorted(code.values())
    assert groups[0] != [1.0, 2.0, 3.0, 4.0] and groups[0] == groups[1]  # mixed sizes; both passes alike


def test_recalibrate_keeps_the_blocks_and_fits_the_calibration_again(built, tmp_path, caplog, capsys):
    _, _, out, config = built
    copy = tmp_path / "t.csv"
    copy.write_bytes(out.read_bytes())
    meta = json.loads(out.with_suffix(".json").read_text())
    meta["calibration"].pop("groups")  # as calibrated before groups were drawn at random
    copy.with_suffix(".json").write_text(json.dumps(meta))
    with caplog.at_level("WARNING"):
        validate_table(LatencyTable.load(copy), ValidateConfig(num_archs=2, protocol=FAST))
    assert "--recalibrate" in caplog.text
    table = build_table(config, copy, recalibrate=True, progress=False)
    assert table.frame[["pass", *KEY_COLUMNS, "raw_ms"]].equals(
        LatencyTable.load(out).frame[["pass", *KEY_COLUMNS, "raw_ms"]])  # the blocks kept
    assert table.calibration["groups"] == "random"
    assert table.meta["previous_calibration"] == meta["calibration"]  # the replaced one kept
    assert table.calibration["measured_ms"] != meta["calibration"]["measured_ms"]  # timed again
    with pytest.raises(NASError, match="choose one"):
        build_table(config, copy, recalibrate=True, force=True)
    with pytest.raises(NASError, match="calibration_archs is 0"):
        build_table(replace(config, calibration_archs=0), copy, recalibrate=True)
    with pytest.raises(NASError, match="no table there"):
        build_table(config, tmp_path / "none.csv", recalibrate=True)
    assert not (tmp_path / "none.csv").exists()
    from nas.cli import main  # the command line: same options as the build, then --recalibrate

    space_file = tmp_path / "tiny.json"
    space_file.write_text(json.dumps(tiny_space().to_dict()))
    assert main(["latency", "build", "--space", str(space_file), "--device", "test-cpu", "--out", str(copy),
                 "--rounds", "3", "--calibration-archs", "3", "--recalibrate", "--quiet"]) == 0
    captured = capsys.readouterr()  # the old spelling still works, for one release, with a warning
    assert "latency table recalibrated for test-cpu" in captured.out
    assert "--device is deprecated" in captured.err and "--device-name" in captured.err
    assert LatencyTable.load(copy).calibration["measured_ms"] != table.calibration["measured_ms"]


def test_cli_resume_of_finished_table(built, tmp_path, capsys):
    from nas.cli import main

    _, _, out, _ = built
    space_file = tmp_path / "tiny.json"
    space_file.write_text(json.dumps(tiny_space().to_dict()))
    argv = ["latency", "build", "--space", str(space_file), "--device-name", "test-cpu", "--out", str(out),
            "--quiet"]
    assert main(argv) == 2 and "already exists" in capsys.readouterr().err
    assert main([*argv, "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["blocks"] == len(distinct_blocks(tiny_space()))
    assert main([*argv, "--resume"]) == 0  # for a person: what the table is, where, what next
    text = capsys.readouterr().out
    assert "test-cpu" in text and f"{len(distinct_blocks(tiny_space()))} blocks" in text
    assert "nas latency validate" in text and not text.lstrip().startswith("{")
    report = tmp_path / "v.json"
    assert main(["latency", "validate", "--table", str(out), "--num-archs", "3",
                 "--report", str(report)]) == 0
    assert json.loads(report.read_text())["num_archs"] == 3 and report.with_suffix(".png").exists()
    text = capsys.readouterr().out
    assert "within ±10 %" in text and "Kendall tau" in text and "raw" in text and str(report) in text


def test_torch_runtime_builds_without_export(tmp_path):
    config = BuildConfig(space=tiny_space(resolutions=(8,)), device="test-cpu", runtime="torch",
                         protocol=FAST, calibration_archs=2)
    table = build_table(config, tmp_path / "torch.csv", progress=False)
    assert table.meta["runtime"] == "torch" and table.meta["runtime_version"].startswith("torch")
    assert np.all(table.predict([tiny_space(resolutions=(8,)).largest()]) > 0)


def test_the_execution_provider_is_recorded_and_a_missing_one_named(built, tmp_path, capsys):
    import onnxruntime as ort

    from latency_tables import measure_archs
    from nas.cli import main

    table, _, out, _ = built
    assert table.meta["provider"] == "CPUExecutionProvider"
    others = ("CUDAExecutionProvider", "TensorrtExecutionProvider", "CoreMLExecutionProvider")
    missing = next(p for p in others if p not in ort.get_available_providers())
    with pytest.raises(NASError, match=f"{missing}.*is not in this onnxruntime.*CPUExecutionProvider"):
        BuildConfig(space=tiny_space(), provider=missing)
    assert main(["latency", "build", "--space", "fmnist_small", "--provider", missing,
                 "--out", str(tmp_path / "t.csv")]) == 2
    assert "it has [" in capsys.readouterr().err and not (tmp_path / "t.csv").exists()
    meta = json.loads(out.with_suffix(".json").read_text())
    meta["provider"] = missing  # a table built elsewhere, timed again here
    with pytest.raises(NASError, match=missing):
        measure_archs(LatencyTable(table.frame, meta), [tiny_space().smallest()], protocol=FAST)


def test_a_noisy_calibration_never_predicts_below_zero():
    from latency_tables._calibration import apply_calibration, fit_calibration

    predicted, res = np.array([0.5, 0.6, 0.9, 1.0]), np.array([8, 8, 12, 12])
    cal = fit_calibration(predicted, predicted - 0.4, res)  # least squares: intercept -0.4
    assert cal["intercept_ms"] == 0 and all(v > 0 for v in cal["slopes"].values())
    assert np.all(apply_calibration(cal, np.array([0.01, 0.01]), np.array([8, 12])) > 0)


def test_fit_calibration_recovers_one_slope_per_resolution():
    from latency_tables._calibration import apply_calibration, fit_calibration

    rng = np.random.default_rng(0)
    predicted, res = rng.uniform(0.2, 1.0, 40), np.repeat([20, 24, 28, 32], 10)
    slopes = {20: 1.1, 24: 1.2, 28: 0.9, 32: 1.0}
    measured = 0.05 + np.array([slopes[r] for r in res]) * predicted
    cal = fit_calibration(predicted, measured, res)
    assert cal["intercept_ms"] == pytest.approx(0.05) and cal["fit_mape"] < 1e-6
    assert {int(r): round(s, 6) for r, s in cal["slopes"].items()} == slopes
    np.testing.assert_allclose(apply_calibration(cal, predicted, res), measured)
    with pytest.raises(NASError, match="no slope for resolution"):
        apply_calibration(cal, predicted[:1], [36])


def test_a_table_of_some_resolutions_limits_the_search_to_them(tmp_path):
    """`--resolution`: only those blocks are timed; the table still belongs to the whole
    space, refuses archs at other sizes by name, and a search with it samples only its sizes."""
    from nas import SearchConfig, run_search
    from supernet import ConfigError

    space = tiny_space()
    config = BuildConfig(space=space, device="test-cpu", protocol=FAST, calibration_archs=2, passes=1,
                         resolutions=(12,))
    out = tmp_path / "r12.csv"
    table = build_table(config, out, progress=False)
    assert table.meta["resolutions"] == [12] and table.covered_space.resolutions == (12,)
    blocks = len(distinct_blocks(space.with_resolutions([12])))
    assert table.num_blocks == blocks < len(distinct_blocks(space))
    table.check_space(space)  # a table of the whole space's supernet, predictors and searches
    assert table.predict([space.largest(12)])[0] > 0
    with pytest.raises(ArtifactMismatchError, match=r"covers resolutions \[12\] only, not 8"):
        table.predict([space.largest(8)])
    with pytest.raises(ArtifactMismatchError, match="resolutions"):  # a resume with other sizes
        build_table(BuildConfig(space=space, device="test-cpu", protocol=FAST, passes=1), out, resume=True)
    with pytest.raises(NASError, match=r"--resolution.*got \[16\].*\[8, 12\]"):
        build_table(BuildConfig(space=space, device="test-cpu", resolutions=(16,)), tmp_path / "x.csv")
    report = validate_table(LatencyTable.load(out), ValidateConfig(num_archs=2, protocol=FAST))
    assert report["num_archs"] == 2

    space_file = tmp_path / "tiny.json"
    space_file.write_text(json.dumps(space.to_dict()))
    search = dict(space=str(space_file), objectives=("latency", "macs"), table=str(out), strategy="random",
                  budget=12)
    summary = run_search(SearchConfig(**search, out=str(tmp_path / "s")))
    evaluated = pd.read_csv(tmp_path / "s" / "evaluated.csv")
    assert len(evaluated) == 12 and summary["resolutions"] == [12]
    assert {json.loads(a)["resolution"] for a in evaluated["arch"]} == {12}
    with pytest.raises(ConfigError, match=r"--resolution.*got \[8\].*covers only \[12\]"):
        run_search(SearchConfig(**search, resolutions=(8,), out=str(tmp_path / "s8")))
    no_table = {**search, "objectives": ("macs", "params"), "table": None}
    run_search(SearchConfig(**no_table, resolutions=(8,), out=str(tmp_path / "m8")))
    evaluated = pd.read_csv(tmp_path / "m8" / "evaluated.csv")
    assert {json.loads(a)["resolution"] for a in evaluated["arch"]} == {8}
    with pytest.raises(NASError, match=r"--resolution.*got \[9\].*\[8, 12\]"):
        run_search(SearchConfig(**no_table, resolutions=(9,), out=str(tmp_path / "m9")))


def test_a_local_file_never_shadows_a_shipped_table(tmp_path, monkeypatch):
    from latency_tables import LatencyTable, list_tables
    from supernet import ConfigError

    name = list_tables()[0]
    monkeypatch.chdir(tmp_path)
    assert LatencyTable.load(name).meta["device"]  # the shipped one, by name
    (tmp_path / f"{name}.csv").write_text("block,latency_ms\n")
    with pytest.raises(ConfigError, match=f"latency table '{name}' is ambiguous.*give the .csv path"):
        LatencyTable.load(name)
    with pytest.raises(ArtifactMismatchError):  # the local file, asked for by its path, is what is read
        LatencyTable.load(f"{name}.csv")


def test_auto_device_names_tell_machines_apart():
    from latency_tables import LatencyTable, default_device_name, list_tables
    from latency_tables._timing import cpu_isa, device_name
    from supernet.train import cpu_model

    assert device_name("Intel(R) Xeon(R) Processor @ 2.10GHz", 2, "amx") == "xeon-amx-2c"
    assert device_name("AMD EPYC 7B13", 4, "avx2") == "epyc-7b13-avx2-4c"
    here = default_device_name()
    assert here.endswith("c") and (cpu_isa() in here.split("-"))
    for name in list_tables():  # a shipped table of this auto-name was measured on this CPU model
        meta = LatencyTable.load(name, require_complete=False).meta
        assert meta["device"] != here or meta.get("cpu_model") == cpu_model(), name
