"""The family contract and the block families, elastic supernets, static subnet
extraction, costs, BN recalibration, checkpoints, datasets, training and ONNX export.

Subpackages by concern, each with its own face: `supernet.core` (errors, checks, atomic
I/O), `supernet.space` (the family contract), `supernet.spaces` (one subpackage per
family), `supernet.nn` (modules), `supernet.data`, `supernet.train`, `supernet.deploy`.
The names most users need are re-exported here."""

from supernet.core import lazy_face

# any name of the face first imports the block families, which register themselves

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "supernet._checkpoint": (
        "load_checkpoint", "load_pretrained", "load_supernet", "safe_load", "save_checkpoint",
        "supernet_from_payload"
    ),
    "supernet._cost": (
        "Cost", "arch_cost", "block_cost"
    ),
    "supernet._evaluate": (
        "EvalData", "accuracy", "calibrated_subnet", "checkpoint_data_config", "evaluate_accuracy",
        "evaluate_arch", "evaluate_deployed", "load_eval_data", "prepare_subnet"
    ),
    "supernet._import_ofa": (
        "import_ofa",
    ),
    "supernet._peek": (
        "checkpoint_record", "file_hash", "peek_checkpoint"
    ),
    "supernet._pretrained": (
        "PRETRAINED_DIR", "list_pretrained", "pretrained_card", "resolve_checkpoint"
    ),
    "supernet.core": (
        "ArtifactMismatchError", "ConfigError", "DataError", "NASError", "SpaceError"
    ),
    "supernet.data": (
        "DEFAULT_DATA_DIR", "DataConfig", "DataSplits", "ImageData", "TensorLoader", "build_data",
        "load_cifar10", "load_dataset", "load_fashion_mnist", "load_image_folder", "load_npz",
        "resize", "train_val_split"
    ),
    "supernet.deploy": (
        "export_onnx", "onnx_parity", "ort_session"
    ),
    "supernet.nn": (
        "Subnet", "Supernet", "build_block", "recalibrate_bn"
    ),
    "supernet.space": (
        "PRECISIONS", "ArchConfig", "BlockSpec", "Predictor", "SearchSpace", "as_rng",
        "family_class", "get_space", "list_families", "list_spaces", "load_space",
        "precision_parts", "register_block", "register_choice", "register_family", "register_space"
    ),
    "supernet.train": (
        "FINETUNED_NAME", "DistEnv", "FinetuneConfig", "OptimConfig", "PhaseConfig", "TrainConfig",
        "finetune", "init_distributed", "load_finetuned", "load_train_config", "plot_curves",
        "read_metrics", "train"
    ),
}, first="supernet.spaces")
