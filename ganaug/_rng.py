"""Counter-based randomness addressed by (seed, index): the same numbers on any batch split.

Each value is a pure function of (seed, stream, index, component), computed with integer ops that
give identical bits on every device (a 32-bit avalanche hash, "lowbias32" by C. Wellons), so
sample *i* of seed *s* does not depend on batch size, worker count, device split or world size
(the property torchvision ``FakeData`` and NVlabs/edm ``generate.py`` get from per-index seeds).
The global RNG is never touched.
"""

from __future__ import annotations

import math

import torch

_M32 = 0xFFFFFFFF

# Every stream of the library, in one table: a value used twice would make two kinds of draw
# the same numbers (tested: all distinct). Changing a value changes what a seed produces.
STREAM_LATENT = 0x1B873593  # the latent z of sample i
STREAM_LABEL = 0x68E31DA4  # the class of sample i under labels="uniform"
STREAM_CHOICE = 0x3C6EF372  # coin flips: which rows a transform replaces
STREAM_ROW = 0x5BD1E995  # which stored row of an H5Dataset answers sample index i
STREAM_ORDER = 0x27D4EB2F  # the shuffle of an export's counts label spec
STREAM_ACCEPT = 0x6A09E667  # FilteredSource's accept/reject draw per candidate
STREAM_SHUFFLE = 0x2F6B3A1D  # GANAugmented's placement of synthetic items
STREAM_ROWS = 0x7F4A7C15  # which batch rows the mixer replaces
STREAM_CLASS = 0x4C957F2D  # per-class draw streams of stateful transforms
STREAM_WORKER = 0x165667B1  # a DataLoader worker's transform seed
STREAM_STEP = 0x5EED0000  # training step generators: + 64 * rank + critic iteration
STREAMS = {k: v for k, v in dict(globals()).items() if k.startswith("STREAM_")}


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for x in [0, 2**32) without int64 overflow (16-bit halves)."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def mix32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 avalanche hash of int64 values in [0, 2**32)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def index_keys(indices: torch.Tensor, seed: int, stream: int) -> torch.Tensor:
    """One 32-bit key per index for (seed, stream): (N,) int64 in [0, 2**32)."""
    idx = indices.to(torch.int64)
    s = int(seed) & ((1 << 64) - 1)
    key = mix32(torch.tensor((s & _M32) ^ stream, dtype=torch.int64, device=idx.device))
    key = mix32(key ^ ((s >> 32) & _M32))
    return mix32(mix32((idx & _M32) ^ key) ^ ((idx >> 32) & _M32))


def uniform_bits(indices: torch.Tensor, seed: int, stream: int, width: int) -> torch.Tensor:
    """(N, width) int64 hashes in [0, 2**32), one row per index."""
    keys = index_keys(indices, seed, stream)  # (N,)
    cols = mix32(torch.arange(width, dtype=torch.int64, device=keys.device) + 0x2545F491)
    return mix32(mix32(keys[:, None] ^ cols[None, :]) ^ keys[:, None])


def normal(indices: torch.Tensor, seed: int, dim: int, stream: int = STREAM_LATENT) -> torch.Tensor:
    """(N, dim) standard normal float32, row i a pure function of (seed, indices[i])."""
    half = math.ceil(dim / 2)
    bits = uniform_bits(indices, seed, stream, 2 * half)
    u = ((bits >> 8).to(torch.float32) + 0.5) * (1.0 / (1 << 24))  # (N, 2*half) in (0, 1)
    r = torch.sqrt(-2.0 * torch.log(u[:, :half]))
    theta = (2.0 * math.pi) * u[:, half:]
    return torch.cat([r * torch.cos(theta), r * torch.sin(theta)], dim=1)[:, :dim]


def randint(
    indices: torch.Tensor, seed: int, high: int, stream: int = STREAM_LABEL
) -> torch.Tensor:
    """(N,) int64 in [0, high), one per index."""
    return uniform_bits(indices, seed, stream, 1)[:, 0] % high


def rand(indices: torch.Tensor, seed: int, stream: int = STREAM_CHOICE) -> torch.Tensor:
    """(N,) float32 uniform in [0, 1), one per index."""
    bits = uniform_bits(indices, seed, stream, 1)[:, 0]
    return (bits >> 8).to(torch.float32) * (1.0 / (1 << 24))
