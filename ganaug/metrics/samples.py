"""The synthetic side of an evaluation: n samples from a model, a SampleSource or a file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import H5_SUFFIXES
from ..sources import SampleSource, load, resolve_label_spec

__all__ = ["Samples", "load_samples"]


@dataclass
class Samples:
    """n synthetic images (N, C, H, W) uint8 and labels (N,) int64 (-1: unconditional), CPU."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    description: str
    declared: bool = True  # num_classes came from the model or file, not from the labels seen

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0 and bool((self.labels >= 0).all())


def load_samples(
    source: SampleSource | str | os.PathLike | tuple[Any, Any] | None,
    *,
    n: int,
    seed: int = 0,
    labels: Any = "balanced",
    device: Any = "cpu",
) -> Samples:
    """The first ``n`` samples of ``source`` (see :func:`ganaug.evaluate` for the forms)."""
    if n < 2:
        raise ValueError(f"expected n >= 2 samples, got {n}")
    if isinstance(source, tuple):
        return _from_arrays(source, n)
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in H5_SUFFIXES:
        return _from_h5(Path(source), n)
    if isinstance(source, (str, os.PathLike)) or source is None:
        source = load(source, device=device)
    if not isinstance(source, SampleSource):
        raise ValueError(
            f"expected a model file, a SampleSource, an .h5 samples file or (images, labels), "
            f"got {type(source).__name__}"
        )
    wanted = None
    if source.num_classes and labels is not None:  # names, lists, counts: as export takes them
        wanted, _, n = resolve_label_spec(
            labels, n, num_classes=source.num_classes, class_names=source.class_names, seed=seed
        )
    images, y = source.sample(n, labels=wanted, seed=seed, device=device)
    sha = getattr(source, "sha256", None)
    desc = f"{type(source).__name__}" + (f" sha256 {sha[:12]}" if sha else "")
    desc += f", seed {seed}" + (f", labels {labels}" if wanted is not None else "")
    return Samples(images.cpu(), y.cpu().to(torch.int64), int(source.num_classes), desc)


def _from_arrays(source: tuple[Any, Any], n: int) -> Samples:
    images, labels = (torch.as_tensor(t) for t in source)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(
            f"expected samples as uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
        )
    _enough(images.shape[0], n, "the given arrays")
    y = labels.to(torch.int64).reshape(-1)[:n]
    k = int(y.max()) + 1 if (y >= 0).all() else 0
    desc = f"arrays ({images.shape[0]} images)"
    return Samples(images[:n].contiguous(), y, k, desc, declared=False)


def _from_h5(path: Path, n: int) -> Samples:
    import h5py

    from ..io.h5format import FORMAT, read_header

    try:
        with h5py.File(path, "r") as f:
            export = f.attrs.get("format") in (FORMAT, FORMAT.encode())
            head = read_header(f, path) if export else {}  # refuses an unfinished export
            if "images" not in f or "labels" not in f:
                raise ValueError(
                    f"{path}: expected datasets /images (N, H, W, C) and /labels (N,), "
                    f"found {sorted(f.keys())}"
                )
            images, labels = f["images"], f["labels"]
            if images.ndim != 4 or images.dtype != "uint8":
                raise ValueError(
                    f"{path}: expected /images (N, H, W, C) uint8, found {images.shape} "
                    f"{images.dtype}"
                )
            _enough(images.shape[0], n, str(path))
            x = torch.from_numpy(images[:n]).permute(0, 3, 1, 2).contiguous()
            y = torch.from_numpy(labels[:n].astype("int64"))
            seen = int(y.max()) + 1 if (y >= 0).all() else 0
            k = int(head.get("num_classes", seen))
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from e
    desc = f"{path.name} (first {n} of the file's samples)"
    return Samples(x, y, k, desc, declared="num_classes" in head)


def _enough(have: int, n: int, what: str) -> None:
    if have < n:
        raise ValueError(
            f"{what} holds {have} samples but N = {n} were asked for; export more samples "
            f"or pass a smaller --n"
        )
