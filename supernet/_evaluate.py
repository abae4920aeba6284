"""The one evaluator: a subnet's accuracy measured the one right way (extract it,
recalibrate its batch norm on training images, evaluate), on a loader (`evaluate_arch`,
`accuracy`: training, export, the pretrained cards) or fast, on images held as tensors
with BN folded into the convolutions (`EvalData`, `evaluate_accuracy`: accuracy
collection, measured search), and as deployed, int8 parts quantised (`evaluate_deployed`).

The split, normalisation and calibration images of `load_eval_data` come from
`build_data` with the data config stored in the checkpoint, so they are the trainer's own
definitions."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from supernet.data import DataConfig, TensorLoader, build_data, inference_batch, normalise, resize
from supernet.deploy import export_onnx, onnx_predictions, ort_session, quantize_onnx
from supernet.nn import Supernet, memory_format, recalibrate_bn
from supernet.space import ArchConfig

__all__ = ["EvalData", "accuracy", "calibrated_subnet", "checkpoint_data_config", "evaluate_accuracy",
           "evaluate_arch",
           "evaluate_deployed", "load_eval_data", "prepare_subnet"]


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


class EvalData:
    """BN-calibration images (training split) and the validation split as uint8 (bounded:
    ``calib_images`` and the validation split), normalised and resized per resolution; the
    float copies are kept per resolution while they fit in ``cache_bytes``, else made batch
    by batch (a large image folder)."""

    def __init__(self, calib: torch.Tensor, val: torch.Tensor, labels: torch.Tensor, mean, std, *,
                 calib_batch: int = 250, eval_batch: int = 250, cache_bytes: int = 1 << 30) -> None:
        self.calib, self.val, self.labels = calib, val, labels
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.calib_batch, self.eval_batch, self.cache_bytes = calib_batch, eval_batch, cache_bytes
        self._cache: dict[int, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}

    def to(self, device: str | torch.device) -> EvalData:
        """The same images on ``device`` (the resized copies are made again there)."""
        return EvalData(self.calib.to(device), self.val.to(device), self.labels.to(device),
                        self.mean.to(device), self.std.to(device), calib_batch=self.calib_batch,
                        eval_batch=self.eval_batch, cache_bytes=self.cache_bytes)

    def _prep(self, x: torch.Tensor, resolution: int) -> torch.Tensor:
        x = resize(normalise(x, self.mean, self.std), resolution)
        return x.contiguous(memory_format=memory_format(x.device))

    def at(self, resolution: int):
        """``(calibration batches, validation batches)`` at ``resolution``: lists kept for
        the next call while their floats fit in ``cache_bytes``, else one-pass generators."""
        if resolution in self._cache:
            return self._cache[resolution]
        calib = (self._prep(b, resolution) for b in self.calib.split(self.calib_batch))
        val = (self._prep(b, resolution) for b in self.val.split(self.eval_batch))
        scale = (resolution / self.val.shape[-1]) ** 2
        floats = (len(self.calib) + len(self.val)) * self.val[0].numel() * 4 * scale
        cached = sum(sum(t.numel() for t in part) * 4 for pair in self._cache.values() for part in pair)
        if cached + floats > self.cache_bytes:
            return calib, val
        self._cache[resolution] = (list(calib), list(val))
        return self._cache[resolution]


def checkpoint_data_config(payload: dict[str, Any], calib_images: int,
                data_dir: str | Path | None) -> tuple[DataConfig, int]:
    """The checkpoint's data config (defaults when it has none), with every validation
    image and ``calib_images`` calibration images; and the training seed."""
    stored = payload.get("config") or {}
    cfg = DataConfig(**stored.get("data", {}))
    cfg = dataclasses.replace(cfg, eval_images=None, calib_images=calib_images,
                              path=str(data_dir) if data_dir is not None else cfg.path)
    return cfg, int(stored.get("seed", 0))


def load_eval_data(payload: dict[str, Any], *, calib_images: int = 2000, data_dir=None,
                   calib_batch: int = 250, eval_batch: int = 250) -> EvalData:
    cfg, seed = checkpoint_data_config(payload, calib_images, data_dir)
    splits = build_data(cfg, calib_batch, seed=seed)
    calib, _ = splits.calib.uint8()
    val, labels = splits.val.uint8()
    size = val.shape[-1]
    calib_batch, eval_batch = inference_batch(calib_batch, size), inference_batch(eval_batch, size)
    return EvalData(calib, val, labels, splits.mean, splits.std, calib_batch=calib_batch,
                    eval_batch=eval_batch)


def _fold_bn(model: nn.Module) -> None:
    """Fold every eval-mode BN that follows a conv (a ``conv``/``bn`` pair) into the conv."""
    for module in model.modules():
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            module.conv, module.bn = fuse_conv_bn_eval(conv, bn), nn.Identity()


def prepare_subnet(net: Supernet, arch: ArchConfig, calib: list[torch.Tensor]) -> nn.Module:
    """Extract ``arch``, recalibrate its BN on ``calib`` (batches at its resolution), then
    fold BN into the convs and switch to in-place activations for fast inference. Its
    outputs equal those of the extracted, recalibrated subnet up to float rounding."""
    sub = net.extract(arch)
    sub = sub.to(memory_format=memory_format(next(sub.parameters()).device))
    for module in sub.modules():
        if isinstance(module, (nn.ReLU, nn.Hardswish)):
            module.inplace = True
    recalibrate_bn(sub, calib)
    _fold_bn(sub)
    return sub.eval()


@torch.inference_mode()
def evaluate_accuracy(net: Supernet, arch: ArchConfig, data: EvalData) -> torch.Tensor:
    """Whether each validation image is classified correctly (bool tensor)."""
    calib, val = data.at(arch.resolution)
    sub = prepare_subnet(net, arch, calib)
    pred = torch.cat([sub(b).argmax(1) for b in val])
    return pred == data.labels


QUANT_CALIB_IMAGES = 256  # training images the int8 activation ranges come from (as `nas export`'s default)


@torch.inference_mode()
def evaluate_deployed(net: Supernet, arch: ArchConfig, data: EvalData) -> tuple[torch.Tensor, torch.Tensor]:
    """``(correct, correct_fp32)`` per validation image: ``arch`` as it is deployed (its
    precision policy: int8 parts quantised statically by ONNX Runtime, calibrated on the
    first `QUANT_CALIB_IMAGES` BN-calibration images, run in ONNX Runtime) and its fp32
    twin in torch. For an fp32 arch both are the torch result."""
    calib, val = data.at(arch.resolution)
    sub = prepare_subnet(net, arch, calib)
    correct_fp32 = torch.cat([sub(b).argmax(1) for b in val]).cpu() == data.labels.cpu()
    if not arch.quantized:
        return correct_fp32, correct_fp32
    sub = sub.cpu().to(memory_format=torch.contiguous_format)
    calib, val = data.at(arch.resolution)  # again: for a large split these are one-pass generators
    images = torch.cat(list(calib)).cpu().contiguous()[:QUANT_CALIB_IMAGES].numpy()
    with tempfile.TemporaryDirectory(prefix="nas-qacc-") as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        export_onnx(sub, fp32, (1, *images.shape[1:]), check=False)
        quantize_onnx(fp32, int8, images, block_precisions=net.space.block_precisions(arch))
        session = ort_session(int8, 1)
        inputs = np.concatenate([b.cpu().contiguous().numpy() for b in val])
        predicted = torch.from_numpy(onnx_predictions(session, inputs))
    return predicted == data.labels.cpu(), correct_fp32
