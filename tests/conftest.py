"""Shared fixtures: real supernets whose BN statistics and kernel transforms are perturbed,
so that parity checks exercise every path with outputs of a meaningful scale."""

from __future__ import annotations

import os
import subprocess
import venv
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

from supernet import SearchSpace, Supernet, get_space


def tiny_space(**overrides) -> SearchSpace:
    """A small user-defined space: cheap to build, measure and enumerate."""
    fields = dict(
        name="tiny", in_channels=1, num_classes=4, stem_channels=8, stem_stride=2,
        first_block_channels=8, stage_widths=(8, 16), stage_strides=(1, 2),
        stage_acts=("relu", "hswish"), stage_se=(False, True), kernel_choices=(3, 5),
        expand_choices=(2, 3), depth_choices=(1, 2), resolutions=(12, 16),
        final_expand_channels=32, feature_mix_channels=32,
    )
    fields.update(overrides)
    return SearchSpace(**fields)


@torch.no_grad()
def perturbed_supernet(space: SearchSpace, seed: int = 0) -> Supernet:
    """A supernet in eval mode with random BN statistics/affines and non-identity kernel
    transforms, so no path hides behind an identity."""
    gen = torch.Generator().manual_seed(seed)
    net = Supernet(space)
    for name, tensor in net.state_dict().items():
        if name.endswith("running_var") or name.endswith("bn.weight"):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
        elif name.endswith("running_mean") or name.endswith("bn.bias"):
            tensor.copy_(0.1 * torch.randn(tensor.shape, generator=gen))
        elif ".transforms." in name:
            tensor.add_(0.1 * torch.randn(tensor.shape, generator=gen))
        elif name.startswith("head.classifier.weight"):
            tensor.mul_(30.0)
    return net.eval()


@pytest.fixture(scope="session")
def fmnist_space() -> SearchSpace:
    return get_space("fmnist_small")


def bare_env(tmp_path_factory, package: str) -> Path:
    """The Python of a fresh virtual environment holding ``package`` (at the version installed
    here) and numpy only (pip, as any dependency): what a target device or a deployment
    engineer has; neither torch nor this project."""
    root = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pins = [f"{package}=={version(package)}", f"numpy=={version('numpy')}"]
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return python


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory):
    """A virtual environment with onnxruntime and numpy only (`bare_env`)."""
    return bare_env(tmp_path_factory, "onnxruntime")
