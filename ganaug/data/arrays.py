"""The one in-memory form of real training data, whatever the source: ``ImageData``.

Images are ``(N, C, H, W)`` uint8, labels ``(N,)`` int64 in ``[0, K)`` (or None); the helpers
here turn PIL images, arrays and datasets into that form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ImageData",
    "fingerprint",
    "from_items",
    "image_to_uint8_chw",
    "labels_tensor",
    "resize",
    "to_tensors",
]


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


def resize(images: Any, size: tuple[int, int]) -> Any:
    from torchvision.transforms.v2 import functional as TF

    return TF.resize(images, list(size), antialias=True)  # uint8 in, uint8 out


def from_items(items: Any, n: int, source: str, size: tuple[int, int] | None) -> Any:
    """Stack ``items(i) -> (image, label)`` for i < n into uint8 (N, C, H, W) and labels."""
    import torch

    images, labels = [], []
    for i in range(n):
        img, label = items(i)
        t = image_to_uint8_chw(img)
        images.append(resize(t, size) if size is not None and tuple(t.shape[1:]) != size else t)
        labels.append(label)
    if not images:
        raise ValueError(f"{source}: expected at least one image, found 0")
    shapes = sorted({tuple(t.shape) for t in images})
    if len(shapes) > 1:
        raise ValueError(
            f"{source}: expected images of one size, found {len(shapes)} sizes {shapes[:4]}; "
            f"pass --image-size (image_size=) to resize them"
        )
    return torch.stack(images), labels_tensor(labels, source)


def labels_tensor(labels: Any, source: str) -> Any:
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
