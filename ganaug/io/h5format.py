"""The ganaug export file format: constants, opening and validating a file (no torchvision).

The layout is described in :mod:`ganaug.io.h5dataset`; :mod:`ganaug.io.exporter` writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "attr",
    "check_shards",
    "open_h5",
    "read_header",
]

FORMAT = "ganaug-samples"
FORMAT_VERSION = 1


def open_h5(path: str | os.PathLike, mode: str = "r", **kwargs: Any) -> Any:
    """``h5py.File`` that turns an unreadable file into a ValueError saying so."""
    import h5py

    path = Path(path)
    if mode == "r" and not path.exists():
        raise FileNotFoundError(f"no HDF5 file at {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"expected an HDF5 file, got the directory {path}")
    try:
        return h5py.File(path, mode, **kwargs)
    except OSError as e:
        if mode != "r":
            raise
        size = path.stat().st_size
        raise ValueError(
            f"{path} ({size} bytes) is not a readable HDF5 file; it may be truncated, corrupt "
            f"or not HDF5 at all ({e})"
        ) from e


def attr(f: Any, key: str, default: Any = None) -> Any:
    value = f.attrs.get(key, default)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def read_header(f: Any, path: Path, *, require_complete: bool = True) -> dict[str, Any]:
    """Validate an open file as a ganaug export and return its attributes (JSON decoded)."""
    fmt = attr(f, "format")
    if fmt != FORMAT:
        raise ValueError(
            f"{path} is an HDF5 file but not a ganaug export: expected attribute "
            f"format={FORMAT!r}, found {fmt!r} (datasets: {sorted(f.keys())[:6]})"
        )
    version = attr(f, "format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has ganaug export format version {version!r}; this ganaug reads "
            f"version {FORMAT_VERSION}"
        )
    if require_complete and not attr(f, "complete", False):
        raise ValueError(
            f"{path} is an unfinished ganaug export (complete=False); run the export command "
            f"again to finish it"
        )
    head = {k: attr(f, k) for k in f.attrs}
    for key in ("model_config", "class_names", "options", "job", "shards"):
        if key in head:
            head[key] = json.loads(head[key])
    missing = [k for k in ("images", "labels", "seeds") if k not in f]
    if missing:
        raise ValueError(f"{path} is a ganaug export without the datasets {missing}")
    n, shape = len(f["labels"]), f["images"].shape
    if f["images"].dtype != np.uint8 or len(shape) != 4 or shape[0] != n or len(f["seeds"]) != n:
        raise ValueError(
            f"{path}: expected images (N, H, W, C) uint8 with N labels and seeds; found images "
            f"{shape} {f['images'].dtype}, {n} labels, {len(f['seeds'])} seeds"
        )
    if "shards" in head:
        check_shards(path, head)
    return head


def check_shards(path: Path, head: dict[str, Any]) -> None:
    """Every shard of an index file exists, is complete and belongs to the same job."""
    job = {k: v for k, v in head["job"].items() if k != "range"}
    for shard in head["shards"]:
        shard_path = path.parent / shard["file"]
        if not shard_path.exists():
            raise ValueError(
                f"{path} is a sharded export whose shard {shard['file']!r} (rows "
                f"{shard['start']}..{shard['stop'] - 1}) is missing from {path.parent}"
            )
        with open_h5(shard_path) as f:
            sub = read_header(f, shard_path)
        sub_job = {k: v for k, v in sub["job"].items() if k != "range"}
        rows = sub["job"].get("range") or [None, None]
        if sub_job != job or list(rows) != [shard["start"], shard["stop"]]:
            raise ValueError(
                f"{path}: shard {shard_path.name} does not belong to this export (its job or "
                f"row range {rows} differs from the index's {[shard['start'], shard['stop']]})"
            )
