import itertools
import json

import numpy as np
import pytest
import torch

from supernet import ArchConfig, SpaceError, get_space, list_spaces, load_space
from tests.conftest import tiny_space


def enumerate_archs(space):
    """Brute-force enumeration of every arch of a (tiny) space at its first resolution."""
    per_stage = []
    for _ in range(space.num_stages):
        options = []
        for d in space.depth_choices:
            for ks in itertools.product(space.kernel_choices, repeat=d):
                for es in itertools.product(space.expand_choices, repeat=d):
                    options.append((d, ks, es))
        per_stage.append(options)
    for combo in itertools.product(*per_stage):
        yield ArchConfig(space.resolutions[0], tuple(c[0] for c in combo),
                         tuple(c[1] for c in combo), tuple(c[2] for c in combo))


def test_cardinality_matches_brute_force_enumeration():
    space = tiny_space()
    archs = set(enumerate_archs(space))
    assert space.num_subnets == len(archs)
    assert len({space.encode(a).tobytes() for a in archs}) == len(archs)  # encoding is injective


def test_ofa_mbv3_cardinality_is_the_papers():
    assert get_space("ofa_mbv3").num_subnets == 7371**5


@pytest.mark.parametrize("name", list_spaces())
def test_sampling_json_and_extremes(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(200)]
    for arch in archs:
        assert space.validate(arch) is arch
        assert ArchConfig.from_json(arch.to_json()) == arch
    assert len(set(archs)) > min(190, space.num_subnets * len(space.resolutions) // 3)
    big, small = space.largest(), space.smallest()
    assert big.depths == tuple(space.stage_depths(s)[-1] for s in range(space.num_stages))
    for key, allowed in space.block_choices.items():
        assert all(v == max(allowed) for stage in big.choice(key) for v in stage)
        assert all(v == min(allowed) for stage in small.choice(key) for v in stage)
    for key, positions in space.net_choices.items():
        assert list(big.choice(key)) == [max(p) for p in positions]
    assert small.resolution == min(space.resolutions)
    assert SpaceError.__mro__[1].__name__ == "NASError"


def test_sampling_is_seeded_and_restricted(fmnist_space):
    assert fmnist_space.sample(3) == fmnist_space.sample(3)
    arch = fmnist_space.sample(1, kernels=[7], depths=[4], expands=[6], resolutions=[28])
    assert arch == fmnist_space.largest(28)


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("kernel", 4, "kernel_sizes[0][0]: got 4, allowed values are [3, 5, 7]"),
        ("depth", 5, "depths[1]: got 5, allowed values are [2, 3, 4]"),
        ("resolution", 27, "resolution: got 27, allowed values are [20, 24, 28, 32]"),
        ("expand", 5, "expand_ratios[0][0]: got 5, allowed values are [3, 4, 6]"),
    ],
)
def test_invalid_choices_name_field_value_and_allowed(fmnist_space, field, value, fragment):
    data = fmnist_space.largest(28).to_dict()
    if field == "kernel":
        data["kernel_sizes"][0][0] = value
    elif field == "expand":
        data["expand_ratios"][0][0] = value
    elif field == "resolution":
        data["resolution"] = value
    else:
        data["depths"][1] = value
        data["kernel_sizes"][1] += [7]
        data["expand_ratios"][1] += [6]
    with pytest.raises(SpaceError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        fmnist_space.validate(ArchConfig.from_dict(data))


def test_wrong_number_of_blocks_and_stages(fmnist_space):
    data = fmnist_space.largest().to_dict()
    data["kernel_sizes"][2] = [7, 7, 7]
    with pytest.raises(SpaceError, match=r"kernel_sizes: wrong number of blocks \[4, 4, 3\]"):
        ArchConfig.from_dict(data)
    two_stages = ArchConfig(28, (2, 2), ((3, 3), (3, 3)), ((3, 3), (3, 3)))
    with pytest.raises(SpaceError, match="got 2 stages"):
        fmnist_space.validate(two_stages)
    with pytest.raises(SpaceError, match="expected an object with keys"):
        ArchConfig.from_dict({"resolution": 28})
    with pytest.raises(SpaceError, match="not valid JSON"):
        ArchConfig.from_json("{oops")


def test_mutation_and_crossover_use_only_parent_or_space_choices(fmnist_space):
    rng = np.random.default_rng(0)
    a, b = fmnist_space.sample(rng), fmnist_space.sample(rng)
    assert fmnist_space.mutate(a, rng, prob=0.0, resolution_prob=0.0) == a
    mutated = [fmnist_space.mutate(a, rng, prob=0.5) for _ in range(20)]
    assert sum(m != a for m in mutated) >= 18
    assert fmnist_space.crossover(a, a, rng) == a
    for _ in range(50):
        child = fmnist_space.validate(fmnist_space.crossover(a, b, rng))
        assert child.resolution in (a.resolution, b.resolution)
        for s, d in enumerate(child.depths):
            assert d in (a.depths[s], b.depths[s])
            for i in range(d):
                options = {(p.kernel_sizes[s][i], p.expand_ratios[s][i])
                           for p in (a, b) if i < p.depths[s]}
                assert (child.kernel_sizes[s][i], child.expand_ratios[s][i]) in options


def test_encoding_layout(fmnist_space):
    small = fmnist_space.smallest()
    vec = fmnist_space.encode(small)
    assert vec.shape == (fmnist_space.encoding_size,) and vec.dtype == np.float32
    # two active blocks per stage -> 2 ones each; resolution one-hot -> 1
    assert vec.sum() == 2 * sum(small.depths) + 1
    batch = fmnist_space.encode([small, fmnist_space.largest()])
    np.testing.assert_array_equal(batch[0], vec)
    assert batch[1].sum() == 2 * 12 + 1


def test_user_space_from_yaml_and_json(tmp_path):
    import yaml

    data = tiny_space().to_dict()
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "s.json").write_text(json.dumps(data))
    assert load_space(tmp_path / "s.yaml") == load_space(tmp_path / "s.json") == tiny_space()
    assert get_space(str(tmp_path / "s.json")).hash == tiny_space().hash
    (tmp_path / "bad.json").write_text(json.dumps({**data, "widths": [1]}))
    with pytest.raises(SpaceError, match=r"unknown field\(s\) \['widths'\]"):
        load_space(tmp_path / "bad.json")
    with pytest.raises(SpaceError, match="unknown search space 'nope'"):
        get_space("nope")


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"kernel_choices": (3, 4)}, "kernel_choices"),
        ({"stage_acts": ("relu", "gelu")}, "stage_acts"),
        ({"stage_strides": (1,)}, "stage_strides"),
        ({"resolutions": (16, 12)}, "resolutions"),
    ],
)
def test_invalid_space_fields(override, fragment):
    with pytest.raises(SpaceError, match=f"Space.{fragment}: got"):
        tiny_space(**override)


