"""``SyntheticReplace``: a torchvision v2 transform that swaps samples for synthetic ones."""

from __future__ import annotations

from typing import Any

import PIL.Image
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten
from torchvision.transforms.v2 import Transform

from .._images import expect_shape
from ..data import image_to_uint8_chw
from ..sources.base import SampleSource
from . import functional as F
from ._forms import detect_form, to_form
from ._seeding import ClassStreams, coin_flips, stream_seed

__all__ = ["SyntheticReplace"]


class SyntheticReplace(Transform):
    """With probability ``p``, replace an (image, label) by a synthetic image of the same class.

    Call it as ``t(image, label)`` (one sample: PIL image or (C, H, W) tensor) or on a batch
    ``t(images, labels)`` ((B, C, H, W) tensor, labels (B,) or one-hot / soft (B, K)), as
    ``v2.MixUp``. Labels are needed for a conditional source; an unconditional source makes
    images of any class and the label is left as it is (for unlabelled pipelines). dtype and
    device are kept; float images are taken to be in [0, 1], so put it before ``v2.Normalize``.

    Which rows are replaced and by which synthetic sample is decided from counters (rows seen,
    draws per class; see :mod:`ganaug.augment._seeding`): the same seed gives the same bytes,
    and a batch gives the same result as its rows one by one. Synthetic images come from
    per-class blocks of 64 made on the input's device, so single samples do not cost a
    generator call each. Inside DataLoader workers the seed is mixed with the worker's seed.

    Args:
        source: a SampleSource.
        p: probability that a sample is replaced.
        seed: the decision and sample stream.

    Example:
        >>> to_float = v2.ToDtype(torch.float32, scale=True)
        >>> t = v2.Compose([SyntheticReplace(ganaug.load(), p=0.3), to_float])  # doctest: +SKIP
        >>> image, label = t(image, label)  # doctest: +SKIP
    """

    def __init__(self, source: SampleSource, *, p: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"expected p in [0, 1], got {p}")
        self.source = source
        self.p = float(p)
        self.seed = int(seed)
        self._rows = 0  # rows seen so far (main process, or this worker)
        self._streams = ClassStreams()  # per-class draw counters and cached blocks

    def forward(self, *inputs: Any) -> Any:
        flat, spec = tree_flatten(inputs if len(inputs) > 1 else inputs[0])
        i_img = next(
            (i for i, v in enumerate(flat) if isinstance(v, PIL.Image.Image | torch.Tensor)), None
        )
        if i_img is None:
            raise ValueError(
                "expected an image (PIL image or tensor) in the input, found "
                f"{[type(v).__name__ for v in flat]}"
            )
        i_lab = i_img + 1 if i_img + 1 < len(flat) else None
        image, label = flat[i_img], (flat[i_lab] if i_lab is not None else None)
        params = self.make_params([image, label])
        out_img, out_lab = self.transform(image, params), label
        flat = list(flat)
        flat[i_img] = out_img
        if i_lab is not None:
            flat[i_lab] = out_lab
        return tree_unflatten(flat, spec)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Decide the replaced rows, their classes and the synthetic sample indices."""
        image, label = flat_inputs
        batched = isinstance(image, torch.Tensor) and image.ndim == 4
        self._check_image(image, batched)
        n = image.shape[0] if batched else 1
        seed = stream_seed(self.seed)
        rows = coin_flips(self._rows, n, seed, self.p).nonzero().flatten()  # (k,)
        if self.source.num_classes > 0:  # checked on every call, not only when a row is drawn
            classes = self._classes(label, batched, n)[rows]
        else:
            classes = torch.full((rows.numel(),), -1, dtype=torch.int64)
        self._rows += n
        draws = self._streams.assign(classes)  # (k,) per-class draw numbers
        return {"rows": rows, "classes": classes, "draws": draws, "seed": seed, "batched": batched}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Swap the chosen rows of ``inpt`` for synthetic ones (a new object)."""
        rows = params["rows"]
        if rows.numel() == 0:
            return inpt
        device = inpt.device if isinstance(inpt, torch.Tensor) else "cpu"
        synth = self._streams.fetch(
            self.source, params["classes"], params["draws"], params["seed"], device
        )  # (k, C, H, W) uint8 on the input's device
        if params["batched"]:
            return F.replace_rows(inpt, F.match_images(synth, inpt), rows)
        if isinstance(inpt, torch.Tensor):
            like = inpt if inpt.ndim == 3 else inpt[None]
            out = F.match_images(synth, like[None])[0]
            out = out if inpt.ndim == 3 else out[0]
            return type(inpt)(out) if type(inpt) is not torch.Tensor else out
        return to_form(synth[0], detect_form(inpt))

    def _check_image(self, image: Any, batched: bool) -> None:
        shape = tuple(self.source.image_shape)
        if batched:
            F.check_batch(image, shape, what="images")
            return
        found = (
            tuple(image_to_uint8_chw(image).shape)
            if isinstance(image, PIL.Image.Image)
            else tuple(image.shape)
        )
        if len(found) == 2:  # an (H, W) tensor or array: one channel
            found = (1, *found)
        expect_shape(found, shape, what="an image (or a batch (B, C, H, W))")

    def _classes(self, label: Any, batched: bool, n: int) -> torch.Tensor:
        if label is None:
            raise ValueError(
                "the source is class-conditional: call the transform with "
                "(image, label) so the synthetic image gets the same class"
            )
        y = torch.as_tensor(label).detach().to("cpu")
        y = y.reshape(1, *y.shape) if not batched else y
        if y.ndim not in (1, 2) or y.shape[0] != n:
            raise ValueError(
                f"expected labels of shape ({n},) or ({n}, num_classes) for "
                f"{n} image(s), got {tuple(torch.as_tensor(label).shape)}"
            )
        if y.ndim == 2 and y.shape[1] != self.source.num_classes:
            raise ValueError(
                f"expected soft labels with {self.source.num_classes} columns "
                f"(the source's classes), got {y.shape[1]}"
            )
        return F.hard_classes(y)

    def extra_repr(self) -> str:
        return f"source={type(self.source).__name__}, p={self.p}, seed={self.seed}"
