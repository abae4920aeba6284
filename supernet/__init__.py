"""The family contract and the block families, elastic supernets, static subnet
extraction, costs, BN recalibration, checkpoints, datasets, training and ONNX export.

Subpackages by concern, each with its own face: `supernet.core` (errors, checks, atomic
I/O), `supernet.space` (the family contract), `supernet.spaces` (one subpackage per
family), `supernet.nn` (modules), `supernet.data`, `supernet.train`, `supernet.deploy`.
The names most users need are re-exported here."""

from supernet import spaces  # noqa: F401 - registers the families and their presets
from supernet._checkpoint import (
    file_hash,
    load_checkpoint,
    load_pretrained,
    load_supernet,
    save_checkpoint,
    supernet_from_payload,
)
from supernet._cost import Cost, arch_cost, block_cost
from supernet._evaluate import (
    EvalData,
    accuracy,
    calibrated_subnet,
    checkpoint_data_config,
    evaluate_accuracy,
    evaluate_arch,
    evaluate_deployed,
    load_eval_data,
    prepare_subnet,
)
from supernet._import_ofa import import_ofa
from supernet._pretrained import PRETRAINED_DIR, list_pretrained, pretrained_card, resolve_checkpoint
from supernet.core import ArtifactMismatchError, ConfigError, DataError, NASError, SpaceError
from supernet.data import (
    DEFAULT_DATA_DIR,
    DataConfig,
    DataSplits,
    ImageData,
    TensorLoader,
    build_data,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
    load_image_folder,
    load_npz,
    resize,
    train_val_split,
)
from supernet.deploy import export_onnx, onnx_parity, ort_session
from supernet.nn import Subnet, Supernet, build_block, recalibrate_bn
from supernet.space import (
    PRECISIONS,
    ArchConfig,
    BlockSpec,
    Predictor,
    SearchSpace,
    as_rng,
    family_class,
    get_space,
    list_families,
    list_spaces,
    load_space,
    precision_parts,
    register_block,
    register_choice,
    register_family,
    register_space,
)
from supernet.train import (
    FINETUNED_NAME,
    DistEnv,
    FinetuneConfig,
    OptimConfig,
    PhaseConfig,
    TrainConfig,
    finetune,
    init_distributed,
    load_finetuned,
    load_train_config,
    plot_curves,
    read_metrics,
    train,
)

__all__ = [
    "DEFAULT_DATA_DIR", "PRECISIONS", "ArchConfig", "ArtifactMismatchError", "BlockSpec", "Cost", "DataError",
    "NASError", "Predictor", "SearchSpace", "SpaceError", "Subnet", "Supernet", "arch_cost", "as_rng",
    "block_cost", "build_block", "export_onnx", "family_class", "file_hash", "get_space", "import_ofa",
    "list_families", "list_spaces", "list_pretrained", "load_checkpoint", "load_fashion_mnist",
    "load_pretrained",
    "load_space", "load_supernet", "onnx_parity", "precision_parts", "pretrained_card", "register_block",
    "register_choice", "register_family", "register_space", "resolve_checkpoint",
    "ort_session", "recalibrate_bn", "save_checkpoint", "supernet_from_payload", "train_val_split",
    "PRETRAINED_DIR",
    # training and data
    "ConfigError", "DataConfig", "DataSplits", "DistEnv", "EvalData", "checkpoint_data_config",
    "evaluate_accuracy",
    "evaluate_deployed", "load_eval_data", "prepare_subnet", "ImageData", "OptimConfig", "PhaseConfig",
    "TensorLoader", "TrainConfig", "accuracy", "build_data", "calibrated_subnet", "evaluate_arch",
    "init_distributed", "load_cifar10", "load_dataset", "load_image_folder", "load_npz",
    "load_train_config", "plot_curves", "read_metrics", "resize", "train",
    "FINETUNED_NAME", "FinetuneConfig", "finetune", "load_finetuned",
]