@pytest.mark.parametrize("name", ["ofa_resnet50", "ofa_proxyless", "fmnist_resnet"])
def test_stages_with_their_own_depths_draw_each_depth_evenly(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(3000)]
    mutated = [space.mutate(a, rng, prob=1.0) for a in archs[:1500]]
    for s in range(space.num_stages):
        for batch in (archs, mutated):
            counts = np.array([sum(a.depths[s] == d for a in batch) for d in space.stage_depths(s)])
            assert counts.min() > 0.8 * counts.mean(), (s, space.stage_depths(s), counts)
    low = min(space.all_depths)
    narrow = space.largest(restrict={"depths": [low]})
    assert narrow.depths == tuple(space.fit_depth(s, low) for s in range(space.num_stages))
    assert {space.sample(rng, depths=[low]).depths for _ in range(20)} == {narrow.depths}


def test_archs_and_supernets_copy_pickle_and_replace():
    import copy
    import dataclasses
    import pickle

    from supernet import Supernet

    space = get_space("fmnist_resnet")
    arch = space.sample(3).with_precision("int8")
    for twin in (pickle.loads(pickle.dumps(arch)), copy.deepcopy(arch)):
        assert twin == arch and hash(twin) == hash(arch) and str(twin) == str(arch)
    moved = dataclasses.replace(arch, resolution=28)
    assert moved == arch.with_resolution(28) and moved.width_mults == arch.width_mults
    net = Supernet(space).eval()
    x = torch.randn(1, 1, 28, 28)
    for twin in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert type(twin) is type(net) and torch.equal(twin(x, moved), net(x, moved))
