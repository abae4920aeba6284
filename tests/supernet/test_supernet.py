"""The family contract, for every registered preset of every family (the whole suite
registers the toy family of test_family_toy.py too): the extracted static subnet computes
what the supernet computes, the cost model counts what the static modules hold and run,
and ONNX Runtime computes what PyTorch computes. Then mbconv's own elastic details."""

import numpy as np
import pytest
import torch

from supernet import SpaceError, Supernet, arch_cost, export_onnx, get_space, list_spaces, onnx_parity
from tests.conftest import perturbed_supernet, tiny_space


@pytest.fixture(scope="module", params=list_spaces())
def net(request):
    return perturbed_supernet(get_space(request.param))


def small_res_arch(space, rng):
    """Random arch at one of the two smallest resolutions (keeps ofa_mbv3 fast)."""
    arch = space.sample(rng)
    res = space.resolutions[int(rng.integers(2))]
    return space.validate(arch.with_resolution(res))


@torch.no_grad()
def test_extracted_subnet_equals_supernet_for_50_random_archs(net):
    space, rng = net.space, np.random.default_rng(0)
    for _ in range(50):
        arch = small_res_arch(space, rng)
        x = torch.randn(2, space.in_channels, arch.resolution, arch.resolution)
        expected = net(x, arch)
        assert expected.abs().max() > 1e-2  # outputs of a meaningful scale
        got = net.extract(arch).eval()(x)
        assert (got - expected).abs().max().item() <= 1e-5, str(arch)


@torch.no_grad()
def measured_macs(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of every conv and linear layer, counted from a real forward."""
    macs = []

    def hook(layer, inputs, output):
        per_output = layer.weight[0].numel() if isinstance(layer, torch.nn.Conv2d) else 0
        macs.append(output.numel() * per_output if per_output else layer.weight.numel())

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    module(x)
    for h in handles:
        h.remove()
    return sum(macs)


def test_extracted_module_counts_match_cost_model(net):
    space, rng = net.space, np.random.default_rng(1)
    for arch in [space.largest(), space.smallest(), *(small_res_arch(space, rng) for _ in range(5))]:
        sub = net.extract(arch).eval()
        cost = arch_cost(space, arch)
        assert cost.params == sum(p.numel() for p in sub.parameters())
        x = torch.zeros(1, space.in_channels, arch.resolution, arch.resolution)
        assert cost.macs == measured_macs(sub, x)


def test_peak_memory_grows_with_resolution_and_size(fmnist_space):
    big = [arch_cost(fmnist_space, fmnist_space.largest(r)).peak_memory_bytes
           for r in fmnist_space.resolutions]
    assert big == sorted(big) and big[0] < big[-1]
    small = arch_cost(fmnist_space, fmnist_space.smallest(32)).peak_memory_bytes
    assert 0 < small < big[-1]


@torch.no_grad()
def test_sort_channels_keeps_largest_and_reorders_by_importance():
    space = tiny_space()
    net = perturbed_supernet(space, seed=3)
    big, small = space.largest(), space.smallest(16)
    x = torch.randn(4, 1, 16, 16)
    before_big, before_small = net(x, big), net(x, small)
    net.sort_channels()
    assert torch.allclose(net(x, big), before_big, atol=1e-5)
    assert not torch.allclose(net(x, small), before_small, atol=1e-5)
    for stage in net.stages:
        for block in stage:
            importance = block.project.conv.weight.abs().sum((0, 2, 3))
            assert torch.all(importance[:-1] >= importance[1:])


def test_training_forward_updates_only_active_bn_channels():
    space = tiny_space()
    net = Supernet(space).train()
    small = space.smallest(12)
    bn = net.stages[0][0].expand.bn
    before = bn.running_mean.clone()
    net(torch.randn(8, 1, 12, 12) + 1.0, small)
    active = space.mid_channels(space.first_block_channels, space.expand_choices[0])
    assert not torch.equal(bn.running_mean[:active], before[:active])
    assert torch.equal(bn.running_mean[active:], before[active:])
    assert net.stages[0][1].expand.bn.running_mean.abs().sum() == 0  # block 2 is skipped at depth 1


def test_smaller_kernel_is_transformed_centre_of_the_largest():
    space = tiny_space()
    net = perturbed_supernet(space)
    conv = net.stages[0][0].depthwise.conv
    w = conv.active_weight(conv.out_channels, conv.out_channels, 3)
    centre = conv.weight[:, :, 1:4, 1:4].reshape(-1, 9) @ conv.transforms["3"]
    assert torch.allclose(w.reshape(-1, 9), centre)


def test_input_of_wrong_resolution_is_a_clear_error(fmnist_space):
    net = Supernet(fmnist_space)
    with pytest.raises(SpaceError, match=r"expected \(batch, 1, 24, 24\); resize"):
        net(torch.zeros(1, 1, 28, 28), fmnist_space.largest(24))


@pytest.mark.parametrize("name", list_spaces())
def test_onnx_export_matches_pytorch_with_dynamic_batch(tmp_path, name):
    space = get_space(name)
    net = perturbed_supernet(space, seed=5)
    rng = np.random.default_rng(7)
    for i in range(2):
        arch = small_res_arch(space, rng)
        sub = net.extract(arch)
        path = export_onnx(sub, tmp_path / f"{i}.onnx", (1, space.in_channels, arch.resolution,
                                                          arch.resolution))
        x = torch.randn(3, space.in_channels, arch.resolution, arch.resolution)
        with torch.no_grad():
            scale = max(1.0, float(sub.eval()(x).abs().max()))
        assert onnx_parity(path, sub, x) <= 1e-4 * scale  # float32: relative to the logits' size


@torch.no_grad()
def test_resnet_sort_channels_keeps_largest_and_reorders_middle_channels_by_importance():
    """As MIT's re_organize_middle_weights: conv2's outputs by conv3's weights, conv1's by conv2's."""
    space = get_space("fmnist_resnet")
    net = perturbed_supernet(space, seed=5)
    big = space.largest()
    small = space.make_arch(big.resolution, big.depths,  # the widest widths, the smallest expand ratio
                            {"expand_ratios": [[min(space.expand_choices)] * d for d in big.depths]})
    x = torch.randn(2, space.in_channels, big.resolution, big.resolution)
    before_big, before_small = net(x, big), net(x, small)
    net.sort_channels()
    assert torch.allclose(net(x, big), before_big, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(net(x, small), before_small, atol=1e-4)
    for stage in net.stages:
        for block in stage:
            for reader in (block.conv3, block.conv2):
                importance = reader.conv.weight.abs().sum((0, 2, 3))
                assert torch.all(importance[:-1] >= importance[1:])
