"""Torch eager as a timing backend (the threads are set by `time_interleaved`)."""

from __future__ import annotations

import torch

from latency_tables.backends._base import Backend, register_backend


@register_backend
class TorchBackend(Backend):
    name = "torch"

    def version(self) -> str:
        return f"torch {torch.__version__}"

    def runners(self, module, x, *, threads, workdir, name, sessions, cache_key, provider, quantize):
        module = module.eval()

        def run() -> object:
            with torch.inference_mode():
                return module(x)

        return [run] * sessions
