"""Dataset sources for training and evaluation.

Fashion-MNIST comes from torchvision's ``FashionMNIST`` reader; since nothing can be downloaded
here, the raw files are taken from Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist/*.gz``) and gunzipped into ``ROOT/FashionMNIST/raw/``.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["default_root", "fashion_mnist", "DEBIAN_FASHION_MNIST"]

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
        tmp = raw / f".{name}.tmp-{os.getpid()}"
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(tmp, raw / name)  # atomic: concurrent processes never see half a file


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
    return FashionMNIST(str(root), train=train, transform=transform,
                        target_transform=target_transform, download=False)
