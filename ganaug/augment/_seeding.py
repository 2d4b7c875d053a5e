"""Per-process synthetic streams for stateful transforms (counters + a worker-aware seed).

A transform keeps counters: rows seen and draws per class. Row r of the stream is replaced iff
``_rng.rand(r, seed) < p``, and the m-th replaced row of class c gets draw m of class c
(:class:`ClassStreams`), so a batch gives the same result as its rows one by one. Inside a
DataLoader worker the seed is mixed with the worker's seed (``get_worker_info().seed``, derived
from the DataLoader's own generator), so workers and epochs draw different rows, reproducibly
for a seeded loader.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from .. import _rng

__all__ = ["stream_seed", "coin_flips", "CoinBlocks", "ClassStreams"]


def stream_seed(seed: int) -> int:
    """``seed`` in the main process; a (seed, worker seed) mix inside a DataLoader worker."""
    info = torch.utils.data.get_worker_info()
    if info is None:
        return int(seed)
    k = _rng.index_keys(torch.tensor([info.seed & 0xFFFFFFFF]), int(seed), _rng.STREAM_WORKER)
    return int(seed) ^ (int(k[0]) << 20) ^ (info.seed >> 32)


def coin_flips(start: int, n: int, seed: int, p: float) -> torch.Tensor:
    """(n,) bool: rows ``start .. start + n - 1`` of the stream chosen with probability p."""
    if n == 0 or p <= 0:
        return torch.zeros(n, dtype=torch.bool)
    return _rng.rand(torch.arange(start, start + n, dtype=torch.int64), seed) < p


def _ints(v: torch.Tensor | list[int]) -> list[int]:
    return v.tolist() if isinstance(v, torch.Tensor) else list(v)


@functools.lru_cache(maxsize=4096)
def _class_seed(seed: int, c: int) -> int:
    """The seed of class c's stream (-1: an unconditional source's one stream)."""
    return int(_rng.index_keys(torch.tensor([c + 1]), seed, _rng.STREAM_CLASS)[0])


class CoinBlocks:
    """:func:`coin_flips` for a transform called one row at a time: the same values, computed
    ``block`` rows at once and kept, so a single-row call costs a lookup, not a hash."""

    def __init__(self, block: int = 4096) -> None:
        self.block = block
        self._key: tuple[int, int, float] | None = None  # (block index, seed, p)
        self._flips = torch.zeros(0, dtype=torch.bool)
        self._list: list[bool] = []

    def __call__(self, start: int, n: int, seed: int, p: float) -> torch.Tensor:
        b0, b1 = start // self.block, (start + n - 1) // self.block
        if n == 0 or b0 != b1:  # an empty or block-crossing request (large batches)
            return coin_flips(start, n, seed, p)
        self._load(b0, seed, p)
        off = start - b0 * self.block
        return self._flips[off : off + n]

    def one(self, row: int, seed: int, p: float) -> bool:
        """Whether row ``row`` is chosen (``self(row, 1, seed, p)[0]``, without a tensor)."""
        b = row // self.block
        self._load(b, seed, p)
        return self._list[row - b * self.block]

    def _load(self, b: int, seed: int, p: float) -> None:
        if self._key != (b, seed, p):
            self._flips = coin_flips(b * self.block, self.block, seed, p)
            self._key = (b, seed, p)
            self._list = self._flips.tolist()

    def __getstate__(self) -> dict:
        return {"block": self.block, "_key": None, "_flips": self._flips[:0], "_list": []}


class ClassStreams:
    """Synthetic samples drawn one class at a time, generated in aligned blocks per class.

    The m-th draw of class c is sample m of a class seed derived from (seed, c), so a draw is a
    pure function of (seed, c, m) and single-sample transforms cost one generator call per
    ``block`` draws of a class, not one per draw (128: the rows of one CPU generator call).
    Class -1 stands for an unconditional source.
    """

    def __init__(self, block: int = 128) -> None:  # one CPU generator call (CALL_ROWS)
        self.block = block
        self.counts: dict[int, int] = {}
        self._blocks: dict[tuple[int, int, str], tuple[int, torch.Tensor]] = {}

    def assign(self, classes: torch.Tensor | list[int]) -> torch.Tensor:
        """Draw numbers m (k,) int64 for ``classes`` (k,), advancing the per-class counters."""
        ms = []
        for c in classes.tolist() if isinstance(classes, torch.Tensor) else classes:
            ms.append(self.counts.get(c, 0))
            self.counts[c] = ms[-1] + 1
        return torch.tensor(ms, dtype=torch.int64)

    def fetch(
        self, source, classes: torch.Tensor, ms: torch.Tensor, seed: int, device: Any = "cpu"
    ) -> torch.Tensor:
        """uint8 (k, C, H, W) images on ``device``: draw ``ms[i]`` of class ``classes[i]``.

        Blocks are generated on ``device`` (the same bytes on the same kind of device)."""
        dev = torch.device(device)
        out = torch.empty((len(classes), *source.image_shape), dtype=torch.uint8, device=dev)
        pairs = zip(_ints(classes), _ints(ms), strict=True)
        for i, (c, m) in enumerate(pairs):
            b, off = divmod(m, self.block)
            key = (seed, c, str(dev))
            if self._blocks.get(key, (None,))[0] != b:
                labels = None if c < 0 else c
                cseed = _class_seed(seed, c)
                imgs, _ = source.sample(
                    self.block,
                    labels=labels,
                    seed=cseed,
                    start=b * self.block,
                    device=dev,
                    output="uint8",
                )
                self._blocks[key] = (b, imgs.to(dev))
            out[i] = self._blocks[key][1][off]
        return out

    def __getstate__(self) -> dict:
        return {"block": self.block, "counts": dict(self.counts), "_blocks": {}}
