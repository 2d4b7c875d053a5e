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
from ._seeding import ClassStreams, stream_seed

__all__ = ["SyntheticReplace"]


class SyntheticReplace(A.ImageOnlyTransform):
    """With probability ``p``, replace the image by a synthetic one of the sample's class.

    Call with the label under ``label_key``: ``t(image=img, label=3)``. Images are (H, W, C)
    or (H, W) numpy arrays, uint8 (0..255) or float32 (0..1); the output keeps shape and dtype.
    Whether to apply is albumentations' decision (its seeded ``py_random``), and the synthetic
    stream's seed is albumentations' ``seed`` too (``Compose(seed=...)``, 0 when unseeded).
    The m-th replaced image of class c is draw m of class c (``ganaug.augment._seeding``),
    taken from per-class blocks of 64 generated at once; inside DataLoader workers the seed is
    mixed with the worker's seed.

    Args:
        source: a SampleSource.
        label_key: data key holding the class label (int); unused for an unconditional source.
        name: placeholder name for ``to_dict`` (see :meth:`to_dict_private`); None makes
            ``to_dict`` raise ``NotImplementedError``.
        p: probability of replacing.

    Example:
        >>> t = A.Compose([SyntheticReplace(ganaug.load(), p=0.3)], seed=0)  # doctest: +SKIP
        >>> out = t(image=img, label=3)["image"]  # doctest: +SKIP
    """

    class InitSchema(BaseTransformInitSchema):
        source: Any  # pydantic cannot check a Protocol; __init__ does
        label_key: str
        name: str | None

    def __init__(
        self,
        source: SampleSource,
        label_key: str = "label",
        name: str | None = "ganaug_synthetic_replace",
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.source, self.label_key, self.name = source, label_key, name
        self._streams = ClassStreams()  # per-class counters and cached blocks of 64

    @property
    def targets_as_params(self) -> list[str]:
        return [self.label_key] if self.source.num_classes > 0 else []

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
        labels = None
        if self.source.num_classes > 0:
            label = np.asarray(data[self.label_key])
            if label.size != 1 or not np.issubdtype(label.dtype, np.integer):
                raise ValueError(
                    f"expected an integer class label under {self.label_key!r}, "
                    f"got {data[self.label_key]!r}"
                )
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
        return (out.astype(np.float32) / 255.0).astype(img.dtype)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("label_key", "name")

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
