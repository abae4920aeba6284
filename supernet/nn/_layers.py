"""Static layers the families build their blocks from: plain torch layers only, so they
export to ONNX as they are."""

from __future__ import annotations

import torch
from torch import nn

from supernet.nn._conv import Conv2d
from supernet.nn._fused import batch_norm_act

__all__ = ["ConvBNAct", "SqueezeExcite", "make_act", "assemble", "init_weights"]


def make_act(name: str | None) -> nn.Module:
    if name is None:
        return nn.Identity()
    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish}[name]()


def assemble(cls: type[nn.Module], **parts) -> nn.Module:
    """An instance of ``cls`` made of the given parts, skipping its fresh initialisation."""
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    for name, part in parts.items():
        setattr(module, name, part)
    return module


@torch.no_grad()
def init_weights(model: nn.Module) -> nn.Module:
    """He-normal (fan-out) convs, unit BN, small-normal classifier: OFA's initialisation."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
            m.bias.zero_()
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            m.bias.zero_()
    return model


class ConvBNAct(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: str | None = "relu") -> None:
        super().__init__()
        self.conv = Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return batch_norm_act(self.bn, self.conv(x), self.act)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = Conv2d(channels, hidden, 1)
        self.expand = Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.relu(self.reduce(x.mean((2, 3), keepdim=True)))
        return x * nn.functional.hardsigmoid(self.expand(scale))
