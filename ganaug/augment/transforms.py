"""``SyntheticReplace``: a torchvision v2 transform that swaps samples for synthetic ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform

from .._images import expect_shape
from ..sources.base import SampleSource
from . import functional as F
from ._forms import detect_form, to_form
from ._seeding import ClassStreams, CoinBlocks, resolve_pool, stream_seed

__all__ = ["SyntheticReplace", "find_labels"]

# Annotations tied to the real image's geometry: they would not describe a synthetic image.
_GEOMETRY = (tv_tensors.BoundingBoxes, tv_tensors.Mask, tv_tensors.Video)
_CPU = torch.device("cpu")
_FLOAT_SLACK = 1e-3  # float images a little outside [0, 1] (rounding) are still [0, 1] images


def _pure_image_tensor(x: Any) -> bool:
    """A plain tensor that can be an image (2-d or more); 0-d and 1-d labels never are."""
    return type(x) is torch.Tensor and x.ndim >= 2


def find_labels(sample: Any) -> Any:
    """torchvision v2's default ``labels_getter`` heuristic, for classification samples.

    The labels are the second item of a tuple or list (``(image, label)``, ``(images,
    labels)``), or, in a dict (or a dict as that second item), the value of the key named
    ``labels`` (any case), else of the first key containing ``label``. An image alone has none
    (None).
    """
    if isinstance(sample, tuple | list):
        if len(sample) < 2:
            return None
        sample = sample[1]
        if not isinstance(sample, Mapping):
            return sample  # an int, a 0-d / (K,) / (B,) / (B, K) tensor
    if not isinstance(sample, Mapping):
        return None  # an image alone: no label
    keys = list(sample.keys())
    for match in (lambda k: k.lower() == "labels", lambda k: "label" in k.lower()):
        key = next((k for k in keys if isinstance(k, str) and match(k)), None)
        if key is not None:
            return sample[key]
    raise ValueError(
        f"could not find the label in the sample: expected a key 'labels' (or one containing "
        f"'label'), found keys {keys}; pass labels_getter=lambda sample: ... to say where it is"
    )


class SyntheticReplace(Transform):
    """With probability ``p``, replace an image by a synthetic image of the same class.

    A torchvision v2 transform. It finds the image as v2 transforms do, by type: a
    ``tv_tensors.Image`` or PIL image, else the first plain tensor of 2 or more dimensions;
    other plain tensors, ints and strings pass through. It finds the label with
    ``labels_getter`` (torchvision's default heuristic, :func:`find_labels`: the second item
    of a tuple, or the ``"labels"`` key of a dict) and leaves it unchanged: the synthetic image
    has the label's class. One sample (PIL image, (C, H, W) tensor) or a batch ((B, C, H, W)
    with labels (B,) or one-hot / soft (B, K), as ``v2.MixUp``). An unconditional source needs
    no label. dtype, device and type are kept. Float images are [0, 1] images, so put it before
    ``v2.Normalize``, or after it with ``normalize=(mean, std)``; a float image plainly outside
    [0, 1] without ``normalize`` is an error. Samples with boxes, masks or videos are refused:
    those annotations would not describe the synthetic image.

    Which rows are replaced and by which synthetic sample is decided from counters (rows seen,
    draws per class; see :mod:`ganaug.augment._seeding`): the same seed gives the same bytes,
    and a batch gives the same result as its rows one by one. Synthetic images come from
    per-class blocks of 128 made on the input's device (or on ``device``), so single samples do
    not cost a generator call each, and each class draws from a pool of ``pool`` images that is
    generated once and then reused, as ``GANAugmented`` keeps its synthetic items across
    epochs: after the pool is full a replaced row costs a copy, not a generator call. Inside
    DataLoader workers the seed is mixed with the worker's seed, so the bytes depend on the
    worker count (each worker has its own stream and its own pool, kept across epochs only with
    ``persistent_workers=True``; an "auto" pool is shared out, ``pool / num_workers`` images per
    class in each, so W workers fill their pools in as many passes as one process); use it as a
    batch transform after the DataLoader, or ``GANAugmented``, for bytes that do not.

    Args:
        source: a SampleSource.
        p: probability that a sample is replaced.
        seed: the decision and sample stream.
        labels_getter: "default" (:func:`find_labels`) or a callable ``sample -> label``.
        normalize: ``(mean, std)`` as ``v2.Normalize``, applied to synthetic [0, 1] images so
            they match normalised float inputs.
        pool: distinct synthetic images per class (draw m of a class is image ``m % pool``):
            "auto" (up to 4096 per class within 256 MiB of uint8 images; see
            :func:`ganaug.augment._seeding.resolve_pool`; in DataLoader workers each keeps its
            share), an int (in each worker), or None for a new image at every draw (a
            generator call per 128 draws of a class, for the whole run).
        device: where synthetic blocks are generated; None: on the input's device. A GPU
            (``"cuda"``) lets a per-sample pipeline of CPU images generate there and copy the
            images back, in the main process only (``num_workers=0``): CUDA cannot start in a
            forked DataLoader worker, and the transform says so there.

    Example:
        >>> to_float = v2.ToDtype(torch.float32, scale=True)
        >>> t = v2.Compose([SyntheticReplace(ganaug.load(), p=0.3), to_float])  # doctest: +SKIP
        >>> image, label = t(image, label)  # doctest: +SKIP
    """

    _transformed_types = (tv_tensors.Image, PIL.Image.Image, _pure_image_tensor)

    def __init__(
        self,
        source: SampleSource,
        *,
        p: float = 0.5,
        seed: int = 0,
        labels_getter: str | Callable[[Any], Any] = "default",
        normalize: tuple[Any, Any] | None = None,
        pool: int | str | None = "auto",
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"expected p in [0, 1], got {p}")
        if labels_getter != "default" and not callable(labels_getter):
            raise ValueError(
                f"expected labels_getter 'default' or a callable, got {labels_getter!r}"
            )
        if normalize is not None:
            F.check_normalize(normalize, source.image_shape[0])
        self.source = source
        self.p = float(p)
        self.seed = int(seed)
        self.labels_getter = find_labels if labels_getter == "default" else labels_getter
        self.normalize = normalize
        self._seen = {"rows": 0}  # rows seen so far (main process, or this worker); a dict, as
        # nn.Module.__setattr__ costs more per call than the rest of the per-sample path
        self.pool = resolve_pool(pool, source)
        # per-class draw counters, cached blocks; an "auto" pool is shared out among workers
        self._streams = ClassStreams(pool=self.pool, share=pool == "auto", device=device)
        self._flips = CoinBlocks()  # the row stream's coin flips, 4096 at a time
        self._pil_ok: set[tuple[str, tuple[int, int]]] = set()  # PIL (mode, size) checked
        self._call: dict[str, Any] = {"label": None}  # the call in progress (a plain dict too)
        self.register_forward_pre_hook(SyntheticReplace._read_label)

    @staticmethod
    def _read_label(module: SyntheticReplace, args: tuple[Any, ...]) -> None:
        """Forward pre-hook: find the label in the whole sample (``forward`` passes only the
        images to ``make_params``)."""
        sample = args if len(args) > 1 else args[0]
        conditional = module.source.num_classes > 0
        module._call["label"] = module.labels_getter(sample) if conditional else None

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        found = sorted({type(x).__name__ for x in flat_inputs if isinstance(x, _GEOMETRY)})
        if found:
            raise ValueError(
                f"SyntheticReplace replaces whole images of a class, but the sample holds "
                f"{', '.join(found)}, which would not describe the synthetic image; use it on "
                f"classification samples (image, label)"
            )

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Decide the replaced rows, their classes and the synthetic sample indices."""
        images = [x for x in flat_inputs if x is not self._call["label"]]
        if len(images) != 1:
            raise ValueError(
                "expected one image in the sample (a tv_tensors.Image, a PIL image, or a tensor "
                f"of 2+ dimensions), found {len(images)}: "
                f"{[type(x).__name__ for x in images]}"
            )
        image = images[0]
        batched = isinstance(image, torch.Tensor) and image.ndim == 4
        self._check_image(image, batched)
        seed = stream_seed(self.seed)
        if not batched:  # the per-sample path in DataLoader workers: no small tensor ops
            return self._one_sample(seed)
        n = image.shape[0]
        rows = self._flips(self._seen["rows"], n, seed, self.p).nonzero().flatten()  # (k,)
        if self.source.num_classes > 0:  # checked on every call, not only when a row is drawn
            classes = self._classes(self._call["label"], batched, n)[rows]
        else:
            classes = torch.full((rows.numel(),), -1, dtype=torch.int64)
        self._seen["rows"] += n
        draws = self._streams.assign(classes)  # (k,) per-class draw numbers
        return {"rows": rows, "classes": classes, "draws": draws, "seed": seed, "batched": batched}

    def _one_sample(self, seed: int) -> dict[str, Any]:
        conditional = self.source.num_classes > 0
        c = self._one_class(self._call["label"]) if conditional else -1  # checked on every call
        chosen = self._flips.one(self._seen["rows"], seed, self.p)
        self._seen["rows"] += 1
        if not chosen:
            return {"rows": [], "batched": False}
        m = self._streams.assign_one(c)
        return {"rows": [c], "classes": [c], "draws": [m], "seed": seed, "batched": False}

    def _one_class(self, label: Any) -> int:
        if isinstance(label, int) and not isinstance(label, bool):
            if not 0 <= label < self.source.num_classes:
                raise ValueError(
                    f"expected a class label in [0, {self.source.num_classes}), got {label}"
                )
            return label
        return int(self._classes(label, False, 1)[0])

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Swap the chosen rows of ``inpt`` for synthetic ones (a new object)."""
        if inpt is self._call["label"]:
            return inpt
        rows = params["rows"]
        if len(rows) == 0:
            return inpt
        device = inpt.device if isinstance(inpt, torch.Tensor) else _CPU
        if params["batched"]:
            synth = self._streams.fetch(
                self.source, params["classes"], params["draws"], params["seed"], device
            )  # (k, C, H, W) uint8 on the input's device
            out = F.replace_rows(inpt, F.match_images(synth, inpt, self.normalize), rows)
            return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.Image) else out
        synth = self._streams.row(
            self.source, params["classes"][0], params["draws"][0], params["seed"], device
        )[None]  # (1, C, H, W): a view of the kept block, copied below
        if isinstance(inpt, torch.Tensor):
            like = inpt if inpt.ndim == 3 else inpt[None]
            out = F.match_images(synth, like[None], self.normalize)[0]
            out = out if inpt.ndim == 3 else out[0]
            return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.Image) else out
        return to_form(synth[0], detect_form(inpt))

    def _check_image(self, image: Any, batched: bool) -> None:
        if isinstance(image, PIL.Image.Image) and self.normalize is None:
            key = (image.mode, image.size)  # a PIL image is uint8-like: only its shape to check
            if key in self._pil_ok:
                return
            self._check_image_shape(image, batched)
            self._pil_ok.add(key)
            return
        self._check_image_shape(image, batched)
        self._check_range(image)

    def _check_image_shape(self, image: Any, batched: bool) -> None:
        shape = tuple(self.source.image_shape)
        if batched:
            F.check_batch(image, shape, what="images")
        else:
            found = (
                (len(image.getbands()), image.height, image.width)
                if isinstance(image, PIL.Image.Image)
                else tuple(image.shape)
            )
            if len(found) == 2:  # an (H, W) tensor or array: one channel
                found = (1, *found)
            expect_shape(found, shape, what="an image (or a batch (B, C, H, W))")

    def _check_range(self, image: Any) -> None:
        """Float images must be [0, 1] images, unless ``normalize`` says how they were scaled."""
        if self.normalize is not None:
            if not (isinstance(image, torch.Tensor) and image.dtype.is_floating_point):
                raise ValueError(
                    f"normalize=(mean, std) is for normalised float images, got "
                    f"{type(image).__name__}"
                    + (f" of dtype {image.dtype}" if isinstance(image, torch.Tensor) else "")
                    + "; drop normalize, or place the transform after v2.Normalize"
                )
            return
        if isinstance(image, torch.Tensor) and image.dtype.is_floating_point and image.numel():
            lo, hi = float(image.min()), float(image.max())
            if lo < -_FLOAT_SLACK or hi > 1.0 + _FLOAT_SLACK:
                raise ValueError(
                    f"expected a float image in [0, 1] (torchvision's convention), found values "
                    f"in [{lo:.3g}, {hi:.3g}]: after v2.Normalize, pass normalize=(mean, std) "
                    f"so synthetic images are normalised the same way, or place the transform "
                    f"before v2.Normalize"
                )

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
        if y.is_floating_point() and y.ndim == 1:
            raise ValueError(f"expected integer class labels, got dtype {y.dtype}")
        return F.hard_classes(y)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_call": {"label": None}}

    def extra_repr(self) -> str:
        return (
            f"source={type(self.source).__name__}, p={self.p}, seed={self.seed}, pool={self.pool}"
            + (f", device={self._streams.device}" if self._streams.device is not None else "")
        )
