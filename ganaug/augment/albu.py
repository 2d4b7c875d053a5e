"""albumentations adapter (extra ``albumentations``): ``SyntheticReplace`` for HWC numpy pipelines.

Follows albumentations 2.x conventions for transforms that depend on outside data (the mixing
and domain-adaptation transforms: ``OverlayElements``, ``Mosaic``, ``HistogramMatching``): the
per-sample extra input, here the class label, comes through the data dict under a key named
by the transform and listed in ``targets_as_params``. The SampleSource it holds is not a JSON
value, so serialisation follows albumentations' ``Lambda``: ``to_dict`` writes a named
placeholder and ``A.from_dict(d, nonserializable={name: transform})`` puts the live transform
back (with ``name=None``, ``to_dict`` raises ``NotImplementedError`` as
``BaseDomainAdaptation`` does).

This module is imported only when used: ``from ganaug.augment.albu import SyntheticReplace``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

try:
    import albumentations as A
    from albumentations.core.transforms_interface import BaseTransformInitSchema
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "ganaug.augment.albu needs albumentations: pip install 'ganaug[albumentations]'"
    ) from e

from ..sources.base import SampleSource
from . import functional as F
from ._seeding import ClassStreams, resolve_pool, stream_seed

__all__ = ["SyntheticReplace"]


class SyntheticReplace(A.ImageOnlyTransform):
    """With probability ``p``, replace the image by a synthetic one of the sample's class.

    Call with the label in the data: ``t(image=img, label=3)``; by default the key is found
    as torchvision's ``labels_getter`` does (``label``, ``labels``, else the first key containing
    ``label``), or named with ``label_key``. Images are (H, W, C) or (H, W) numpy arrays, uint8
    (0..255) or float (0..1, or normalised with ``normalize``); the output keeps shape and dtype.
    Whether to apply is albumentations' decision (its seeded ``py_random``), and the synthetic
    stream's seed is albumentations' ``seed`` too (``Compose(seed=...)``, 0 when unseeded).
    The m-th replaced image of class c is draw m of class c (``ganaug.augment._seeding``),
    taken from per-class blocks of 128 generated at once and kept in a per-class pool of
    ``pool`` images, as in the torchvision transform; inside DataLoader workers the seed is
    mixed with the worker's seed, and an "auto" pool is shared out among the workers.

    Args:
        source: a SampleSource.
        label_key: data key holding the class label (int); None: found as above. Unused for an
            unconditional source.
        normalize: ``(mean, std)`` on [0, 1] values, as ``A.Normalize(mean, std,
            max_pixel_value=255)`` makes them, for a transform placed after ``A.Normalize``.
        name: placeholder name for ``to_dict`` (see :meth:`to_dict_private`); None makes
            ``to_dict`` raise ``NotImplementedError``.
        p: probability of replacing.
        pool: distinct synthetic images per class: "auto", an int, or None (see
            :class:`ganaug.augment.SyntheticReplace`).
        device: where synthetic blocks are generated (None: the CPU); ``"cuda"`` generates on
            the GPU and copies the images back, in the main process only (``num_workers=0``).

    Example:
        >>> t = A.Compose([SyntheticReplace(ganaug.load(), p=0.3)], seed=0)  # doctest: +SKIP
        >>> out = t(image=img, label=3)["image"]  # doctest: +SKIP
    """

    class InitSchema(BaseTransformInitSchema):
        source: Any  # pydantic cannot check a Protocol; __init__ does
        label_key: str | None
        name: str | None
        normalize: Any
        pool: Any
        device: Any

    def __init__(
        self,
        source: SampleSource,
        label_key: str | None = None,
        name: str | None = "ganaug_synthetic_replace",
        p: float = 0.5,
        normalize: tuple[Any, Any] | None = None,
        pool: int | str | None = "auto",
        device: str | torch.device | None = None,
    ):
        super().__init__(p=p)
        if normalize is not None:
            F.check_normalize(normalize, source.image_shape[0])
        self.source, self.label_key, self.name = source, label_key, name
        self.normalize = normalize
        self.pool, self.device = resolve_pool(pool, source), device
        # per-class counters and cached blocks; an "auto" pool is shared out among workers
        self._streams = ClassStreams(pool=self.pool, share=pool == "auto", device=device)

    def _label(self, data: dict[str, Any]) -> Any:
        keys = [k for k in data if k not in ("image", "images")]
        if self.label_key is not None:
            found = self.label_key if self.label_key in data else None
        else:
            found = next((k for k in ("label", "labels") if k in data), None)
            found = found or next((k for k in keys if "label" in k.lower()), None)
        if found is None:
            want = repr(self.label_key) if self.label_key else "'label' or 'labels'"
            raise ValueError(
                f"expected the class label under {want} (the source is class-conditional), "
                f"found keys {keys}; pass label_key=... to name it"
            )
        return data[found]

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        img = data["image"] if "image" in data else data["images"][0]
        c, h, w = self.source.image_shape
        hw = tuple(img.shape[:2])
        channels = img.shape[2] if img.ndim == 3 else 1
        if hw != (h, w) or channels != c:
            raise ValueError(
                f"expected an image of shape ({h}, {w}, {c}) (H, W, C), "
                f"got {tuple(img.shape)}: the source makes {(c, h, w)} (C, H, W)"
            )
        self._check_range(img)
        labels = None
        if self.source.num_classes > 0:
            value = self._label(data)
            label = np.asarray(value)
            if label.size != 1 or not np.issubdtype(label.dtype, np.integer):
                raise ValueError(f"expected an integer class label, got {value!r}")
            labels = torch.tensor([int(label.reshape(()))], dtype=torch.int64)
        cls = labels if labels is not None else torch.tensor([-1])
        synth = self._streams.fetch(
            self.source, cls, self._streams.assign(cls), stream_seed(self.seed or 0)
        )  # (1, C, H, W) uint8
        return {"synthetic": synth[0].permute(1, 2, 0).numpy()}  # (H, W, C) uint8

    def apply(
        self, img: np.ndarray, synthetic: np.ndarray | None = None, **params: Any
    ) -> np.ndarray:
        if synthetic is None:
            return img
        out = synthetic if img.ndim == 3 else synthetic[:, :, 0]
        if img.dtype == np.uint8:
            return np.ascontiguousarray(out)
        x01 = out.astype(np.float32) / 255.0
        if self.normalize is not None:
            mean, std = (np.asarray(v, dtype=np.float32) for v in self.normalize)
            x01 = (x01 - mean) / std if img.ndim == 3 else (x01 - mean[0]) / std[0]
        return x01.astype(img.dtype)

    def _check_range(self, img: np.ndarray) -> None:
        if img.dtype == np.uint8:
            if self.normalize is not None:
                raise ValueError(
                    "normalize=(mean, std) is for normalised float images, got uint8; drop "
                    "normalize, or place the transform after A.Normalize"
                )
            return
        if self.normalize is None and img.size and (img.min() < -1e-3 or img.max() > 1 + 1e-3):
            raise ValueError(
                f"expected a float image in [0, 1], found values in [{img.min():.3g}, "
                f"{img.max():.3g}]: after A.Normalize, pass normalize=(mean, std) so synthetic "
                f"images are normalised the same way, or place the transform before A.Normalize"
            )

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("label_key", "name", "normalize", "pool", "device")

    @classmethod
    def is_serializable(cls) -> bool:
        return False  # registered with albumentations' non-serialisable transforms (as Lambda)

    def to_dict_private(self) -> dict[str, Any]:
        """A named placeholder, as albumentations' ``Lambda``: the SampleSource (generator
        weights or an HDF5 file) is not a JSON value. Restore with
        ``A.from_dict(d, nonserializable={name: SyntheticReplace(...)})``."""
        if not self.name:
            raise NotImplementedError(
                "SyntheticReplace cannot be serialised without a name: it holds a SampleSource "
                "(generator weights or an HDF5 file), which is not a JSON value. Pass name=... "
                "and restore with A.from_dict(d, nonserializable={name: SyntheticReplace(...)})"
            )
        return {"__class_fullname__": self.get_class_fullname(), "__name__": self.name}
