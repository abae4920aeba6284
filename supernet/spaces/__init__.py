"""The block families, one subpackage each; importing this package registers them all."""

from supernet.spaces import mbconv, resnet

__all__ = ["mbconv", "resnet"]
