"""Datasets (Fashion-MNIST, CIFAR-10, image folders, npz), their configuration, the
in-memory loader and the streaming image-folder loader."""

from supernet.data._config import DATASETS, DataConfig
from supernet.data._data import DEFAULT_DATA_DIR, load_fashion_mnist, read_idx, train_val_split
from supernet.data._datasets import ImageData, load_cifar10, load_dataset, load_image_folder, load_npz
from supernet.data._loader import DataSplits, TensorLoader, build_data, inference_batch, resize
from supernet.data._stream import IMAGENET_MEAN, IMAGENET_STD, Folder, FolderLoader, normalise, scan_folder

__all__ = [
    "DATASETS", "DEFAULT_DATA_DIR", "IMAGENET_MEAN", "IMAGENET_STD", "DataConfig", "DataSplits", "Folder",
    "FolderLoader", "ImageData", "TensorLoader", "build_data", "inference_batch", "load_cifar10",
    "load_dataset", "load_fashion_mnist", "load_image_folder", "load_npz", "normalise", "read_idx", "resize",
    "scan_folder", "train_val_split",
]
