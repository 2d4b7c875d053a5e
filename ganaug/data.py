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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEBIAN_FASHION_MNIST",
    "ImageData",
    "default_root",
    "fashion_mnist",
    "fingerprint",
    "image_to_uint8_chw",
    "load_dataset",
    "mnist",
    "to_tensors",
]

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
    return FashionMNIST(
        str(root),
        train=train,
        transform=transform,
        target_transform=target_transform,
        download=False,
    )


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
    """A PIL image, HWC/HW uint8 ndarray or CHW tensor (uint8 or float in [0, 1]) -> CHW uint8."""
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


# ---------------------------------------------------------------------------------------------
# Training data sources: one in-memory uint8 form, whatever the source.

NAMED = ("fashion-mnist", "mnist")
H5_SUFFIXES = (".h5", ".hdf5")


@dataclass
class ImageData:
    """A labelled (or unlabelled) image set in memory.

    Args:
        images: (N, C, H, W) uint8.
        labels: (N,) int64 in [0, K), or None for unlabelled data.
        class_names: K names (empty when unlabelled).
        source: where the data came from (for messages and provenance).
    """

    images: Any
    labels: Any | None
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.labels is not None else 0

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def fingerprint(self) -> str:
        return fingerprint(self.images, self.labels)


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


def load_dataset(
    spec: Any,
    *,
    root: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> ImageData:
    """Resolve a data spec to an :class:`ImageData`.

    Args:
        spec: ``"fashion-mnist"`` / ``"mnist"`` (``":test"`` suffix for the test split), a folder
            of images (class sub-folders become labels, as torchvision ``ImageFolder``), an
            ``.h5`` / ``.npz`` file with ``images`` (N, H, W[, C]) and optional ``labels``, or any
            Dataset yielding ``(PIL image | tensor | ndarray, int)``.
        root: where named datasets live (default :func:`default_root`).
        image_size: resize every image to this size (int = square); required for mixed sizes.

    Example:
        >>> data = load_dataset("fashion-mnist")  # doctest: +SKIP
        >>> data.images.shape, data.num_classes
        (torch.Size([60000, 1, 28, 28]), 10)
    """
    size = _check_size(image_size)
    if isinstance(spec, ImageData):
        data = spec
    elif isinstance(spec, (str, os.PathLike)):
        data = _load_path(str(spec), root, size)
    elif hasattr(spec, "__getitem__") and hasattr(spec, "__len__"):
        data = _from_dataset(spec, type(spec).__name__, size)
    else:
        raise ValueError(f"expected a dataset name, path or Dataset, got {type(spec).__name__}")
    if len(data) == 0:
        raise ValueError(f"{data.source}: expected at least one image, found 0")
    if size is not None and tuple(data.images.shape[2:]) != size:
        data.images = _resize(data.images, size)
    data.class_names = _check_labels(data.labels, data.class_names, data.source)
    return data


def _check_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"expected image_size as an int or (H, W) >= 1, got {image_size!r}")
    return int(size[0]), int(size[1])


def _resize(images: Any, size: tuple[int, int]) -> Any:
    from torchvision.transforms.v2 import functional as TF

    return TF.resize(images, list(size), antialias=True)  # uint8 in, uint8 out


def _load_path(
    spec: str, root: str | os.PathLike | None, size: tuple[int, int] | None
) -> ImageData:
    name, _, split = spec.partition(":")
    if name in NAMED:
        if split not in ("", "train", "test"):
            raise ValueError(f"expected {name}, {name}:train or {name}:test, got {spec!r}")
        reader = fashion_mnist if name == "fashion-mnist" else mnist
        ds = reader(root, train=split != "test")
        images, labels = to_tensors(ds)
        return ImageData(images, labels, list(ds.classes), spec)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(
            f"no data at {spec!r}; expected one of {NAMED}, an image folder, or an .h5/.npz file"
        )
    from . import _datafiles

    if path.is_dir():
        return _datafiles.load_folder(path, size)
    if path.suffix.lower() in H5_SUFFIXES:
        return _datafiles.load_h5(path)
    if path.suffix.lower() == ".npz":
        return _datafiles.load_npz(path)
    raise ValueError(f"{path}: expected an image folder or a .h5/.hdf5/.npz file")


def _from_items(items: Any, n: int, source: str, size: tuple[int, int] | None) -> Any:
    """Stack ``items(i) -> (image, label)`` for i < n into uint8 (N, C, H, W) and labels."""
    import torch

    images, labels = [], []
    for i in range(n):
        img, label = items(i)
        t = image_to_uint8_chw(img)
        images.append(_resize(t, size) if size is not None and tuple(t.shape[1:]) != size else t)
        labels.append(label)
    if not images:
        raise ValueError(f"{source}: expected at least one image, found 0")
    shapes = sorted({tuple(t.shape) for t in images})
    if len(shapes) > 1:
        raise ValueError(
            f"{source}: expected images of one size, found {len(shapes)} sizes {shapes[:4]}; "
            f"pass --image-size (image_size=) to resize them"
        )
    return torch.stack(images), _labels_tensor(labels, source)


def _labels_tensor(labels: Any, source: str) -> Any:
    import numpy as np
    import torch

    arr = np.asarray(labels)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)  # 3.0 is the class 3; 2.5 is not a class
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ValueError(
            f"{source}: expected integer class labels 0..K-1 of shape (N,), found dtype "
            f"{arr.dtype} shape {arr.shape} (first values {arr.reshape(-1)[:5].tolist()})"
        )
    return torch.as_tensor(arr.astype(np.int64))


def _from_dataset(ds: Any, source: str, size: tuple[int, int] | None) -> ImageData:
    classes = [str(c) for c in getattr(ds, "classes", None) or []]
    data, targets = getattr(ds, "data", None), getattr(ds, "targets", None)
    if data is not None and targets is not None and getattr(ds, "transform", None) is None:
        images, labels = to_tensors(ds)  # fast path, already one size
        return ImageData(images, _labels_tensor(labels.numpy(), source), classes, source)

    def item(i: int) -> tuple[Any, Any]:
        out = ds[i]
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ValueError(f"{source}: expected items (image, int label), got {type(out)}")
        return out[0], out[1]

    images, labels = _from_items(item, len(ds), source, size)
    return ImageData(images, labels, classes, source)


def _check_labels(labels: Any | None, class_names: list[str], source: str) -> list[str]:
    """Labels must be integers 0..K-1; returns the K class names (default "0".."K-1")."""
    if labels is None:
        return []
    lo, hi = int(labels.min()), int(labels.max())
    k = len(class_names) or hi + 1
    present = set(labels.unique().tolist())
    if lo < 0 or hi >= k or (not class_names and len(present) != k):
        missing = sorted(set(range(max(k, 0))) - present)[:5]
        raise ValueError(
            f"{source}: expected integer labels 0..K-1 ({k} classes), found values in "
            f"[{lo}, {hi}]" + (f" with classes {missing} absent" if missing else "")
        )
    return list(class_names) or [str(i) for i in range(k)]
