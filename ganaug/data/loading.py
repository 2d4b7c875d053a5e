"""``load_dataset``: any data spec (a name, a folder, a file, a Dataset) -> ``ImageData``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import files
from .arrays import ImageData, from_items, labels_tensor, resize, to_tensors
from .named import NAMED, digits, fashion_mnist, mnist

__all__ = ["load_dataset", "H5_SUFFIXES"]

H5_SUFFIXES = (".h5", ".hdf5")


def load_dataset(
    spec: Any,
    *,
    root: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> ImageData:
    """Resolve a data spec to an :class:`ImageData`.

    Args:
        spec: ``"fashion-mnist"`` / ``"mnist"`` / ``"digits"`` (``":test"`` suffix for the
            test split), a folder
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
        data.images = resize(data.images, size)
    data.class_names = _check_labels(data.labels, data.class_names, data.source)
    return data


def _check_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"expected image_size as an int or (H, W) >= 1, got {image_size!r}")
    return int(size[0]), int(size[1])


def _load_path(
    spec: str, root: str | os.PathLike | None, size: tuple[int, int] | None
) -> ImageData:
    name, _, split = spec.partition(":")
    if name in NAMED:
        if split not in ("", "train", "test"):
            raise ValueError(f"expected {name}, {name}:train or {name}:test, got {spec!r}")
        if name == "digits":
            return digits(train=split != "test")
        reader = fashion_mnist if name == "fashion-mnist" else mnist
        ds = reader(root, train=split != "test")
        images, labels = to_tensors(ds)
        return ImageData(images, labels, list(ds.classes), spec)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(
            f"no data at {spec!r}; expected one of {NAMED}, an image folder, or an .h5/.npz file"
        )
    if path.is_dir():
        return files.load_folder(path, size)
    if path.suffix.lower() in H5_SUFFIXES:
        return files.load_h5(path)
    if path.suffix.lower() == ".npz":
        return files.load_npz(path)
    raise ValueError(f"{path}: expected an image folder or a .h5/.hdf5/.npz file")


def _from_dataset(ds: Any, source: str, size: tuple[int, int] | None) -> ImageData:
    classes = [str(c) for c in getattr(ds, "classes", None) or []]
    data, targets = getattr(ds, "data", None), getattr(ds, "targets", None)
    if data is not None and targets is not None and getattr(ds, "transform", None) is None:
        images, labels = to_tensors(ds)  # fast path, already one size
        return ImageData(images, labels_tensor(labels.numpy(), source), classes, source)

    def item(i: int) -> tuple[Any, Any]:
        out = ds[i]
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ValueError(f"{source}: expected items (image, int label), got {type(out)}")
        return out[0], out[1]

    images, labels = from_items(item, len(ds), source, size)
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
