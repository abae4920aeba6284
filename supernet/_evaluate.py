"""Evaluating a subnet the one right way: extract it, recalibrate its batch norm on
training images, then measure accuracy."""

from __future__ import annotations

import torch
from torch import nn

from supernet._arch import ArchConfig
from supernet._bn import recalibrate_bn
from supernet._conv import memory_format
from supernet._loader import TensorLoader, resize
from supernet._model import Supernet

__all__ = ["accuracy", "calibrated_subnet", "evaluate_arch"]


@torch.no_grad()
def accuracy(model: nn.Module, loader: TensorLoader, resolution: int,
             device: torch.device | str = "cpu") -> float:
    """Top-1 accuracy in percent of ``model`` (in eval mode) on ``loader`` at ``resolution``
    (inputs in the device's faster layout, `memory_format`)."""
    model.eval()
    correct = total = 0
    for x, y in loader.epoch(0):
        logits = model(resize(x.to(device), resolution).contiguous(memory_format=memory_format(device)))
        correct += int((logits.argmax(1) == y.to(device)).sum())
        total += len(y)
    return 100.0 * correct / max(total, 1)


def calibrated_subnet(model: Supernet, arch: ArchConfig, calib: TensorLoader,
                      device: torch.device | str = "cpu") -> nn.Module:
    """``arch`` extracted from ``model`` with its BN statistics recalibrated on ``calib``
    (training images, no augmentation; 2,000 by default), in eval mode."""
    sub = model.extract(arch).to(device, memory_format=memory_format(device))
    return recalibrate_bn(sub, (resize(x.to(device), arch.resolution).contiguous(
        memory_format=memory_format(device)) for x, _ in calib.epoch(0)))


def evaluate_arch(model: Supernet, arch: ArchConfig, calib: TensorLoader, loader: TensorLoader,
                  device: torch.device | str = "cpu") -> float:
    """Accuracy (%) of ``arch`` extracted from ``model`` after BN recalibration on ``calib``."""
    return accuracy(calibrated_subnet(model, arch, calib, device), loader, arch.resolution, device)
