"""Training: configs (the schedule as data), the trainer (read it top to bottom), the
progressive-shrinking schedule, metric sinks, curves, and data-parallel processes."""

from supernet.train._config import MAX_LR, OptimConfig, PhaseConfig, TrainConfig, load_train_config
from supernet.train._curves import plot_curves, read_metrics
from supernet.train._distributed import (
    DistEnv,
    average_gradients,
    barrier,
    broadcast_state,
    cpu_model,
    device_label,
    init_distributed,
    same_on_all_ranks,
    shutdown_distributed,
)
from supernet.train._finetune import FINETUNED_NAME, FinetuneConfig, finetune, load_finetuned
from supernet.train._schedule import (
    check_phases,
    make_optimizer,
    phase_choices,
    phase_extreme,
    soft_cross_entropy,
    step_archs,
)
from supernet.train._sinks import SINKS, open_sinks, tracking_uri
from supernet.train._trainer import CHECKPOINT_NAME, METRICS_NAME, to_device, train, train_step

__all__ = [
    "average_gradients", "barrier", "broadcast_state", "check_phases", "CHECKPOINT_NAME", "cpu_model",
    "device_label", "DistEnv", "finetune", "FinetuneConfig", "FINETUNED_NAME", "init_distributed",
    "load_finetuned", "load_train_config", "make_optimizer", "MAX_LR", "METRICS_NAME", "open_sinks",
    "OptimConfig", "phase_choices", "phase_extreme", "PhaseConfig", "plot_curves", "read_metrics",
    "same_on_all_ranks", "shutdown_distributed", "SINKS", "soft_cross_entropy", "step_archs", "to_device",
    "tracking_uri", "train", "train_step", "TrainConfig",
]
