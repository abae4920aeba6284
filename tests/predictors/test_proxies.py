"""Zero-cost proxies: each registered proxy scores archs of every small family, seeded and
order-free; GradSign's vectorised per-sample gradients equal a plain loop's; the properties
the papers state hold on cases where they must; ``nas search --predictor proxy:NAME`` runs
a training-free search end to end and refuses what a proxy cannot do."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.cli import main
from predictors import ProxyPredictor, list_proxies, proxy_images
from predictors.proxies import ProxyInput, batch_statistics, gradsign, naswot, random_subnet
from supernet import DataError, NASError, get_space
from supernet.nn import fast_kernels

SMALL = ("fmnist_small", "fmnist_resnet", "fmnist_proxyless")
PROXIES = ("gradsign", "synflow", "naswot", "jacob_cov", "params", "macs")


@pytest.fixture(scope="module")
def images():
    space = get_space("fmnist_small")
    return proxy_images(space, images=12, seed=3)


def test_every_proxy_is_registered():
    assert set(PROXIES) <= set(list_proxies())


@pytest.mark.parametrize("name", SMALL)
def test_every_proxy_scores_every_small_family_seeded_and_order_free(name, images):
    space = get_space(name)
    r = space.resolutions[0]
    archs = [space.smallest(r), space.sample(1)]
    for proxy in PROXIES:
        first = ProxyPredictor(proxy, space, *images, seed=0).predict(archs)
        assert np.isfinite(first).all(), (name, proxy, first)
        again = ProxyPredictor(proxy, space, *images, seed=0).predict(archs[::-1])[::-1]
        np.testing.assert_allclose(again, first, rtol=1e-9, err_msg=f"{name} {proxy}: not seeded per arch")
        if proxy not in ("params", "macs"):  # these two do not depend on the initialisation
            other = ProxyPredictor(proxy, space, *images, seed=1).predict(archs)
            assert not np.allclose(other, first), f"{name} {proxy}: the seed changed nothing"


def test_larger_subnet_scores_higher(images):
    """GradSign and SynFlow sum over parameters and NASWOT over units, so they grow with the
    network (the papers' observation, and why #params is the baseline to beat): the largest
    fmnist_small subnet outscores the smallest, every seed. (jacob_cov measures decorrelation,
    which saturates on a few images whatever the size.)"""
    space = get_space("fmnist_small")
    archs = [space.smallest(28), space.largest(28)]
    for proxy in ("gradsign", "synflow", "naswot", "params", "macs"):
        for seed in range(3):
            small, large = ProxyPredictor(proxy, space, *images, seed=seed).predict(archs)
            assert large > small, (proxy, seed, small, large)


def _item(space, arch, x, y, chunk=16):
    return ProxyInput(space, arch, x, y, lambda: random_subnet(space, arch, 5), chunk)


def test_gradsign_equals_a_loop_over_samples_and_ignores_chunking(images):
    space = get_space("fmnist_small")
    arch = space.sample(4)
    x, y = images[0][:, :, :arch.resolution, :arch.resolution].contiguous(), images[1]
    model = batch_statistics(random_subnet(space, arch, 5))  # BN on each sample's own statistics
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    agree = [torch.zeros_like(w) for w in weights]
    with fast_kernels(False):
        for i in range(len(x)):  # one sample at a time, plain autograd
            grads = torch.autograd.grad(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), weights)
            agree = [a + g.sign() for a, g in zip(agree, grads)]
        want = float(sum(a.abs().sum() for a in agree)) / len(x)
        # equal up to the signs of gradients within float rounding of zero (a few in 10^5)
        five = gradsign(_item(space, arch, x, y, chunk=5))
        twelve = gradsign(_item(space, arch, x, y, chunk=12))
        assert five == pytest.approx(want, rel=1e-4) and twelve == pytest.approx(five, rel=1e-4)


def test_gradsign_is_highest_when_every_sample_agrees(images):
    """Copies of one sample have one gradient: every weight with a non-zero gradient scores 1
    (the maximum); distinct samples disagree somewhere and score less."""
    space = get_space("fmnist_small")
    arch = space.smallest(28)
    x, y = images
    build = _item(space, arch, x, y).build
    copies = ProxyInput(space, arch, x[:1].repeat(8, 1, 1, 1), y[:1].repeat(8), build)
    model = batch_statistics(copies.model)
    with fast_kernels(False):
        weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        grads = torch.autograd.grad(F.cross_entropy(model(x[:1]), y[:1]), weights)
        nonzero = sum(int((g != 0).sum()) for g in grads)
        assert gradsign(copies) == pytest.approx(nonzero)
        assert gradsign(_item(space, arch, x[:8], y[:8])) < nonzero


def test_naswot_sees_identical_images_as_one_region(images):
    space = get_space("fmnist_small")
    arch = space.smallest(28)
    x, y = images
    same = ProxyInput(space, arch, x[:1].repeat(6, 1, 1, 1), y[:1].repeat(6), _item(space, arch, x, y).build)
    with fast_kernels(False):
        assert naswot(same) < naswot(_item(space, arch, x[:6], y[:6])) - 10  # a singular kernel


def test_scores_ignore_precision_and_grad_mode(images):
    space = get_space("fmnist_small").with_precision("mixed")
    arch = space.sample(3)
    for proxy in ("gradsign", "synflow", "jacob_cov"):
        scorer = ProxyPredictor(proxy, space, *images)
        fp32 = scorer.predict([arch.with_precision("fp32")])[0]
        with torch.no_grad():  # the caller's grad mode does not matter
            int8 = ProxyPredictor(proxy, space, *images).predict([arch.with_precision("int8")])[0]
        assert int8 == pytest.approx(fp32, rel=1e-9), proxy


def test_naswot_sees_every_rectifier_of_a_resnet(images):
    """The ResNet bottleneck's output ReLU is a module, so the codes cover it."""
    space = get_space("fmnist_resnet")
    arch = space.smallest(space.resolutions[0])
    model = random_subnet(space, arch, 0)
    calls: list = []
    hooks = [m.register_forward_hook(lambda *_: calls.append(1)) for m in model.modules()
             if isinstance(m, nn.ReLU)]
    relu = torch.relu
    counted: list = []
    torch.relu = lambda *a, **k: (counted.append(1), relu(*a, **k))[1]
    try:
        model.eval()(images[0][:2, :, :arch.resolution, :arch.resolution])
    finally:
        torch.relu = relu
        for h in hooks:
            h.remove()
    assert calls and len(counted) == len(calls)  # every relu ran inside a ReLU module


def test_inherited_weights_score_differently_and_need_the_same_space(images):
    space = get_space("fmnist_small")
    archs = [space.smallest(28), space.largest(28)]
    random = ProxyPredictor("synflow", space, *images).predict(archs)
    inherited = ProxyPredictor("synflow", space, *images, weights="pretrained:fmnist_small").predict(archs)
    assert np.isfinite(inherited).all() and not np.allclose(random, inherited)
    with pytest.raises(DataError, match="a supernet of space 'fmnist_small', not 'fmnist_resnet'"):
        ProxyPredictor("synflow", get_space("fmnist_resnet"), *images, weights="pretrained:fmnist_small")


def test_bad_proxy_inputs_are_refused(images):
    with pytest.raises(NASError, match="unknown zero-cost proxy 'nope'.*gradsign"):
        ProxyPredictor("nope", "fmnist_small", *images)
    with pytest.raises(DataError, match="1-channel images; the space 'ofa_mbv3' takes 3"):
        proxy_images(get_space("ofa_mbv3"), images=4)
    with pytest.raises(DataError, match="expected an integer in"):
        proxy_images(get_space("fmnist_small"), images=1)
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        proxy_images(get_space("fmnist_small"), "mnist")
    with pytest.raises(DataError, match="--proxy-data cifar10:PATH"):
        proxy_images(get_space("fmnist_small"), "cifar10")
    with pytest.raises(NASError, match="chunk=0"):
        ProxyPredictor("naswot", "fmnist_small", *images, chunk=0)
    with pytest.raises(NASError, match="labels must be"):
        ProxyPredictor("naswot", "fmnist_small", images[0], images[1][:3])


def test_training_free_search_end_to_end(tmp_path, capsys):
    out = tmp_path / "search"
    assert main(["search", "--space", "fmnist_small", "--predictor", "proxy:naswot", "--objectives",
                 "accuracy,macs", "--budget", "24", "--proxy-images", "8", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "naswot score (a proxy, not %)" in printed and "not % accuracy" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy_is"].startswith("the zero-cost proxy naswot's score")
    assert summary["evaluated"] == 24 and summary["proxy_images"] == 8
    assert summary["objectives"][0]["source"] == "ProxyPredictor(proxy:naswot)"
    # a proxy score is no percentage: no --accuracy-min
    assert main(["search", "--predictor", "proxy:naswot", "--accuracy-min", "80",
                 "--out", str(tmp_path / "b")]) == 2
    assert "not an accuracy in %" in capsys.readouterr().err
    assert main(["search", "--predictor", "proxy:nope", "--out", str(tmp_path / "c")]) == 2
    assert "proxy:NAME with NAME one of" in capsys.readouterr().err
    assert main(["search", "--predictor", "proxy:", "--out", str(tmp_path / "c")]) == 2
    assert "proxy:NAME with NAME one of" in capsys.readouterr().err
    # proxy settings without a proxy are refused, not ignored
    assert main(["search", "--predictor", "pretrained:fmnist_small", "--proxy-images", "8",
                 "--out", str(tmp_path / "c")]) == 2
    assert "['--proxy-images'] configure" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_warm_started_measured_search(tmp_path, capsys):
    out = tmp_path / "warm"
    assert main(["search", "--measure-accuracy", "pretrained:fmnist_small", "--warm-start", "proxy:params",
                 "--warm-budget", "40", "--objectives", "accuracy,macs", "--budget", "6", "--batch-size", "3",
                 "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["warm_start"] == "proxy:params" and summary["warm_budget"] == 40
    assert summary["evaluated"] == 6
    capsys.readouterr()
    assert main(["search", "--predictor", "pretrained:fmnist_small", "--warm-start", "proxy:params",
                 "--out", str(tmp_path / "x")]) == 2
    assert "unset unless accuracy is measured" in capsys.readouterr().err
