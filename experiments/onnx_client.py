"""Classify Fashion-MNIST's test set with a model from `nas export`, with onnxruntime and numpy only.

    python onnx_client.py MODEL.onnx [FOLDER]   # FOLDER: the IDX files (Debian's by default)
"""
import gzip
import sys

import numpy as np
import onnxruntime as ort

folder = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
with gzip.open(f"{folder}/t10k-images-idx3-ubyte.gz") as f:  # uint8, 28x28, as the dataset stores them
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
with gzip.open(f"{folder}/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
logits = np.concatenate([session.run(None, {"input": images[i:i + 500]})[0]
                         for i in range(0, len(images), 500)])
print(f"test accuracy {100 * np.mean(logits.argmax(1) == labels):.2f} %")
