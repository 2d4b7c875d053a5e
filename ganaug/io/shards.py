"""Sharded export under ``torchrun``: each rank's rows, and rank 0's index of virtual datasets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._files import replacing
from .h5format import open_h5

__all__ = ["shard_path", "shard_range", "write_index"]


def shard_path(path: str | os.PathLike, rank: int, world: int) -> Path:
    """``synthetic.h5`` -> ``synthetic-00001-of-00002.h5`` for rank 1 of 2."""
    path = Path(path)
    return path.with_name(f"{path.stem}-{rank:05d}-of-{world:05d}{path.suffix}")


def shard_range(n: int, rank: int, world: int, align: int) -> tuple[int, int]:
    """Rank's rows [lo, hi): an equal share of whole chunks (the last rank may get fewer)."""
    chunks = -(-n // align)
    per = -(-chunks // world) * align
    return min(rank * per, n), min((rank + 1) * per, n)


def write_index(path: Path, world: int, n: int, align: int, attrs: dict[str, Any]) -> None:
    """Rank 0: join the shards with virtual datasets (relative paths) into ``path``, atomically."""
    import h5py

    shards = []
    for r in range(world):
        lo, hi = shard_range(n, r, world, align)
        if hi > lo:
            shards.append({"file": shard_path(path, r, world).name, "start": lo, "stop": hi})
    c, h, w = attrs["image_shape"]
    layouts = {
        "images": h5py.VirtualLayout((n, h, w, c), np.uint8),
        "labels": h5py.VirtualLayout((n,), np.int64),
        "seeds": h5py.VirtualLayout((n,), np.int64),
    }
    for s in shards:
        rows = s["stop"] - s["start"]
        for name, layout in layouts.items():
            # relative file names: HDF5 looks for them next to the index, so the set can move
            layout[s["start"] : s["stop"]] = h5py.VirtualSource(
                s["file"], name, shape=(rows, *layout.shape[1:])
            )
    with replacing(path, durable=True) as tmp, open_h5(tmp, "w") as f:
        for name, layout in layouts.items():
            f.create_virtual_dataset(name, layout, fillvalue=0)
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["shards"] = json.dumps(shards)
        f.attrs["complete"] = True
