"""Training data read from files: image folders (``ImageFolder`` layout), HDF5 and NPZ arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .arrays import ImageData, from_items, labels_tensor


def load_folder(path: Path, size: tuple[int, int] | None = None) -> ImageData:
    """Class sub-folders as labels (sorted names, as ``ImageFolder``); resized to ``size``."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    try:
        classes, class_to_idx = find_classes(str(path))
        samples = make_dataset(str(path), class_to_idx, extensions=IMG_EXTENSIONS)
    except FileNotFoundError as e:
        raise ValueError(
            f"{path}: expected an image folder with one sub-folder per class ({e})"
        ) from e

    def item(i: int) -> tuple[Any, int]:
        file, label = samples[i]
        try:
            with Image.open(file) as im:
                im.load()
                return (im if im.mode in ("L", "RGB") else im.convert("RGB")), label
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"{file}: not a readable image ({e})") from e

    images, labels = from_items(item, len(samples), str(path), size)
    return ImageData(images, labels, classes, str(path))


def arrays(images: Any, labels: Any | None, class_names: list[str], source: str) -> ImageData:
    """Arrays as HDF5/NPZ files store them, (N, H, W[, C]) uint8 or float in [0, 1] -> ImageData."""
    import numpy as np
    import torch

    x = np.asarray(images)
    if x.dtype.kind == "f":
        if not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise ValueError(f"{source}: float images must lie in [0, 1]")
        x = np.round(x * 255).astype(np.uint8)
    if x.dtype != np.uint8 or x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3)):
        raise ValueError(
            f"{source}: expected 'images' of shape (N, H, W) or (N, H, W, C) with C in (1, 3), "
            f"uint8, found {x.shape} {x.dtype}"
        )
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
    y = None if labels is None else labels_tensor(np.asarray(labels), source)
    if y is not None and y.shape[0] != t.shape[0]:
        raise ValueError(f"{source}: {t.shape[0]} images but {y.shape[0]} labels")
    return ImageData(t.contiguous(), y, class_names, source)


def load_h5(path: Path) -> ImageData:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "images" not in f:
                raise ValueError(f"{path}: expected a dataset 'images', found {sorted(f.keys())}")
            labels = f["labels"][()] if "labels" in f else None
            names = [
                n.decode() if isinstance(n, bytes) else str(n)
                for n in f.attrs.get("class_names", [])
            ]
            return arrays(f["images"][()], labels, names, str(path))
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from e


def load_npz(path: Path) -> ImageData:
    import numpy as np

    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from e
    if not hasattr(f, "files"):
        raise ValueError(f"{path}: expected an .npz archive with 'images', found a single array")
    with f:
        if "images" not in f:
            raise ValueError(f"{path}: expected an array 'images', found {sorted(f.files)}")
        labels = f["labels"] if "labels" in f else None
        names = [str(n) for n in f["class_names"]] if "class_names" in f else []
        return arrays(f["images"], labels, names, str(path))
