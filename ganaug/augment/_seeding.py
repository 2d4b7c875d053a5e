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
from ..sources.base import call_rows

__all__ = [
    "stream_seed",
    "coin_flips",
    "CoinBlocks",
    "ClassStreams",
    "resolve_pool",
    "worker_share",
]


def stream_seed(seed: int) -> int:
    """``seed`` in the main process; a (seed, worker seed) mix inside a DataLoader worker."""
    info = torch.utils.data.get_worker_info()
    if info is None:
        return int(seed)
    return _worker_seed(int(seed), info.seed)


@functools.lru_cache(maxsize=64)
def _worker_seed(seed: int, worker_seed: int) -> int:
    """The mix of :func:`stream_seed`, kept: a per-sample transform asks for it on every call,
    and the hash costs tens of microseconds of small tensor ops."""
    k = _rng.index_keys(torch.tensor([worker_seed & 0xFFFFFFFF]), seed, _rng.STREAM_WORKER)
    return seed ^ (int(k[0]) << 20) ^ (worker_seed >> 32)


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


POOL_BYTES = 256 << 20  # memory of an "auto" pool, as GANAugmented's cache_bytes
POOL_MAX = 4096  # draws per class of an "auto" pool


def resolve_pool(pool: int | str | None, source: Any, block: int = 128) -> int | None:
    """Draws per class before a stream repeats: ``None`` (never), an int >= 1, or "auto".

    "auto" keeps up to :data:`POOL_MAX` images per class within :data:`POOL_BYTES` of uint8
    images in all (a multiple of ``block``, at least one block): 4096 per class for
    Fashion-MNIST (32 MiB), 768 for 100 classes of 3x32x32.
    """
    if pool is None:
        return None
    if pool == "auto":
        c, h, w = source.image_shape
        per_class = POOL_BYTES // (max(1, source.num_classes) * c * h * w)
        return max(block, min(POOL_MAX, per_class) // block * block)
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
        raise ValueError(f"expected pool 'auto', None or an int >= 1, got {pool!r}")
    return pool


def worker_share(pool: int | None, block: int = 128) -> int | None:
    """A pool's share in a DataLoader worker: ``pool / num_workers`` rounded down to whole
    blocks (at least one); ``pool`` itself outside workers or without a pool."""
    info = torch.utils.data.get_worker_info()
    if pool is None or info is None:
        return pool
    return max(block, pool // info.num_workers // block * block)


class ClassStreams:
    """Synthetic samples drawn one class at a time, generated in aligned blocks per class.

    The m-th draw of class c is sample ``m % pool`` of a class seed derived from (seed, c), so a
    draw is a pure function of (seed, c, m) and single-sample transforms cost one generator call
    per ``block`` draws of a class, not one per draw (128: the rows of one CPU generator call;
    a device whose calls have more rows, CUDA's 1,024, makes that many blocks per call).
    With a ``pool`` the blocks are kept, so each class's stream is generated once and then read
    from memory (``pool`` images per class, as ``GANAugmented`` keeps its synthetic items
    across epochs); without one only the latest call's blocks of each stream are kept and every
    draw is a new image. Blocks are generated on ``device`` (None: the device they are asked
    for) and kept on the device they are asked for. With ``share`` (an "auto" pool) each of W
    DataLoader workers keeps ``pool / W`` images per class (:func:`worker_share`), so the
    workers together hold and generate as many distinct images as one process would, and their
    pools fill in as many passes. Class -1 stands for an unconditional source.
    """

    def __init__(
        self,
        block: int = 128,
        pool: int | None = None,
        share: bool = False,
        device: str | torch.device | None = None,
    ) -> None:
        self.block = block  # one CPU generator call (CALL_ROWS)
        self.pool = pool
        self.share = share
        self.device = None if device is None else torch.device(device)  # None: the output's
        self.counts: dict[int, int] = {}
        self._blocks: dict[tuple[int, int, str, int], torch.Tensor] = {}
        self._here: int | None = -1  # this process's pool; -1: not looked up yet

    def local_pool(self) -> int | None:
        """The pool of this process: ``pool``, or a worker's share of it (``share``)."""
        if self._here == -1:
            self._here = worker_share(self.pool, self.block) if self.share else self.pool
        return self._here

    def assign(self, classes: torch.Tensor | list[int]) -> torch.Tensor:
        """Draw numbers m (k,) int64 for ``classes`` (k,), advancing the per-class counters."""
        ms = [self.assign_one(c) for c in _ints(classes)]
        return torch.tensor(ms, dtype=torch.int64)

    def assign_one(self, c: int) -> int:
        """The draw number of one row of class c (:meth:`assign` without a tensor)."""
        m = self.counts.get(c, 0)
        self.counts[c] = m + 1
        return m

    def row(self, source, c: int, m: int, seed: int, device: torch.device) -> torch.Tensor:
        """Draw m of class c: a uint8 (C, H, W) view into the kept block (copy to modify)."""
        pool = self.local_pool()
        b, off = divmod(m if pool is None else m % pool, self.block)
        return self._block(source, (seed, c, str(device), b), device)[off]

    def fetch(
        self, source, classes: torch.Tensor, ms: torch.Tensor, seed: int, device: Any = "cpu"
    ) -> torch.Tensor:
        """uint8 (k, C, H, W) images on ``device``: draw ``ms[i]`` of class ``classes[i]``.

        Blocks are generated on ``device`` (the same bytes on the same kind of device)."""
        dev = torch.device(device)
        out = torch.empty((len(classes), *source.image_shape), dtype=torch.uint8, device=dev)
        for i, (c, m) in enumerate(zip(_ints(classes), _ints(ms), strict=True)):
            out[i] = self.row(source, c, m, seed, dev)
        return out

    def _block(self, source, key: tuple[int, int, str, int], dev: torch.device) -> torch.Tensor:
        """Block b of stream (seed, c) on ``dev``, for ``key = (seed, c, str(dev), b)``."""
        block = self._blocks.get(key)
        if block is None:
            if self.local_pool() is None:  # no pool: only the latest call's blocks per stream
                stale = [k for k in self._blocks if k[:3] == key[:3]]
                for k in stale:
                    del self._blocks[k]
            seed, c, d, b = key
            gen = self._generation_device(dev)
            per_call = max(1, call_rows(gen) // self.block)  # blocks in one generator call
            b0 = b // per_call * per_call  # (1 on the CPU; 8 on CUDA, which pads calls to 1024)
            images, _ = source.sample(
                per_call * self.block,
                labels=None if c < 0 else c,
                seed=_class_seed(seed, c),
                start=b0 * self.block,
                device=gen,
                output="uint8",
            )
            images = images.to(dev)
            for j in range(per_call):
                self._blocks[(seed, c, d, b0 + j)] = images[j * self.block : (j + 1) * self.block]
            block = self._blocks[key]
        return block

    def _generation_device(self, dev: torch.device) -> torch.device:
        gen = self.device or dev
        if gen.type != "cpu" and gen != dev and torch.utils.data.get_worker_info() is not None:
            raise RuntimeError(
                f"expected to generate on {gen} in the main process, but this is a DataLoader "
                f"worker, where CUDA cannot start (forked workers): use device=None (generate "
                f"on the CPU in each worker), num_workers=0, or the transform on whole batches "
                f"after the DataLoader"
            )
        return gen

    def __getstate__(self) -> dict:
        state = {"block": self.block, "pool": self.pool, "share": self.share, "device": self.device}
        return {**state, "counts": dict(self.counts), "_blocks": {}, "_here": -1}
