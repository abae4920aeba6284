"""OFA's accuracy predictor: a multilayer perceptron on the arch encoding (3 hidden layers
of 400 ReLU units), its output bias initialised at the mean accuracy."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from predictors.models._encoded import EncodedPredictor
from predictors.models._registry import register_predictor
from supernet.core import check, is_int, is_num

__all__ = ["MLPPredictor"]


def build_mlp(in_features: int, hidden: int, layers: int) -> nn.Sequential:
    parts: list[nn.Module] = []
    width = in_features
    for _ in range(layers):
        parts += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    parts.append(nn.Linear(width, 1))
    return nn.Sequential(*parts)


@register_predictor
class MLPPredictor(EncodedPredictor):
    """Trained with AdamW on the mean squared error in percentage points for a fixed number
    of gradient ``steps`` (so small training sets are not under-trained), cosine schedule."""

    name = "mlp"

    def __init__(self, *, space, supernet_hash: str | None = None, seed: int = 0, hidden: int = 400,
                 layers: int = 3, steps: int = 2000, batch_size: int = 128, lr: float = 1e-3,
                 weight_decay: float = 1e-4) -> None:
        super().__init__(space=space, supernet_hash=supernet_hash, seed=seed)
        sizes = {"hidden": hidden, "layers": layers, "steps": steps, "batch_size": batch_size}
        for name, value in sizes.items():
            check(is_int(value) and value > 0, f"MLPPredictor.{name}", value, "a positive int")
        check(is_num(lr) and lr > 0, "MLPPredictor.lr", lr, "a positive number")
        check(is_num(weight_decay) and weight_decay >= 0, "MLPPredictor.weight_decay", weight_decay,
              "a number >= 0")
        self.hidden, self.layers, self.steps, self.batch_size = hidden, layers, steps, batch_size
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.net = build_mlp(self.space.encoding_size, hidden, layers)

    def _config(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers, "steps": self.steps,
                "batch_size": self.batch_size, "lr": self.lr, "weight_decay": self.weight_decay}

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # batches of 128 x 400 gain nothing from more, and cores are shared
        try:
            self._train(x, y)
        finally:
            torch.set_num_threads(threads)

    def _train(self, x: np.ndarray, y: np.ndarray) -> None:
        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.net = build_mlp(self.space.encoding_size, self.hidden, self.layers)
        with torch.no_grad():
            self.net[-1].bias.fill_(float(y.mean()))
        xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, self.steps) / self.steps)))
        self.net.train()
        n, bs = len(x), min(self.batch_size, len(x))
        order, pos = torch.randperm(n, generator=gen), 0
        for _ in range(self.steps):
            if pos + bs > n:
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + bs]
            pos += bs
            loss = nn.functional.mse_loss(self.net(xt[idx]).squeeze(1), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        self.net.eval()

    @torch.inference_mode()
    def _predict(self, x: np.ndarray) -> np.ndarray:
        xt = torch.from_numpy(x)
        out = [self.net(chunk).squeeze(1) for chunk in xt.split(16384)] if len(xt) else []
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def _state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        buf = io.BytesIO()
        torch.save(self.net.state_dict(), buf)
        return {"weights": "weights.pt"}, {"weights.pt": buf.getvalue()}

    def _load_state(self, state: dict[str, Any], files: dict[str, Path]) -> None:
        from supernet import safe_load

        weights = safe_load(files[state["weights"]], "MLP predictor weights file (refit the predictor)")
        self.net.load_state_dict(weights)
        self.net.eval()
