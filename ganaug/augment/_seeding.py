"""Per-process synthetic streams for stateful transforms (counters + a worker-aware seed).

A transform keeps counters: rows seen and draws per class. Row r of the stream is replaced iff
``_rng.rand(r, seed) < p``, and the m-th replaced row of class c gets draw m of class c
(:class:`ClassStreams`), so a batch gives the same result as its rows one by one. Inside a
DataLoader worker the seed is mixed with the worker's seed (``get_worker_info().seed``, derived
from the DataLoader's own generator), so workers and epochs draw different rows, reproducibly
for a seeded loader.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import _rng

__all__ = ["stream_seed", "coin_flips", "ClassStreams"]


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


class ClassStreams:
    """Synthetic samples drawn one class at a time, generated in aligned blocks per class.

    The m-th draw of class c is sample m of a class seed derived from (seed, c), so a draw is a
    pure function of (seed, c, m) and single-sample transforms cost one generator call per
    ``block`` draws of a class, not one per draw. Class -1 stands for an unconditional source.
    """

    def __init__(self, block: int = 64) -> None:
        self.block = block
        self.counts: dict[int, int] = {}
        self._blocks: dict[tuple[int, int, str], tuple[int, torch.Tensor]] = {}

    def assign(self, classes: torch.Tensor) -> torch.Tensor:
        """Draw numbers m (k,) int64 for ``classes`` (k,), advancing the per-class counters."""
        ms = []
        for c in classes.tolist():
            ms.append(self.counts.get(c, 0))
            self.counts[c] = ms[-1] + 1
        return torch.tensor(ms, dtype=torch.int64)

    def fetch(
        self, source, classes: torch.Tensor, ms: torch.Tensor, seed: int, device: Any = "cpu"
    ) -> torch.Tensor:
        """uint8 (k, C, H, W) images on ``device``: draw ``ms[i]`` of class ``classes[i]``.

        Blocks are generated on ``device`` (the same bytes on the same kind of device)."""
        dev = torch.device(device)
        out = torch.empty((classes.numel(), *source.image_shape), dtype=torch.uint8, device=dev)
        for i, (c, m) in enumerate(zip(classes.tolist(), ms.tolist(), strict=True)):
            b, off = divmod(m, self.block)
            key = (seed, c, str(dev))
            if self._blocks.get(key, (None,))[0] != b:
                labels = None if c < 0 else c
                cseed = int(_rng.index_keys(torch.tensor([c + 1]), seed, _rng.STREAM_CLASS)[0])
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
