#!/usr/bin/env bash
# Sets the project up on a fresh Debian-like machine: the Fashion-MNIST IDX files,
# a CPU build of torch (installed first, so nothing pulls CUDA wheels), then the project.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dataset-fashion-mnist
fi
PIP="python3 -m pip install -q --disable-pip-version-check"
python3 -c "import torch" 2>/dev/null || $PIP torch==2.13.0
$PIP -e ".[dev,openvino,litert]"  # the other runtimes too, so that their tests run
# MIT's own once-for-all package, only for the test that proves `nas import-ofa` equal to it;
# --no-deps: it asks for torch (present) and imports torchvision only for data loaders
$PIP --no-deps "ofa==0.1.0.post202307202001"
