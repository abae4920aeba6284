"""A real, tiny collection: a small supernet checkpoint and a slice of Fashion-MNIST made
in tmp_path; measuring, resuming, refusing another setup, parallel workers, and the two
commands from table to a loadable predictor."""

import json

import numpy as np
import pytest
import torch

import supernet
from nas.cli import main as nas_main
from predictors import CollectConfig, collect, load_predictor, read_table
from supernet import ArtifactMismatchError, SearchSpace, Supernet, load_eval_data, prepare_subnet

TINY = dict(name="tiny_fmnist", in_channels=1, num_classes=10, stem_channels=8, stem_stride=2,
            first_block_channels=8, stage_widths=(8, 16), stage_strides=(1, 2),
            stage_acts=("relu", "hswish"), stage_se=(False, True), kernel_choices=(3, 5),
            expand_choices=(2, 3), depth_choices=(1, 2), resolutions=(12, 16),
            final_expand_channels=32, feature_mix_channels=32, dropout=0.0)


def make_checkpoint(folder, seed=0):
    """A tiny supernet whose checkpoint names a .npz slice of Fashion-MNIST as its data."""
    tx, ty, vx, vy = supernet.load_fashion_mnist(supernet.DEFAULT_DATA_DIR)
    npz = folder / "fmnist_slice.npz"
    np.savez(npz, x_train=tx[:400], y_train=ty[:400], x_test=vx[:50], y_test=vy[:50])
    torch.manual_seed(seed)
    space = SearchSpace(**TINY)
    path = folder / f"supernet{seed}.pt"
    supernet.save_checkpoint(path, {
        "model": Supernet(space).state_dict(), "space": space.to_dict(),
        "config": {"seed": 0, "data": {"dataset": "npz", "path": str(npz), "val_size": 100}}})
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt"))


def test_collect_writes_a_table_and_resumes(ckpt, tmp_path):
    out = tmp_path / "acc.csv"
    cfg = dict(supernet=str(ckpt), out=str(out), calib_images=32, chunk_size=2)
    first = collect(CollectConfig(num_archs=3, **cfg), progress=False)
    space = SearchSpace(**TINY)
    assert len(first) == 3
    assert first["accuracy"].between(0, 100).all()
    np.testing.assert_allclose(first["accuracy"], (first["accuracy_a"] + first["accuracy_b"]) / 2)
    archs = [supernet.ArchConfig.from_json(s) for s in first["arch"]]
    assert [a.resolution for a in archs] == list(first["resolution"])
    assert list(first["macs"]) == [supernet.arch_cost(space, a).macs for a in archs]
    enc = np.array([[int(c) for c in s] for s in first["encoding"]], dtype=np.float32)
    np.testing.assert_array_equal(enc, space.encode(archs))

    more = collect(CollectConfig(num_archs=5, **cfg), progress=False)
    assert len(more) == 5 and more["arch"].is_unique
    kept = more.set_index("arch").loc[first["arch"], "seconds"].to_numpy()
    np.testing.assert_array_equal(kept, first["seconds"].to_numpy())  # not measured again
    again = collect(CollectConfig(num_archs=5, **cfg), progress=False)
    assert again.equals(more)

    _, meta = read_table(out)
    assert meta["supernet_hash"] == supernet.file_hash(ckpt) and meta["split"] == "validation"
    assert meta["val_size"] == 100
    with pytest.raises(ArtifactMismatchError, match="calib_images"):
        collect(CollectConfig(num_archs=5, **{**cfg, "calib_images": 16}), progress=False)
    other = make_checkpoint(tmp_path, seed=1)
    with pytest.raises(ArtifactMismatchError, match="supernet_hash"):
        collect(CollectConfig(num_archs=5, **{**cfg, "supernet": str(other)}), progress=False)
    with pytest.raises(ArtifactMismatchError, match="seed=0; this run has seed=7"):  # another plan
        collect(CollectConfig(num_archs=5, seed=7, **cfg), progress=False)
    assert read_table(out)[0].equals(more)  # refused runs changed nothing
    assert list(more["plan_index"]) == sorted(set(more["plan_index"]))  # one row per plan place
    forced = collect(CollectConfig(num_archs=4, seed=7, force=True, **cfg), progress=False)
    assert len(forced) == 4 and read_table(out)[1]["seed"] == 7  # --force: started over


def test_fast_evaluation_equals_extract_and_recalibrate(ckpt):
    net, payload = supernet.load_supernet(ckpt)
    data = load_eval_data(payload, calib_images=32, calib_batch=16)
    arch = net.space.sample(np.random.default_rng(0))
    calib, val = data.at(arch.resolution)
    val = torch.cat(list(val))
    plain = supernet.recalibrate_bn(net.extract(arch), [c.contiguous() for c in calib])
    with torch.no_grad():
        expected = plain(val.contiguous())
        got = prepare_subnet(net, arch, calib)(val)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_two_commands_from_checkpoint_to_predictor(ckpt, tmp_path, capsys):
    table, out = tmp_path / "acc.csv", tmp_path / "pred"
    assert nas_main(["collect", "--supernet", str(ckpt), "--num-archs", "20", "--out", str(table),
                     "--workers", "2", "--calib-images", "32", "--no-progress"]) == 0
    assert len(read_table(table)[0]) == 20
    assert nas_main(["fit-predictor", "--data", str(table), "--models", "ridge,gbt", "--out", str(out),
                     "--test-fraction", "0.25"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]) == {"ridge", "gbt"} and report["best"] in report["models"]
    assert report["n_held_out"] == 5 and report["n_fit"] == 15
    for key in ("rmse_pp", "mae_pp", "kendall_tau", "spearman"):
        assert np.isfinite(report["models"]["ridge"][key])
    assert (out / "pred_vs_true.png").stat().st_size > 0
    best = load_predictor(out, supernet=ckpt, space=SearchSpace(**TINY))
    assert best.name == report["best"]
    assert best.predict([SearchSpace(**TINY).largest()]).shape == (1,)
    with pytest.raises(ArtifactMismatchError, match="supernet"):
        load_predictor(out, supernet=make_checkpoint(tmp_path, seed=2))
    missing = str(tmp_path / "none.csv")
    assert nas_main(["fit-predictor", "--data", missing, "--out", str(tmp_path / "p2")]) == 2
    assert "nas collect" in capsys.readouterr().err
    # an earlier fit's files are kept unless --force; too few archs get a clear error
    assert nas_main(["fit-predictor", "--data", str(table), "--models", "ridge", "--out", str(out)]) == 2
    assert "already exist" in capsys.readouterr().err
    assert nas_main(["fit-predictor", "--data", str(table), "--models", "ridge", "--out", str(out),
                     "--test-fraction", "0.1", "--force"]) == 2
    assert "too few to fit a predictor and score it on 5+ held-out archs" in capsys.readouterr().err
