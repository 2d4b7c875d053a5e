"""Real data sets known by name: Fashion-MNIST (from Debian's package) and MNIST.

Nothing can be downloaded here, so Fashion-MNIST's raw files are taken from Debian's
``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/*.gz``) and gunzipped
into ``ROOT/FashionMNIST/raw/``, where torchvision's ``FashionMNIST`` reader finds them.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._files import replacing
from .arrays import ImageData

__all__ = ["DEBIAN_FASHION_MNIST", "NAMED", "default_root", "digits", "fashion_mnist", "mnist"]

NAMED = ("fashion-mnist", "mnist", "digits")
DIGITS_TEST = 297  # the last sixth of scikit-learn's 1,797 digits: the held-out test split
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FMNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def default_root() -> Path:
    """``$GANAUG_DATA`` or ``~/.cache/ganaug/data``."""
    return Path(os.environ.get("GANAUG_DATA", Path.home() / ".cache" / "ganaug" / "data"))


def _ensure_fashion_mnist_raw(root: Path) -> None:
    raw = root / "FashionMNIST" / "raw"
    missing = [f for f in _FMNIST_FILES if not (raw / f).exists()]
    if not missing:
        return
    sources = [DEBIAN_FASHION_MNIST / f"{f}.gz" for f in missing]
    absent = [str(s) for s in sources if not s.exists()]
    if absent:
        raise FileNotFoundError(
            f"Fashion-MNIST is not under {raw} and the Debian copies are missing ({absent}); "
            f"install them with `apt-get install -y dataset-fashion-mnist` or place the four "
            f"raw idx files in {raw}"
        )
    raw.mkdir(parents=True, exist_ok=True)
    for name, src in zip(missing, sources, strict=True):
        # atomic: concurrent processes never see half a file
        with replacing(raw / name) as tmp, gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)


def fashion_mnist(
    root: str | os.PathLike | None = None,
    *,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> Any:
    """Real Fashion-MNIST as a torchvision ``FashionMNIST`` dataset (PIL images, int labels).

    Example:
        >>> ds = fashion_mnist(train=False)  # doctest: +SKIP
        >>> len(ds), ds.classes[0]
        (10000, 'T-shirt/top')
    """
    from torchvision.datasets import FashionMNIST

    root = Path(root) if root is not None else default_root()
    _ensure_fashion_mnist_raw(root)
    return FashionMNIST(
        str(root),
        train=train,
        transform=transform,
        target_transform=target_transform,
        download=False,
    )


def mnist(root: str | os.PathLike | None = None, *, train: bool = True) -> Any:
    """Real MNIST from torchvision's ``MNIST`` reader (raw files under ``ROOT/MNIST/raw``)."""
    from torchvision.datasets import MNIST

    root = Path(root) if root is not None else default_root()
    try:
        return MNIST(str(root), train=train, download=False)
    except RuntimeError as e:
        raise FileNotFoundError(
            f"MNIST is not under {root / 'MNIST' / 'raw'} ({e}); place the four raw idx files "
            f"there (nothing is downloaded)"
        ) from e


def digits(*, train: bool = True) -> ImageData:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, works offline).

    Pixels 0..16 become uint8 0..255; the first 1,500 images are the training split, the last
    297 the test split (``digits:test``). Needs ``pip install 'ganaug[digits]'`` (scikit-learn).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "the digits data set comes from scikit-learn: pip install 'ganaug[digits]'"
        ) from e
    import numpy as np
    import torch

    d = load_digits()
    x = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8))[:, None]
    y = torch.from_numpy(d.target.astype(np.int64))
    cut = len(y) - DIGITS_TEST
    rows = slice(0, cut) if train else slice(cut, None)
    names = [str(k) for k in range(10)]
    return ImageData(
        x[rows].contiguous(), y[rows].clone(), names, "digits" + ("" if train else ":test")
    )
