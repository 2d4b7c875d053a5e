"""``GANAugmented``: a real dataset followed by synthetic items from a SampleSource.

Per-index access is the CPU / DataLoader-worker path (GPU generation belongs after the
DataLoader, in ``SyntheticMixer``; CUDA never starts in a forked worker): synthetic
items are generated in aligned blocks (block b = items ``[b*B, (b+1)*B)``, one
``source.sample(B, labels=..., seed=seed, start=b*B)`` call) and kept in an LRU cache, so neither
sequential nor shuffled access calls the generator once per item.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.utils.data import Subset
from torchvision.datasets.vision import StandardTransform, VisionDataset

from .. import _rng
from .._images import expect_shape
from ..data import image_to_uint8_chw
from ..sources.base import SampleSource
from ._forms import detect_form, to_form
from .sampling import layout_labels, proportional_counts, resolve_sampling_strategy

__all__ = ["GANAugmented", "worker_init_fn"]

_DEFAULT: Any = object()  # "reuse the wrapped dataset's transform"
_LABEL_MODES = ("balanced", "match", "uniform")


def worker_init_fn(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one intra-op thread per worker (no oversubscription).

    ``GANAugmented`` also does this lazily on its first access inside a worker.
    """
    torch.set_num_threads(1)


class GANAugmented(VisionDataset):
    """A dataset of ``len(dataset)`` real items followed by synthetic items from ``source``.

    Synthetic item j (index ``len(dataset) + j``) and its label are a pure function of
    ``(seed, j)``: the same whatever the access order, batch size or DataLoader worker count.

    Args:
        dataset: the real dataset, items ``(image, target)``.
        source: a SampleSource (``ganaug.load(...)``, ``ganaug.H5Dataset``, ...).
        ratio: synthetic items per real item (>= 0).
        n_synthetic: number of synthetic items (>= 0).
        sampling_strategy: balance classes with imbalanced-learn's meanings ("auto",
            "not majority", "minority", "not minority", "all", {class: total}, callable); see
            :mod:`ganaug.augment.sampling`. Exactly one of ratio / n_synthetic / this.
        labels: classes of ratio / n_synthetic items: "balanced" (equal counts, default),
            "match" (the real class proportions) or "uniform" (random per index). Must stay
            None for an unconditional source (its items get target -1).
        seed: the synthetic stream.
        transform, target_transform, transforms: default to the wrapped dataset's; applied to
            real and synthetic items alike. Synthetic images are handed over in the raw form
            of the real ones (PIL, uint8 CHW tensor or HWC array).
        block_size: items per generator call (a multiple of 64 keeps blocks aligned).
        cache_bytes: memory for generated uint8 images. When all synthetic images fit, they
            go to one shared-memory buffer that every DataLoader worker fills and reads (each
            block generated once, kept across epochs); else each process keeps an LRU cache
            of blocks (at least 2).
        device: where blocks are generated; "cpu" inside DataLoader workers.

    Example:
        >>> real = ganaug.data.fashion_mnist(train=True, transform=v2.ToImage())  # doctest: +SKIP
        >>> ds = GANAugmented(real, ganaug.load("fashion-mnist"), ratio=0.5)  # doctest: +SKIP
        >>> loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=2)  # doctest: +SKIP
    """

    def __init__(
        self,
        dataset: Any,
        source: SampleSource,
        *,
        ratio: float | None = None,
        n_synthetic: int | None = None,
        sampling_strategy: str
        | Mapping[int, int]
        | Callable[[Any], Mapping[int, int]]
        | None = None,
        labels: str | None = None,
        seed: int = 0,
        transform: Callable[[Any], Any] | None = _DEFAULT,
        target_transform: Callable[[Any], Any] | None = _DEFAULT,
        transforms: Callable[[Any, Any], Any] | None = _DEFAULT,
        block_size: int = 256,
        cache_bytes: int = 256 << 20,
        device: str | torch.device = "cpu",
    ) -> None:
        _check_args(source, ratio, n_synthetic, sampling_strategy, labels, block_size)
        conditional = source.num_classes > 0
        self.dataset, self.source, self.seed = dataset, source, int(seed)
        self.block_size, self.device = int(block_size), torch.device(device)
        self.labels = (labels or "balanced") if conditional else None
        self.sampling_strategy = sampling_strategy
        self._raw = _raw_view(dataset)
        self._real_labels: torch.Tensor | None = None
        self._setup_transforms(dataset, transform, target_transform, transforms)
        self._probe_real()  # raw image form, shape and class checks
        n = int(n_synthetic) if n_synthetic is not None else 0
        if ratio is not None:
            n = int(round(ratio * len(dataset)))
        self.synthetic_targets = self._layout(n)  # (n_synthetic,) int64, -1 if unconditional
        row_bytes = math.prod(source.image_shape)
        self._capacity = max(2, cache_bytes // max(1, row_bytes * self.block_size))
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._store, self._ready = _shared_store(
            self.n_synthetic, source.image_shape, self.block_size, cache_bytes
        )
        self._in_worker_setup = False

    # ---- construction helpers -------------------------------------------------------------
    def _setup_transforms(
        self, dataset: Any, transform: Any, target_transform: Any, transforms: Any
    ) -> None:
        inner = _inner_attr(dataset, "transforms")
        joint = inner if inner is not None and not isinstance(inner, StandardTransform) else None
        if transforms is _DEFAULT:
            transforms = joint if transform is _DEFAULT and target_transform is _DEFAULT else None
        if transform is _DEFAULT:
            transform = None if joint is not None else _inner_attr(dataset, "transform")
        if target_transform is _DEFAULT:
            target_transform = (
                None if joint is not None else _inner_attr(dataset, "target_transform")
            )
        super().__init__(
            root=None, transforms=transforms, transform=transform, target_transform=target_transform
        )

    def _probe_real(self) -> None:
        if len(self.dataset) == 0:
            raise ValueError("expected a non-empty real dataset, got 0 items")
        img, target = self._raw[0]
        self._form = detect_form(img)
        self._target_is_tensor = isinstance(target, torch.Tensor)
        expect_shape(
            image_to_uint8_chw(img).shape,
            self.source.image_shape,
            what="the dataset's images",
            whose="the source makes",
        )
        k = self.source.num_classes
        if k == 0:
            return
        classes = _inner_attr(self.dataset, "classes")
        n_data = len(classes) if classes is not None else int(self.real_labels().max()) + 1
        if (n_data != k) if classes is not None else (n_data > k):
            raise ValueError(f"the dataset has {n_data} classes but the source makes {k}")

    def _layout(self, n: int) -> torch.Tensor:
        k = self.source.num_classes
        if self.sampling_strategy is not None:
            per_class = resolve_sampling_strategy(
                self.sampling_strategy, self.real_labels(), num_classes=k
            )
            return layout_labels(per_class, self.seed)
        if k == 0:
            return torch.full((n,), -1, dtype=torch.int64)
        if self.labels == "uniform":
            return _rng.randint(torch.arange(n), self.seed, k)
        weights = (
            torch.bincount(self.real_labels(), minlength=k)
            if self.labels == "match"
            else torch.ones(k)
        )
        return layout_labels(proportional_counts(n, weights), self.seed)

    def real_labels(self) -> torch.Tensor:
        """(len(dataset),) int64 real labels: ``dataset.targets`` or read once."""
        if self._real_labels is None:
            targets = _subset_targets(self.dataset)
            if targets is None:
                targets = [int(self._raw[i][1]) for i in range(len(self.dataset))]
            self._real_labels = torch.as_tensor(targets, dtype=torch.int64).reshape(-1).clone()
        return self._real_labels

    # ---- Dataset protocol -----------------------------------------------------------------
    @property
    def n_real(self) -> int:
        return len(self.dataset)

    @property
    def n_synthetic(self) -> int:
        return int(self.synthetic_targets.numel())

    def __len__(self) -> int:
        return self.n_real + self.n_synthetic

    @property
    def targets(self) -> torch.Tensor:
        """(len(self),) int64: real labels, then synthetic ones (e.g. for a weighted sampler)."""
        return torch.cat([self.real_labels(), self.synthetic_targets])

    @property
    def classes(self) -> list[str] | None:
        """The wrapped dataset's class names (else the source's), like torchvision datasets."""
        return _inner_attr(self.dataset, "classes") or list(self.source.class_names) or None

    def is_synthetic(self, index: int) -> bool:
        """Whether item ``index`` is synthetic (index >= the number of real items)."""
        return self._check_index(index) >= self.n_real

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = self._check_index(index)
        if i < self.n_real:
            img, target = self._raw[i]
        else:
            j = i - self.n_real
            b, off = divmod(j, self.block_size)
            img = to_form(self._block(b)[off], self._form)
            target = int(self.synthetic_targets[j])
            target = torch.tensor(target) if self._target_is_tensor else target
        if self.transforms is not None:
            img, target = self.transforms(img, target)
        return img, target

    def _check_index(self, index: int) -> int:
        i = int(index)
        if not 0 <= i < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        return i

    def _block(self, b: int) -> torch.Tensor:
        """uint8 (n_b, C, H, W) CPU images of block b (items [b*B, min((b+1)*B, n)))."""
        lo = b * self.block_size
        hi = min(lo + self.block_size, self.n_synthetic)
        if self._store is not None and self._ready[b]:
            return self._store[lo:hi]
        if b in self._cache:
            self._cache.move_to_end(b)
            return self._cache[b]
        self._worker_setup()
        labels = self.synthetic_targets[lo:hi] if self.source.num_classes else None
        images, _ = self.source.sample(
            hi - lo,
            labels=labels,
            seed=self.seed,
            start=lo,
            batch_size=self.block_size,
            device=self.device,
            output="uint8",
        )
        images = images.to("cpu")
        if self._store is not None:  # visible to every worker and to later epochs
            self._store[lo:hi] = images
            self._ready[b] = True  # after the rows: a reader never sees a half-written block
            return images
        self._cache[b] = images
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return images

    def _worker_setup(self) -> None:
        if self._in_worker_setup or torch.utils.data.get_worker_info() is None:
            return
        if self.device.type != "cpu":
            raise RuntimeError(
                f"GANAugmented generates on {self.device} but is being read in a DataLoader "
                f"worker: CUDA cannot be used in forked workers. Use device='cpu' (the default) "
                f"with num_workers > 0, num_workers=0, or ganaug.SyntheticMixer for GPU batches"
            )
        torch.set_num_threads(1)  # workers share the cores: one thread each
        self._in_worker_setup = True

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()  # blocks are cheap to regenerate, costly to pickle
        state["_in_worker_setup"] = False
        return state

    def extra_repr(self) -> str:
        how = (
            f"sampling_strategy={self.sampling_strategy!r}"
            if self.sampling_strategy is not None
            else f"labels={self.labels}"
        )
        return "\n".join(
            [
                f"Real: {self.n_real} ({type(self.dataset).__name__})",
                f"Synthetic: {self.n_synthetic} ({how}, seed={self.seed})",
                f"Source: {self.source!r}",
            ]
        )


def _check_args(
    source: SampleSource,
    ratio: float | None,
    n_synthetic: int | None,
    sampling_strategy: Any,
    labels: str | None,
    block_size: int,
) -> None:
    """Validate GANAugmented's arguments eagerly, saying what was expected and found."""
    given = {"ratio": ratio, "n_synthetic": n_synthetic, "sampling_strategy": sampling_strategy}
    chosen = [k for k, v in given.items() if v is not None]
    if len(chosen) != 1:
        raise ValueError(
            f"expected exactly one of ratio, n_synthetic, sampling_strategy; got {chosen or 'none'}"
        )
    if ratio is not None and not ratio >= 0:
        raise ValueError(f"expected ratio >= 0 (synthetic items per real item), got {ratio}")
    if n_synthetic is not None and n_synthetic < 0:
        raise ValueError(f"expected n_synthetic >= 0, got {n_synthetic}")
    if block_size <= 0:
        raise ValueError(f"expected block_size > 0, got {block_size}")
    if source.num_classes == 0 and (labels is not None or sampling_strategy is not None):
        raise ValueError(
            "labels / sampling_strategy were given but the source is unconditional "
            "(num_classes=0): it cannot make chosen classes"
        )
    if labels is not None and labels not in _LABEL_MODES:
        raise ValueError(f"expected labels one of {_LABEL_MODES} or None, got {labels!r}")


def _shared_store(
    n: int, shape: tuple[int, ...], block: int, cache_bytes: int
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """All n synthetic images in shared memory (and per-block ready flags) when they fit in
    ``cache_bytes``: DataLoader workers forked from this process (or sent it by torch's
    multiprocessing pickler) fill and read the same buffer, so a block is generated once for
    all workers and epochs. None when they do not fit (then each process keeps an LRU cache).
    """
    if n == 0 or n * math.prod(shape) > cache_bytes:
        return None, None
    store = torch.empty((n, *shape), dtype=torch.uint8).share_memory_()
    ready = torch.zeros(-(-n // block), dtype=torch.bool).share_memory_()
    return store, ready


def _inner_attr(dataset: Any, name: str) -> Any:
    """``dataset.name``, looking through ``Subset`` wrappers (a train/val split keeps its
    base dataset's transform and classes)."""
    while isinstance(dataset, Subset) and not hasattr(dataset, name):
        dataset = dataset.dataset
    return getattr(dataset, name, None)


def _subset_targets(dataset: Any) -> Any:
    """``dataset.targets``, indexed through ``Subset`` wrappers; None when unknown."""
    if isinstance(dataset, Subset) and not hasattr(dataset, "targets"):
        inner = _subset_targets(dataset.dataset)
        if inner is None:
            return None
        return torch.as_tensor(inner)[torch.as_tensor(dataset.indices, dtype=torch.int64)]
    return getattr(dataset, "targets", None)


def _raw_view(dataset: Any) -> Any:
    """A shallow copy of ``dataset`` with its transforms off (items in their raw form)."""
    if isinstance(dataset, Subset):
        return Subset(_raw_view(dataset.dataset), dataset.indices)
    if not any(hasattr(dataset, a) for a in ("transform", "target_transform", "transforms")):
        return dataset
    raw = copy.copy(dataset)
    for attr in ("transform", "target_transform", "transforms"):
        if hasattr(raw, attr):
            setattr(raw, attr, None)
    return raw
