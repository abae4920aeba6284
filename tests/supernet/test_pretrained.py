"""The supernets that ship with the project load by name, match their cards, and come with
a predictor fitted on their own accuracies."""

from __future__ import annotations

import pytest
import torch

from predictors import load_predictor
from supernet import (
    ArtifactMismatchError,
    TrainConfig,
    build_data,
    evaluate_arch,
    file_hash,
    list_pretrained,
    load_pretrained,
    load_supernet,
    pretrained_card,
    resolve_checkpoint,
)


def test_unknown_names_are_refused_with_the_shipped_ones():
    with pytest.raises(ArtifactMismatchError, match="no pretrained supernet 'nope'; shipped"):
        load_pretrained("nope")
    with pytest.raises(ArtifactMismatchError, match="no pretrained supernet"):
        resolve_checkpoint("pretrained:../../etc/passwd")
    with pytest.raises(ArtifactMismatchError, match="no pretrained predictor"):
        load_predictor("pretrained:nope")


def test_the_default_supernet_ships():
    assert "fmnist_small" in list_pretrained()


@pytest.mark.parametrize("name", list_pretrained())
def test_the_cards_smallest_subnet_accuracy_is_reproduced(name):
    model, payload = load_pretrained(name)
    figures = pretrained_card(name)["accuracy_pct"]["smallest"]
    arch = model.space.smallest()
    assert str(arch) == figures["arch"]
    config = TrainConfig.from_dict(payload["config"])
    data = build_data(config.data, 256, seed=config.seed)
    # another CPU rounds differently: a few of the 10,000 test images may flip
    assert evaluate_arch(model, arch, data.calib, data.test) == pytest.approx(figures["test"], abs=0.1)


@pytest.mark.parametrize("name", list_pretrained())
def test_pretrained_supernet_matches_its_card_and_predictor(name):
    model, payload = load_pretrained(name)
    card = pretrained_card(name)
    path = resolve_checkpoint(f"pretrained:{name}")
    assert card["file_hash"] == file_hash(f"pretrained:{name}") == file_hash(path)
    assert card["space"] == model.space.name and payload["finished"]
    assert path.stat().st_size == card["bytes"] < 20 * 2**20
    for figures in card["accuracy_pct"].values():
        assert 0 < figures["test"] <= 100 and 0 < figures["validation"] <= 100
    same, _ = load_supernet(f"pretrained:{name}")  # the same by path-like reference
    for a, b in zip(model.state_dict().values(), same.state_dict().values()):
        assert torch.equal(a, b)
    predictor = load_predictor(f"pretrained:{name}", supernet=f"pretrained:{name}", space=model.space)
    archs = [model.space.smallest(), model.space.largest()]
    low, high = predictor.predict(archs)
    assert 0 < low < high <= 100  # the largest subnet is predicted the more accurate


def test_a_checkpoint_peeked_without_torch_holds_what_torch_reads(tmp_path):
    """`peek_checkpoint` (what `nas show` uses) gives every value torch's safe loader gives,
    each tensor as its shape and type, and runs nothing a crafted file asks for."""
    import pickle
    import zipfile

    from supernet import load_checkpoint, peek_checkpoint, save_checkpoint
    from supernet._peek import TensorInfo

    payload = load_checkpoint("pretrained:fmnist_small")
    payload["extra"] = {"half": torch.zeros(2, 3, dtype=torch.float16), "steps": torch.arange(4)}
    save_checkpoint(tmp_path / "c.pt", payload)
    peeked = peek_checkpoint(tmp_path / "c.pt")

    def plain(value):
        if isinstance(value, torch.Tensor):
            return TensorInfo(tuple(value.shape), str(value.dtype).removeprefix("torch."))
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value

    assert plain(payload) == plain(peeked)
    assert peeked["extra"]["half"] == TensorInfo((2, 3), "float16")

    class Boom:
        def __reduce__(self):
            return (print, ("ran code from the file",))

    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as zf:
        zf.writestr("evil/data.pkl", pickle.dumps({"model": Boom(), "space": {}}, protocol=2))
    with pytest.raises(ArtifactMismatchError, match="print, which only torch can read"):
        peek_checkpoint(tmp_path / "evil.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ArtifactMismatchError, match="not readable without torch"):
        peek_checkpoint(tmp_path / "text.pt")
