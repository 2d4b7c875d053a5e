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


def to_tensors(dataset: Any) -> tuple[Any, Any]:
    """Read a labelled image dataset once into ``(images (N, C, H, W) uint8, labels (N,) int64)``.

    Fast path for torchvision-style datasets with ``data`` (N, H, W[, C]) uint8 and ``targets``;
    otherwise iterates items ``(PIL image | tensor | HWC ndarray, int)``.
    """
    import numpy as np
    import torch

    data, targets = getattr(dataset, "data", None), getattr(dataset, "targets", None)
    if data is not None and targets is not None and getattr(dataset, "transform", None) is None:
        x = torch.as_tensor(np.asarray(data))
        if x.dtype == torch.uint8 and x.ndim in (3, 4):
            x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
            return x.contiguous(), torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    images, labels = [], []
    for i in range(len(dataset)):
        img, label = dataset[i]
        images.append(image_to_uint8_chw(img))
        labels.append(int(label))
    if not images:
        raise ValueError("expected a non-empty dataset, got 0 items")
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        raise ValueError(f"expected images of one size, found {sorted(shapes)[:4]}; resize them")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def image_to_uint8_chw(img: Any) -> Any:
    """A PIL image, HWC/HW uint8 ndarray or CHW tensor (uint8, or float in [0, 1]) -> (C, H, W) uint8."""
    import numpy as np
    import torch
    from PIL import Image

    if isinstance(img, Image.Image):
        arr = np.asarray(img)
        t = torch.from_numpy(arr.copy())
        return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()
    if isinstance(img, np.ndarray):
        t = torch.from_numpy(img.copy())
        return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()
    if isinstance(img, torch.Tensor):
        t = img[None] if img.ndim == 2 else img
        if t.dtype != torch.uint8:
            t = (t.float() * 255).round().clamp(0, 255).to(torch.uint8)
        return t.contiguous()
    raise ValueError(f"expected a PIL image, numpy array or tensor, got {type(img).__name__}")


def fingerprint(images: Any, labels: Any | None = None) -> str:
    """sha256 (first 16 hex digits) of uint8 images (N, C, H, W) and labels: names a dataset."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    arr = np.ascontiguousarray(np.asarray(images))
    h.update(str((arr.shape, str(arr.dtype))).encode())
    h.update(arr.tobytes())
    if labels is not None:
        h.update(np.ascontiguousarray(np.asarray(labels, dtype=np.int64)).tobytes())
    return h.hexdigest()[:16]
