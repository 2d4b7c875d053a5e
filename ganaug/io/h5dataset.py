"""``H5Dataset``: read a ganaug HDF5 export like a torchvision dataset, or sample from it.

The file format (written by :mod:`ganaug.io.exporter`, readable with plain h5py):

- ``/images`` ``(N, H, W, C)`` uint8, chunked along N and compressed (gzip, lzf or none);
- ``/labels`` ``(N,)`` int64, -1 for an unconditional model;
- ``/seeds`` ``(N,)`` int64: the absolute sample index *i* of the row in the seed stream
  ``attrs["seed"]``; ``source.sample(1, labels=[label], seed=seed, start=i)`` regenerates it;
- attributes: ``format`` (``"ganaug-samples"``), ``format_version``, ``ganaug_version``,
  ``model_sha256``, ``model_config`` (JSON), ``class_names`` (JSON), ``num_classes``,
  ``image_shape`` (C, H, W), ``seed``, ``labels`` (the label spec), ``n``, ``options`` (JSON),
  ``job`` (JSON: what makes two exports the same), ``complete`` (True only when finished).

A sharded export's index file holds the same attributes, ``shards`` (JSON list of
``{"file", "start", "stop"}`` with paths relative to the index) and virtual datasets that map
the shards' rows. Opening it checks every shard is present, complete and from the same job, so a
missing shard is an error, never silent fill values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torchvision.datasets.vision import VisionDataset

from .. import _rng
from .._images import to_float
from ..sources.base import LabelSpec, Output, resolve_labels, sample_indices
from .h5format import check_shards, open_h5, read_header

__all__ = ["H5Dataset"]

DEFAULT_CACHE_BYTES = 256 << 20
_OUTPUTS = ("pil", "tensor", "numpy")


class H5Dataset(VisionDataset):
    """A ganaug HDF5 export as a map-style dataset and a SampleSource.

    Items are ``(image, target)`` like torchvision datasets: a PIL image by default (``output=
    "tensor"`` gives a uint8 ``(C, H, W)`` tensor, ``"numpy"`` an ``(H, W, C)`` array) and an int
    class. The file is opened lazily in each process (never a handle inherited across fork), and
    ``__getitems__`` reads a DataLoader batch in one sorted pass.

    Args:
        path: a file written by ``ganaug export`` (or a sharded export's index file).
        transform: applied to each image.
        target_transform: applied to each target.
        transforms: applied to ``(image, target)`` together (instead of the two above).
        output: "pil", "tensor" or "numpy".
        cache_bytes: a file whose images take at most this many bytes is read whole, in one
            sequential pass, on first access in each process and then served from memory;
            larger files are read chunk by chunk, only the chunks a batch needs.

    Example:
        >>> ds = H5Dataset("synthetic.h5", transform=v2.ToImage())  # doctest: +SKIP
        >>> loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=2)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        *,
        transforms: Callable[[Any, Any], Any] | None = None,
        output: Literal["pil", "tensor", "numpy"] = "pil",
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if output not in _OUTPUTS:
            raise ValueError(f"expected output one of {_OUTPUTS}, got {output!r}")
        self.path = Path(path)
        if self.path.name.endswith(".partial") and self.path.is_dir():
            raise ValueError(
                f"{self.path} is an unfinished export's working folder; run the export command "
                f"again to finish it and open {self.path.name[: -len('.partial')]}"
            )
        super().__init__(str(self.path.parent), transforms, transform, target_transform)
        self.output, self.cache_bytes = output, int(cache_bytes)
        with open_h5(self.path) as f:
            self.attrs = read_header(f, self.path)
            self._labels = f["labels"][:].astype(np.int64)
            self._hwc = tuple(int(s) for s in f["images"].shape[1:])
            # a sharded index is virtual (unchunked): its shards use the job's chunk rows
            self._chunk_rows = int((f["images"].chunks or [self.attrs["job"]["chunk_rows"]])[0])
        self._file: tuple[Any, Any] | None = None  # (h5py.File, its /images), per process
        self._pid: int | None = None
        self._mem: np.ndarray | None = None
        self._rows_by_class: dict[int, np.ndarray] = {}

    # SampleSource / torchvision attributes
    @property
    def image_shape(self) -> tuple[int, int, int]:
        h, w, c = self._hwc
        return (c, h, w)

    @property
    def num_classes(self) -> int:
        return int(self.attrs["num_classes"])

    @property
    def class_names(self) -> list[str]:
        return list(self.attrs["class_names"])

    @property
    def classes(self) -> list[str]:
        return self.class_names

    @property
    def targets(self) -> torch.Tensor:
        """(N,) int64 labels, like torchvision ``FashionMNIST.targets``."""
        return torch.from_numpy(self._labels.copy())

    @property
    def sha256(self) -> str | None:
        """The model file's sha256 recorded in the export."""
        return self.attrs.get("model_sha256") or None

    def describe(self) -> dict[str, Any]:
        """What identifies this source in an export's job: the job that made the file."""
        return {"h5_job": self.attrs["job"]}

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.attrs.get("model_config") or {})

    def __len__(self) -> int:
        return len(self._labels)

    def _images(self) -> Any:
        """This process's ``/images`` handle, opened on first use."""
        if self._file is None or self._pid != os.getpid():
            # a handle from another process (fork) is dropped, never used or closed here
            if "shards" in self.attrs:  # a shard removed since: an error, not fill values
                check_shards(self.path, self.attrs)
            f = open_h5(self.path)
            self._file, self._pid = (f, f["images"]), os.getpid()
        return self._file[1]

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file[0].close()
        self._file, self._pid = None, None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, None
        state["_mem"] = None  # not pickled to spawned workers: they read their own
        return state

    def read(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """Rows ``indices`` (any order, repeats allowed) as ``(n, H, W, C)`` uint8."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for {n} rows: {idx[(idx < -n) | (idx >= n)][:5]}")
        idx = np.where(idx < 0, idx + n, idx)
        if idx.size == 0:
            return np.empty((0, *self._hwc), dtype=np.uint8)
        if self._cache_all:
            return self._memory()[idx]
        chunks = np.unique(idx // self._chunk_rows)  # sorted: one forward pass over the file
        uniq, inverse = np.unique(idx, return_inverse=True)
        out = np.empty((uniq.size, *self._hwc), dtype=np.uint8)
        for a, b in _runs(chunks):
            lo, hi = a * self._chunk_rows, b * self._chunk_rows
            sel = (uniq >= lo) & (uniq < hi)
            out[sel] = self._read_chunks(a, b)[uniq[sel] - lo]
        return out[inverse]

    @property
    def _cache_all(self) -> bool:
        return len(self) * int(np.prod(self._hwc)) <= self.cache_bytes

    def _memory(self) -> np.ndarray:
        """All images, decompressed in one sequential pass on first use in this process.

        One pass inflates each chunk once; shuffled access to a fresh worker would otherwise
        inflate a whole chunk per row. Plain memory, so a forked worker keeps the parent's.
        """
        if self._mem is None:
            mem = np.empty((len(self), *self._hwc), np.uint8)
            self._images().read_direct(mem)
            self._mem = mem
        return self._mem

    def _read_chunks(self, a: int, b: int) -> np.ndarray:
        """Whole chunks [a, b) in one slice read (plain slices are h5py's fast path)."""
        lo, hi = a * self._chunk_rows, min(b * self._chunk_rows, len(self))
        block = self._images()[lo:hi]
        if hi - lo < (b - a) * self._chunk_rows:  # the short last chunk
            pad = np.zeros(((b - a) * self._chunk_rows - (hi - lo), *self._hwc), np.uint8)
            block = np.concatenate([block, pad])
        return block

    def _item(self, image: np.ndarray, label: int) -> tuple[Any, Any]:
        if self.output == "numpy":
            img: Any = image
        elif self.output == "tensor":
            img = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        else:
            img = _to_pil(image)
        target: Any = int(label)
        if self.transforms is not None:
            img, target = self.transforms(img, target)
        return img, target

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        index = int(index)
        image = self.read([index])[0]
        return self._item(image, self._labels[index])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Any, Any]]:
        """A whole DataLoader batch in one sorted read (DataLoader calls this when defined)."""
        images = self.read(indices)
        return [self._item(im, self._labels[int(i)]) for im, i in zip(images, indices, strict=True)]

    def sample(
        self,
        n: int,
        labels: LabelSpec = None,
        seed: int = 0,
        *,
        start: int = 0,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        output: Output = "uint8",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw stored rows by index, with the same semantics as ``Generator.sample``.

        Sample *i* (absolute index ``start + i``) of ``seed`` with requested class c is
        ``rows_of_class_c[randint(i, seed, len(rows_of_class_c))]``; ``labels=None`` picks any
        row. ``batch_size`` is accepted for interface compatibility and does not change results.

        Returns:
            ``(images (n, C, H, W), labels (n,))`` uint8 (or float in [-1, 1]) on ``device``.
        """
        idx = sample_indices(n, start=start, output=output, batch_size=batch_size)
        if labels is None:
            rows = _rng.randint(idx, seed, len(self), stream=_rng.STREAM_ROW).numpy()
        else:
            wanted = resolve_labels(
                labels, n, num_classes=self.num_classes, seed=seed, start=start
            ).numpy()
            rows = np.empty(n, dtype=np.int64)
            for c in np.unique(wanted):
                where = wanted == c
                pool = self._class_rows(int(c))
                pick = _rng.randint(idx[torch.from_numpy(where)], seed, len(pool), _rng.STREAM_ROW)
                rows[where] = pool[pick.numpy()]
        images = torch.from_numpy(self.read(rows)).permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(self._labels[rows].copy())
        if output == "float":
            images = to_float(images)
        dev = torch.device(device) if device is not None else torch.device("cpu")
        return images.to(dev), y.to(dev)

    def _class_rows(self, c: int) -> np.ndarray:
        if c not in self._rows_by_class:
            rows = np.flatnonzero(self._labels == c)
            if rows.size == 0:
                name = self.class_names[c] if c < len(self.class_names) else c
                present = sorted(int(k) for k in np.unique(self._labels))
                raise ValueError(
                    f"{self.path} holds no rows of class {c} ({name!r}); it holds classes {present}"
                )
            self._rows_by_class[c] = rows
        return self._rows_by_class[c]

    def __repr__(self) -> str:
        return (
            f"H5Dataset({str(self.path)!r}, n={len(self)}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes}, output={self.output!r})"
        )


def _runs(chunks: np.ndarray) -> list[tuple[int, int]]:
    """Sorted chunk ids -> [a, b) runs of consecutive ids."""
    if chunks.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(chunks) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [chunks.size]])
    return [(int(chunks[s]), int(chunks[e - 1]) + 1) for s, e in zip(starts, ends, strict=True)]


def _to_pil(image: np.ndarray) -> Any:
    from PIL import Image

    if image.shape[2] == 1:
        return Image.fromarray(image[:, :, 0])  # mode "L"
    if image.shape[2] == 3:
        return Image.fromarray(image)  # mode "RGB"
    raise ValueError(f"PIL output needs 1 or 3 channels, the file has {image.shape[2]}")
