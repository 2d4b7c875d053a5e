"""Real data for training and evaluation: named sets, image folders, HDF5/NPZ arrays, Datasets.

Every source becomes one in-memory form, :class:`ImageData` (uint8 ``(N, C, H, W)`` images
and int64 labels), through :func:`load_dataset`.
"""

from .arrays import ImageData, fingerprint, image_to_uint8_chw, to_tensors
from .loading import H5_SUFFIXES, load_dataset
from .named import DEBIAN_FASHION_MNIST, NAMED, default_root, digits, fashion_mnist, mnist

__all__ = [
    "DEBIAN_FASHION_MNIST",
    "H5_SUFFIXES",
    "ImageData",
    "NAMED",
    "default_root",
    "digits",
    "fashion_mnist",
    "fingerprint",
    "image_to_uint8_chw",
    "load_dataset",
    "mnist",
    "to_tensors",
]
