"""A block family defined in this one file, the way docs/families.md walks
through it: a plain residual block of two 3x3 convolutions whose inner width is elastic.
It registers itself (family, choice, block kinds, a preset) and then runs the whole chain
with nothing else changed: train one epoch, build a latency table, collect accuracies
(in two worker processes, which find the family through ``NAS_FAMILIES``), fit a
predictor, search under a latency budget and export the pick to ONNX."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from supernet import (
    ArchConfig,
    BlockSpec,
    SearchSpace,
    Subnet,
    Supernet,
    arch_cost,
    build_block,
    get_space,
    register_block,
    register_choice,
    register_family,
    register_space,
)
from supernet.nn import ConvBNAct, ElasticConvBNAct, assemble, init_weights
from supernet.space import check_choices, check_field, conv_cost

WIDTH = register_choice("widths", "w")  # per block: a fraction of the stage's width


class ToyBlock(nn.Module):
    """conv3x3 (to ``mid_channels``) - BN - ReLU - conv3x3 - BN, plus the input when the
    shapes allow, then ReLU."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(spec.in_channels, spec.mid_channels, 3, spec.stride)
        self.conv2 = ConvBNAct(spec.mid_channels, spec.out_channels, 3, act=None)
        self.residual = spec.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return torch.relu(x + y if self.residual else y)


class ToyHead(nn.Module):
    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.classifier = nn.Linear(spec.in_channels, spec.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.mean((2, 3)))


def _block_cost(spec: BlockSpec) -> tuple[int, int, int]:
    r, ro, mid, cout = spec.resolution, spec.out_resolution, spec.mid_channels, spec.out_channels
    p1, m1 = conv_cost(spec.in_channels, mid, 3, ro)
    p2, m2 = conv_cost(mid, cout, 3, ro)
    inp, hidden, out = spec.in_channels * r * r, mid * ro * ro, cout * ro * ro
    peak = max(inp + hidden, hidden + out + (inp if spec.residual else 0))
    return p1 + p2 + 2 * (mid + cout), m1 + m2, peak


def _head_cost(spec: BlockSpec) -> tuple[int, int, int]:
    cin, r = spec.in_channels, spec.resolution
    return cin * spec.out_channels + spec.out_channels, cin * spec.out_channels, cin * r * r + cin


register_block("toy", build=lambda spec, dropout: ToyBlock(spec), cost=_block_cost)
register_block("toy_head", build=lambda spec, dropout: ToyHead(spec), cost=_head_cost, pooled=True)


class ElasticToyBlock(nn.Module):
    """One block position at its widest; any width runs on the leading channels."""

    def __init__(self, cin: int, cout: int, mid: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ElasticConvBNAct(cin, mid, 3, stride)
        self.conv2 = ElasticConvBNAct(mid, cout, 3, act=None)
        self.residual, self.out_channels = stride == 1 and cin == cout, cout

    def forward(self, x: torch.Tensor, mid: int) -> torch.Tensor:
        y = self.conv2(self.conv1(x, mid), self.out_channels)
        return torch.relu(x + y if self.residual else y)

    def materialize(self, spec: BlockSpec) -> ToyBlock:
        return assemble(ToyBlock, conv1=self.conv1.materialize(spec.mid_channels, spec.in_channels),
                        conv2=self.conv2.materialize(spec.out_channels, spec.mid_channels),
                        residual=self.residual)


class ToySupernet(Supernet):
    def __init__(self, space: ToySpace) -> None:
        super().__init__(space)
        stem, *_, head = space.layout(space.largest())
        self.stem, self.head = build_block(stem), build_block(head)
        self.stages = nn.ModuleList(
            nn.ModuleList(ElasticToyBlock(space.block_in(s, i), w, space.mid(w, space.widths[-1]),
                                          space.stage_strides[s] if i == 0 else 1)
                          for i in range(space.max_depth))
            for s, w in enumerate(space.stage_widths))
        init_weights(self)

    def run(self, x: torch.Tensor, arch: ArchConfig) -> torch.Tensor:
        x = self.stem(x)
        for s, i, choice in arch.blocks():
            x = self.stages[s][i](x, self.space.mid(self.space.stage_widths[s], choice[WIDTH]))
        return self.head(x)

    def extract(self, arch: ArchConfig) -> Subnet:
        specs = self.space.layout(arch)
        blocks = [self.stages[s][i].materialize(spec)
                  for (s, i, _), spec in zip(arch.blocks(), specs[1:-1])]
        parts = [copy.deepcopy(self.stem), *blocks, copy.deepcopy(self.head)]
        return Subnet(parts, specs).train(self.training)


@register_family("toyconv")
@dataclass(frozen=True)
class ToySpace(SearchSpace):
    """Stem, stages of `ToyBlock` (depth per stage, inner width per block), pooled head."""

    name: str
    in_channels: int
    num_classes: int
    stem_channels: int
    stage_widths: tuple[int, ...]
    stage_strides: tuple[int, ...]
    widths: tuple[float, ...]
    depths: tuple[int, ...]
    resolutions: tuple[int, ...]
    precisions: tuple[str, ...] = ("fp32",)

    def __post_init__(self) -> None:
        self.check_common()
        check_field(self, len(self.stage_strides) == len(self.stage_widths), "stage_strides",
                    self.stage_strides, "one stride per stage")
        check_choices(self, "widths", self.widths, lambda w: 0 < w <= 1, "fractions in (0, 1]")
        check_choices(self, "depths", self.depths, lambda d: isinstance(d, int) and d > 0, "positive ints")

    @property
    def block_choices(self) -> dict[str, tuple]:
        return {WIDTH: self.widths}

    @property
    def num_stages(self) -> int:
        return len(self.stage_widths)

    def stage_depths(self, stage: int) -> tuple[int, ...]:
        return self.depths

    @classmethod
    def supernet_class(cls) -> type:
        return ToySupernet

    @staticmethod
    def mid(width: int, fraction: float) -> int:
        return max(4, int(round(width * fraction / 4)) * 4)

    def block_in(self, stage: int, index: int) -> int:
        return self.stage_widths[stage] if index else ([self.stem_channels, *self.stage_widths])[stage]

    def layout(self, arch: ArchConfig) -> tuple[BlockSpec, ...]:
        self.validate(arch)
        stem = BlockSpec("stem", arch.resolution, self.in_channels, self.stem_channels, kernel=3, stride=2)
        specs, res = [stem], stem.out_resolution
        for s, i, choice in arch.blocks():
            cin, cout = self.block_in(s, i), self.stage_widths[s]
            stride = self.stage_strides[s] if i == 0 else 1
            spec = BlockSpec("toy", res, cin, cout, kernel=3, stride=stride,
                             mid_channels=self.mid(cout, choice[WIDTH]), residual=stride == 1 and cin == cout)
            specs.append(spec)
            res = spec.out_resolution
        return (*specs, BlockSpec("toy_head", res, self.stage_widths[-1], self.num_classes))


@register_space("toy_fmnist")
def _toy_fmnist() -> ToySpace:
    return ToySpace(name="toy_fmnist", in_channels=1, num_classes=10, stem_channels=8, stage_widths=(8, 16),
                    stage_strides=(1, 2), widths=(0.5, 0.75, 1.0), depths=(1, 2), resolutions=(16, 20))


def test_the_family_is_registered_and_keeps_the_contract():
    space = get_space("toy_fmnist")
    assert space.family == "toyconv" and SearchSpace.from_dict(space.to_dict()) == space
    assert space.to_dict()["family"] == "toyconv"
    assert space.num_subnets == (3 + 9) ** 2
    net = Supernet(space).eval()
    assert isinstance(net, ToySupernet)
    rng = np.random.default_rng(0)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(6))]:
        x = torch.randn(2, 1, arch.resolution, arch.resolution)
        sub = net.extract(arch).eval()
        torch.testing.assert_close(sub(x), net(x, arch), rtol=0, atol=1e-5)
        assert arch_cost(space, arch).params == sum(p.numel() for p in sub.parameters())
        assert str(arch).startswith(f"r{arch.resolution}[w")
        assert ArchConfig.from_json(arch.to_json()) == arch
        child = space.crossover(arch, space.mutate(arch, rng, prob=0.5), rng)
        assert space.validate(child) is child
    assert space.encode([space.largest()]).shape == (1, space.encoding_size)


