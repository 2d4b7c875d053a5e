"""The SampleSource contract, label specs, and the one ``sample`` every generated source shares.

A SampleSource is anything with ``sample(n, labels, seed, *, start, batch_size, device, output)
-> (images, labels)`` and the attributes ``image_shape``, ``num_classes`` and ``class_names``:
the live :class:`~ganaug.sources.Generator`, a :class:`~ganaug.sources.FilteredSource` and an
:class:`~ganaug.io.H5Dataset` all are, so ``GANAugmented``, the transforms, the mixer, export and
evaluation never know which one feeds them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from .. import _rng
from .._images import to_uint8

__all__ = [
    "SampleSource",
    "LiveSource",
    "GeneratedSource",
    "LabelSpec",
    "Output",
    "resolve_labels",
    "sample_indices",
    "in_calls",
    "call_rows",
    "CALL_ROWS",
    "PRECISIONS",
    "native_bf16",
    "use_bf16",
]

LabelSpec = int | str | Sequence[int] | torch.Tensor | None
Output = Literal["uint8", "float"]

# Every network call that makes or scores samples gets exactly this many rows (the last call of
# a request padded with zeros). GEMM and conv kernels choose their blocking and their split over
# threads by the row count, so a row's float result can depend on how many rows share its call;
# with one shape for every call, sample i of seed s is the same bytes for any batch size, start,
# worker count or shard split, on any CPU and thread count (tested). Measured cost:
# benchmarks/RESULTS.md (bench_generate.py).
CALL_ROWS = {"cpu": 128, "cuda": 1024}


def call_rows(device: torch.device) -> int:
    return CALL_ROWS.get(device.type, 256)


PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AMX or AVX-512 BF16; Linux's cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast for the network's forward passes? ``"auto"``: on CUDA, and on a CPU with
    native bf16 units (where it is 2-2.5x faster); fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"expected precision one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return device.type == "cuda" or (device.type == "cpu" and native_bf16())
    return precision == "bf16"


@runtime_checkable
class SampleSource(Protocol):
    """What every consumer of synthetic images relies on (a structural type: no base class).

    ``sample`` returns ``(images (n, C, H, W), labels (n,))``: uint8 in [0, 255] (or float in
    [-1, 1] with ``output="float"``) and int64 classes (-1 for an unconditional source), on
    ``device``. Sample ``start + i`` of ``seed`` is the same image for any ``batch_size``.
    """

    image_shape: tuple[int, int, int]
    num_classes: int
    class_names: list[str]

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
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class LiveSource(SampleSource, Protocol):
    """A SampleSource that generates by absolute index (what a filter can wrap)."""

    def generate(
        self,
        indices: torch.Tensor,
        labels: torch.Tensor,
        seed: int,
        *,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
    ) -> torch.Tensor: ...


def sample_indices(n: int, *, start: int, output: str, batch_size: int | None) -> torch.Tensor:
    """Validate the arguments every ``sample`` takes; the (n,) absolute indices it draws."""
    if isinstance(n, bool) or int(n) != n or n <= 0:
        raise ValueError(f"expected n > 0 samples, got {n!r}")
    if output not in ("uint8", "float"):
        raise ValueError(f"expected output 'uint8' or 'float', got {output!r}")
    if batch_size is not None and batch_size <= 0:
        raise ValueError(f"expected batch_size > 0, got {batch_size}")
    return torch.arange(start, start + int(n), dtype=torch.int64)


def resolve_labels(
    labels: LabelSpec, n: int, *, num_classes: int, seed: int = 0, start: int = 0
) -> torch.Tensor:
    """Turn a label spec into an (n,) int64 CPU tensor, -1 for an unconditional model.

    ``None`` / ``"uniform"``: uniform over classes, drawn per index; ``"balanced"``: index mod K;
    an int: that class; a sequence or tensor of length n: as given.
    """
    if n <= 0:
        raise ValueError(f"expected n > 0 samples, got {n}")
    if num_classes == 0:
        if labels is not None:
            raise ValueError(
                f"labels were given ({_short(labels)}) but this model is unconditional "
                f"(num_classes=0); pass labels=None"
            )
        return torch.full((n,), -1, dtype=torch.int64)
    idx = torch.arange(start, start + n, dtype=torch.int64)
    if labels is None or (isinstance(labels, str) and labels == "uniform"):
        return _rng.randint(idx, seed, num_classes)
    if isinstance(labels, str):
        if labels == "balanced":
            return idx % num_classes
        raise ValueError(
            f"expected labels None, 'uniform', 'balanced', an int or a sequence; "
            f"got the string {labels!r}"
        )
    if isinstance(labels, int) and not isinstance(labels, bool):
        out = torch.full((n,), labels, dtype=torch.int64)
    else:
        out = torch.as_tensor(labels).to("cpu")
        if out.is_floating_point() or out.dtype == torch.bool:
            raise ValueError(f"expected integer class labels, got dtype {out.dtype}")
        out = out.to(torch.int64).reshape(-1)
        if out.numel() != n:
            raise ValueError(f"expected {n} labels (one per sample), got {out.numel()}")
    if out.numel() and (out.min() < 0 or out.max() >= num_classes):
        bad = out[(out < 0) | (out >= num_classes)][:5].tolist()
        raise ValueError(
            f"labels must be in [0, {num_classes - 1}] for this model's "
            f"{num_classes} classes; found {bad}"
        )
    return out


def _short(x: Any) -> str:
    s = repr(x)
    return s if len(s) < 60 else s[:57] + "..."


def in_calls(
    fn: Callable[..., torch.Tensor], *inputs: torch.Tensor | None, rows: int
) -> torch.Tensor:
    """``fn(*inputs)`` computed in calls of exactly ``rows`` rows each, concatenated.

    The last call is padded with zero rows (None inputs stay None), so every call has one shape.
    """
    n = next(t for t in inputs if t is not None).shape[0]
    outs = []
    for lo in range(0, n, rows):
        b = min(rows, n - lo)
        parts = [None if t is None else _pad(t[lo : lo + b], rows) for t in inputs]
        outs.append(fn(*parts)[:b])
    return torch.cat(outs)


def _pad(t: torch.Tensor, rows: int) -> torch.Tensor:
    pad = rows - t.shape[0]
    return torch.cat([t, t.new_zeros(pad, *t.shape[1:])]) if pad else t


class GeneratedSource:
    """The ``sample`` of sources that make images by index: subclasses define ``generate``
    (float images (N, C, H, W) in [-1, 1] for absolute ``indices``) and the attributes."""

    num_classes: int

    def generate(
        self,
        indices: torch.Tensor,
        labels: torch.Tensor,
        seed: int,
        *,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError

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
        """Samples ``start .. start + n - 1`` of ``seed``.

        Args:
            n: number of samples (> 0).
            labels: None / "uniform" (random classes), "balanced" (index mod K), an int, or
                a sequence / tensor of n class indices. Must be None for unconditional models.
            seed: the sample stream; sample i of seed s is the same image for any batch size.
            start: index of the first sample (for resumable or sharded generation).
            batch_size: rows drawn per step (memory only; results never depend on it).
            device: where to generate (default: the source's device).
            output: "uint8" (N, C, H, W) in [0, 255] or "float" in [-1, 1].

        Returns:
            ``(images, labels)`` on ``device``; labels are -1 for an unconditional model.
        """
        idx = sample_indices(n, start=start, output=output, batch_size=batch_size)
        y = resolve_labels(labels, n, num_classes=self.num_classes, seed=seed, start=start)
        x = self.generate(idx, y, seed, batch_size=batch_size, device=device)
        x = to_uint8(x) if output == "uint8" else x
        return x, y.to(x.device)
