"""Search space, elastic supernet, static subnet extraction, cost model, BN recalibration,
checkpoints, datasets and ONNX export."""

from supernet._arch import PRECISIONS, ArchConfig, precision_parts
from supernet._bn import recalibrate_bn
from supernet._checkpoint import file_hash, load_checkpoint, load_pretrained, load_supernet, save_checkpoint
from supernet._cost import Cost, arch_cost, block_cost
from supernet._curves import plot_curves, read_metrics
from supernet._data import DEFAULT_DATA_DIR, load_fashion_mnist, train_val_split
from supernet._datasets import ImageData, load_cifar10, load_dataset, load_image_folder, load_npz
from supernet._distributed import DistEnv, init_distributed
from supernet._errors import ArtifactMismatchError, DataError, NASError, SpaceError
from supernet._evaluate import accuracy, calibrated_subnet, evaluate_arch
from supernet._import_ofa import import_ofa
from supernet._layout import BlockSpec
from supernet._loader import DataSplits, TensorLoader, build_data, resize
from supernet._model import Supernet
from supernet._onnx import export_onnx, onnx_parity, ort_session
from supernet._presets import get_space, list_spaces, load_space
from supernet._pretrained import list_pretrained, pretrained_card, resolve_checkpoint
from supernet._space import SearchSpace, as_rng
from supernet._static import Subnet, build_block
from supernet._train_config import (
    ConfigError,
    DataConfig,
    OptimConfig,
    PhaseConfig,
    TrainConfig,
    load_train_config,
)
from supernet._trainer import train

__all__ = [
    "DEFAULT_DATA_DIR", "PRECISIONS", "ArchConfig", "ArtifactMismatchError", "BlockSpec", "Cost", "DataError",
    "NASError", "SearchSpace", "SpaceError", "Subnet", "Supernet", "arch_cost", "as_rng",
    "block_cost", "build_block", "export_onnx", "file_hash", "get_space", "import_ofa", "list_spaces",
    "list_pretrained", "load_checkpoint", "load_fashion_mnist", "load_pretrained", "load_space",
    "load_supernet", "onnx_parity", "precision_parts", "pretrained_card", "resolve_checkpoint",
    "ort_session", "recalibrate_bn", "save_checkpoint", "train_val_split",
    # training and data
    "ConfigError", "DataConfig", "DataSplits", "DistEnv", "ImageData", "OptimConfig", "PhaseConfig",
    "TensorLoader", "TrainConfig", "accuracy", "build_data", "calibrated_subnet", "evaluate_arch",
    "init_distributed", "load_cifar10", "load_dataset", "load_image_folder", "load_npz",
    "load_train_config", "plot_curves", "read_metrics", "resize", "train",
]