@pytest.mark.slow
def test_the_whole_chain_runs_on_a_family_of_one_file(tmp_path, monkeypatch, capsys):
    from nas.cli import main

    monkeypatch.setenv("NAS_FAMILIES", "test_family_toy")  # for the collect's worker processes
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({
        "space": "toy_fmnist", "seed": 0,
        "data": {"train_subset": 600, "val_size": 200, "calib_images": 64, "eval_images": 200},
        "train": {"batch_size": 64, "threads": 1, "max_steps_per_epoch": 8},
        "phases": [{"name": "all", "epochs": 1, "lr": 0.05, "subnets_per_step": 2, "sandwich": True,
                    "kd": False}]}))
    run, work = tmp_path / "run", tmp_path / "work"
    assert main(["train", "--config", str(config), "--out", str(run), "--no-progress"]) == 0
    ckpt = run / "supernet.pt"
    table = work / "cpu_t1.csv"
    assert main(["latency", "build", "--space", "toy_fmnist", "--out", str(table), "--rounds", "3",
                 "--passes", "1", "--calibration-archs", "4", "--quiet"]) == 0
    assert main(["collect", "--supernet", str(ckpt), "--num-archs", "24", "--calib-images", "32",
                 "--workers", "2", "--out", str(work / "accuracy.csv"), "--no-progress"]) == 0
    assert len(pd.read_csv(work / "accuracy.csv")) == 24
    assert main(["fit-predictor", "--data", str(work / "accuracy.csv"), "--models", "ridge",
                 "--out", str(work / "fit")]) == 0
    space = get_space("toy_fmnist")
    from latency_tables import LatencyTable

    ms = LatencyTable.load(table).predict([space.smallest(), space.largest()])
    budget = float(ms.mean())
    assert main(["search", "--space", "toy_fmnist", "--predictor", str(work / "fit"), "--table", str(table),
                 "--latency-max", str(budget), "--budget", "80", "--out", str(work / "search")]) == 0
    front = pd.read_csv(work / "search" / "front.csv")
    assert len(front) >= 1 and (front["latency"] <= budget).all()
    capsys.readouterr()
    assert main(["export", "--supernet", str(ckpt), "--front", str(work / "search" / "front.csv"),
                 "--table", str(table), "--out", str(work / "m.onnx")]) == 0
    card = json.loads((work / "m.json").read_text())
    assert card["parity_max_abs_diff"] < 1e-3 and card["arch_str"].startswith("r")
    assert "w" in card["arch_str"] and 0 <= card["test_acc"] <= 100
