"""The compact arch string every summary prints reads back to the same arch, in every
registered family and with precision policies; a malformed one is refused by name; and the
command line's ``--arch`` takes it, ``smallest``, ``largest``, a JSON object or a card."""

from __future__ import annotations

import json

import pytest

from supernet import SpaceError, get_space, list_spaces

SMALL = [n for n in list_spaces() if not n.startswith("ofa_")] + ["ofa_resnet50", "ofa_mbv3"]


@pytest.mark.parametrize("name", SMALL)
def test_every_family_reads_its_own_strings(name):
    space = get_space(name)
    archs = [space.smallest(), space.largest(), *(space.sample(rng=seed) for seed in range(20))]
    for arch in archs:
        assert space.parse_arch(str(arch)) == arch
    mixed = space.with_precision("mixed")
    for seed in range(10):
        arch = mixed.sample(rng=seed)
        assert mixed.parse_arch(str(arch)) == arch


@pytest.mark.parametrize(("text", "fragment"), [
    ("24[k3e3,k3e3|k3e3,k3e3|k3e3,k3e3]", "expected the form"),
    ("r24[k3e3,k3|k3e3,k3e3|k3e3,k3e3]", "block 'k3'"),
    ("r24[k3e3,k3x3|k3e3,k3e3|k3e3,k3e3]", "block 'k3x3'"),
    ("r24[k9e3,k3e3|k3e3,k3e3|k3e3,k3e3]", "allowed values"),
    ("r24[k3e3,k3e3|k3e3,k3e3|k3e3,k3e3]@fif", "precision @fif"),
    ("r24[k3e3,k3e3|k3e3,k3e3|k3e3,k3e3]w(1,1)", "'w' is not a network-level choice"),
])
def test_a_malformed_string_is_refused_by_name(text, fragment):
    with pytest.raises(SpaceError, match=fragment.replace("[", r"\[").replace("(", r"\(")):
        get_space("fmnist_small").parse_arch(text)


def test_the_command_line_arch_forms(tmp_path):
    from nas.cli._export import read_arch
    from supernet import NASError

    space = get_space("fmnist_small")
    arch = space.sample(rng=7)
    assert read_arch("smallest", "pretrained:fmnist_small") == space.smallest()
    assert read_arch("largest", "pretrained:fmnist_small") == space.largest()
    assert read_arch(str(arch), "pretrained:fmnist_small") == arch
    assert read_arch(arch.to_json()) == arch
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"arch": arch.to_dict(), "test_acc": 91.0}))
    assert read_arch(str(card)) == arch
    with pytest.raises(NASError, match="needs --supernet"):
        read_arch(str(arch))
