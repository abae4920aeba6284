"""Measured objectives: accuracy of an arch on the validation split, through the supernet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supernet import ArchConfig, NASError

__all__ = ["SupernetAccuracy"]


class SupernetAccuracy:
    """``fn(arch) -> accuracy %`` on the checkpoint's validation split: the arch is
    extracted, its BN recalibrated on ``calib_images`` training images and evaluated, with
    the predictors package's evaluation code (the same that labels predictor data).

    Wrap it in `nas.Measurement` to make it an objective. It is picklable and loads the
    supernet and the data lazily, once per process, so it runs as well in Ray workers."""

    def __init__(self, checkpoint: str | Path, *, calib_images: int = 2000,
                 data_dir: str | Path | None = None, threads: int | None = None) -> None:
        from supernet import resolve_checkpoint

        checkpoint = resolve_checkpoint(checkpoint)
        if not Path(checkpoint).is_file():
            raise NASError(f"SupernetAccuracy: checkpoint={str(checkpoint)!r} does not exist; "
                           "train a supernet first (`nas train`)")
        if not isinstance(calib_images, int) or calib_images <= 0:
            raise NASError(f"SupernetAccuracy: calib_images={calib_images!r}, expected a positive int")
        # absolute paths: Ray workers run in their own trial folders
        self.checkpoint, self.calib_images = str(Path(checkpoint).resolve()), calib_images
        self.data_dir = str(Path(data_dir).resolve()) if data_dir is not None else None
        self.threads = threads
        self._state: tuple[Any, Any] | None = None

    def fingerprint(self) -> str:
        from supernet import file_hash

        return f"supernet:{file_hash(self.checkpoint)}:calib{self.calib_images}"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_state": None}  # workers load their own copy

    def _load(self) -> tuple[Any, Any]:
        if self._state is None:
            import torch

            from supernet import load_eval_data, load_supernet

            if self.threads:
                torch.set_num_threads(self.threads)
            net, payload = load_supernet(self.checkpoint)
            data = load_eval_data(payload, calib_images=self.calib_images, data_dir=self.data_dir)
            self._state = (net.eval(), data)
        return self._state

    def __call__(self, arch: ArchConfig) -> float:
        """Validation accuracy (%) of ``arch`` as deployed: quantised where its policy says int8."""
        from supernet import evaluate_deployed

        net, data = self._load()
        return 100.0 * float(evaluate_deployed(net, arch, data)[0].float().mean())
