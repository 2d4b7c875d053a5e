"""``SyntheticMixer``: synthetic rows into real batches after the DataLoader (the GPU hot path).

Generation runs in the main process, batch-level, on the training device (as torchvision
``MixUp`` / ``CutMix`` and Kornia do): one ``source.sample`` call per batch. ``mix`` wraps a
loader and, on CUDA, generates the next batch's synthetic rows on a side stream while the model
trains on the current one (timm ``PrefetchLoader``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

from .. import _rng
from ..sources.base import SampleSource
from . import functional as F

__all__ = ["SyntheticMixer", "mix", "MixLoader"]

_MODES = ("append", "replace")
_LABELS = ("match", "balanced", "uniform")


class SyntheticMixer:
    """Add synthetic rows to (or swap them into) a real batch ``(x, y)``; returns
    ``(x, y, is_synthetic)``.

    Args:
        source: a SampleSource.
        ratio: synthetic rows per real row: ``round(ratio * B)`` rows are appended
            ("append", ratio >= 0) or replaced ("replace", ratio in [0, 1]).
        mode: "append" or "replace".
        labels: classes of the synthetic rows: "match" (those of the replaced rows, or of
            randomly picked real rows when appending; default), "balanced" (cycling over
            classes) or "uniform" (random). Must stay None for an unconditional source, whose
            rows get label -1 (use ``ignore_index=-1``).
        normalize: ``(mean, std)`` as ``v2.Normalize`` on [0, 1] images, or a callable on a
            float [0, 1] batch, so synthetic rows match normalised real batches. None: uint8
            batches get uint8 rows, float batches [0, 1] rows.
        seed: the synthetic stream. Batch k's rows and samples follow from counters of rows
            seen and samples drawn, so the same batches give the same bytes (``state_dict``
            resumes them).

    Hard labels (B,) stay hard; one-hot / soft labels (B, K) (MixUp / CutMix output) get
    one-hot synthetic rows. Inputs are never modified; dtype and device are kept.

    Example:
        >>> gen = ganaug.load(device="cuda")  # doctest: +SKIP
        >>> mixer = SyntheticMixer(gen, ratio=0.5, normalize=((0.286,), (0.353,)))  # doctest: +SKIP
        >>> x, y, is_syn = mixer(x.cuda(), y.cuda())  # doctest: +SKIP
    """

    def __init__(
        self,
        source: SampleSource,
        *,
        ratio: float = 0.25,
        mode: str = "append",
        labels: str | None = None,
        normalize: F.Normalize = None,
        seed: int = 0,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"expected mode one of {_MODES}, got {mode!r}")
        if not ratio >= 0 or (mode == "replace" and ratio > 1):
            bound = "in [0, 1] for mode='replace'" if mode == "replace" else ">= 0"
            raise ValueError(f"expected ratio {bound}, got {ratio}")
        conditional = source.num_classes > 0
        if not conditional and labels is not None:
            raise ValueError(
                f"labels={labels!r} was requested but the source is unconditional "
                f"(num_classes=0); pass labels=None (synthetic rows get label -1)"
            )
        if labels is not None and labels not in _LABELS:
            raise ValueError(f"expected labels one of {_LABELS} or None, got {labels!r}")
        if normalize is not None and not callable(normalize):
            F.check_normalize(normalize, source.image_shape[0])
        self.source, self.ratio, self.mode = source, float(ratio), mode
        self.labels = (labels or "match") if conditional else None
        self.normalize, self.seed = normalize, int(seed)
        self._rows = 0  # real rows seen
        self._drawn = 0  # synthetic samples drawn

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        params = self.make_params(x, y)
        synth = self.generate(params, x.device)
        return self.apply(x, y, params, synth)

    def make_params(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        """Decide (on the CPU) how many rows, which rows, their classes and sample indices."""
        F.check_batch(x, self.source.image_shape)
        b = x.shape[0]
        if not isinstance(y, torch.Tensor) or y.ndim not in (1, 2) or y.shape[0] != b:
            found = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"expected labels of shape ({b},) or ({b}, num_classes), got {found}")
        k = self.source.num_classes
        if y.ndim == 2 and (k == 0 or y.shape[1] != k):
            raise ValueError(
                f"expected soft labels with {k} columns (the source's classes), got "
                f"{y.shape[1]}" + (" (an unconditional source)" if k == 0 else "")
            )
        if self.normalize is not None and not x.dtype.is_floating_point:
            raise ValueError(
                f"normalize was given but the batch is {x.dtype}; normalise real "
                f"and synthetic rows alike (pass float batches)"
            )
        n = int(round(self.ratio * b))
        rows = None
        if self.mode == "replace":  # exactly n rows, a hash-keyed choice over rows seen
            keys = _rng.uniform_bits(self._row_ids(b), self.seed, _rng.STREAM_ROWS, 1)[:, 0]
            rows = torch.argsort(keys, stable=True)[:n].sort().values
        sample_ids = torch.arange(self._drawn, self._drawn + n, dtype=torch.int64)
        classes = None
        if self.labels == "match" and n:
            picks = (
                rows
                if rows is not None
                else _rng.randint(sample_ids, self.seed, b, _rng.STREAM_ROWS)
            )
            classes = F.hard_classes(y)[picks.to(y.device)].cpu()  # one small copy if y is on GPU
        elif self.labels == "balanced":
            classes = sample_ids % k
        elif self.labels == "uniform":
            classes = _rng.randint(sample_ids, self.seed, k)
        params = {"n": n, "rows": rows, "classes": classes, "start": self._drawn}
        self._rows += b
        self._drawn += n
        return params

    def generate(self, params: dict[str, Any], device: torch.device) -> torch.Tensor | None:
        """The synthetic rows: one batched ``source.sample`` call, float (n, C, H, W) in [-1, 1]."""
        if params["n"] == 0:
            return None
        synth, _ = self.source.sample(
            params["n"],
            labels=params["classes"],
            seed=self.seed,
            start=params["start"],
            batch_size=params["n"],
            device=device,
            output="float",
        )
        return synth

    def apply(
        self, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], synth: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mix ``synth`` into ``(x, y)`` as ``params`` say (new tensors; inputs untouched)."""
        n, rows = params["n"], params["rows"]
        is_syn = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        if n == 0:
            return x, y, is_syn
        rows_x = F.match_images(synth, x, self.normalize)  # (n, C, H, W) like x
        classes = params["classes"]
        if classes is None:
            classes = torch.full((n,), -1, dtype=torch.int64)
        rows_y = F.soft_targets(classes, y) if y.ndim == 2 else classes.to(y.device, y.dtype)
        if rows is None:
            syn_flag = torch.ones(n, dtype=torch.bool, device=x.device)
            return (
                F.append_rows(x, rows_x),
                F.append_rows(y, rows_y),
                F.append_rows(is_syn, syn_flag),
            )
        is_syn = F.replace_rows(is_syn, torch.ones(n, dtype=torch.bool), rows)
        return F.replace_rows(x, rows_x, rows), F.replace_rows(y, rows_y, rows), is_syn

    def _row_ids(self, b: int) -> torch.Tensor:
        return torch.arange(self._rows, self._rows + b, dtype=torch.int64)

    def state_dict(self) -> dict[str, int]:
        """Counters to resume the same synthetic stream."""
        return {"rows": self._rows, "drawn": self._drawn, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._rows, self._drawn, self.seed = (
            int(state["rows"]),
            int(state["drawn"]),
            int(state["seed"]),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(ratio={self.ratio}, mode={self.mode!r}, "
            f"labels={self.labels!r}, seed={self.seed}, source={self.source!r})"
        )


class MixLoader:
    """Iterate ``loader`` and yield ``mixer(x, y)`` on ``device`` (see :func:`mix`): ``(x, y)``,
    or ``(x, y, is_synthetic)`` with ``return_mask``."""

    def __init__(
        self,
        loader: Iterable,
        mixer: SyntheticMixer,
        device: torch.device,
        prefetch: bool = True,
        return_mask: bool = False,
    ) -> None:
        self.loader, self.mixer, self.device, self.prefetch = loader, mixer, device, prefetch
        self.return_mask = return_mask

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for x, y, is_syn in self._mixed():
            yield (x, y, is_syn) if self.return_mask else (x, y)

    def _mixed(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        if self.device.type == "cuda" and self.prefetch:
            yield from self._iter_cuda()
            return
        for batch in self.loader:
            x, y = _split(batch)
            yield self.mixer(x.to(self.device), y.to(self.device))

    def _stage(self, batch: Any, stream: torch.cuda.Stream) -> tuple[Any, ...]:
        x, y = _split(batch)
        params = self.mixer.make_params(x, y)  # CPU decisions on the CPU batch: no device sync
        with torch.cuda.stream(stream):
            xd = x.to(self.device, non_blocking=True)
            yd = y.to(self.device, non_blocking=True)
            synth = self.mixer.generate(params, self.device)
        return xd, yd, params, synth

    def _iter_cuda(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        stream = torch.cuda.Stream(device=self.device)
        it = iter(self.loader)
        nxt = next((self._stage(b, stream) for b in it), None)
        while nxt is not None:
            main = torch.cuda.current_stream(self.device)
            main.wait_stream(stream)  # batch k's copies and generation are done before use
            xd, yd, params, synth = nxt
            for t in (xd, yd, synth):
                if t is not None:
                    t.record_stream(main)  # allocated on the side stream, used on the main one
            nxt = next((self._stage(b, stream) for b in it), None)  # batch k+1, side stream
            yield self.mixer.apply(xd, yd, params, synth)


def _split(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, Sequence) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(
        f"expected loader batches (x, y), got {type(batch).__name__}"
        + (f" of length {len(batch)}" if isinstance(batch, Sequence) else "")
    )


def mix(
    loader: Iterable,
    source: SampleSource,
    *,
    device: str | torch.device | None = None,
    prefetch: bool = True,
    return_mask: bool = False,
    **mixer_args: Any,
) -> MixLoader:
    """Wrap ``loader`` so it yields ``(x, y)`` batches with synthetic rows mixed in, on
    ``device``: a drop-in for the loader in an unchanged ``for x, y in loader`` loop.

    Args:
        loader: yields ``(x, y)`` CPU batches (use ``pin_memory=True`` on CUDA).
        source: a SampleSource.
        device: the training device (default: CUDA when available, else CPU).
        prefetch: on CUDA, copy and generate batch k+1 on a side stream while batch k trains.
        return_mask: yield ``(x, y, is_synthetic)`` instead, the (B,) bool mask of synthetic
            rows (to weight or log them apart).
        **mixer_args: ``SyntheticMixer`` arguments (ratio, mode, labels, normalize, seed).

    Example:
        >>> gen = ganaug.load(device="cuda")  # doctest: +SKIP
        >>> for x, y in ganaug.mix(loader, gen, ratio=0.5):  # doctest: +SKIP
        ...     loss = F.cross_entropy(model(x), y)
    """
    dev = (
        torch.device(device)
        if device is not None
        else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    return MixLoader(loader, SyntheticMixer(source, **mixer_args), dev, prefetch, return_mask)
