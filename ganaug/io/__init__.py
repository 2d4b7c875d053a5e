"""HDF5 in and out: :func:`export` writes synthetic samples (crash-safe, resumable, sharded under
torchrun) and :class:`H5Dataset` reads them back as a Dataset and a SampleSource.

``H5Dataset`` is imported on first use: it needs torchvision, which export never imports (it
costs a second of start-up).
"""

from typing import TYPE_CHECKING, Any

from .exporter import COMPRESSIONS, GZIP_LEVEL, default_chunk_rows, export
from .h5format import FORMAT, FORMAT_VERSION, open_h5, read_header
from .shards import shard_path

if TYPE_CHECKING:
    from .h5dataset import H5Dataset

__all__ = [
    "COMPRESSIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "GZIP_LEVEL",
    "H5Dataset",
    "default_chunk_rows",
    "export",
    "open_h5",
    "read_header",
    "shard_path",
]


def __getattr__(name: str) -> Any:
    if name == "H5Dataset":
        from .h5dataset import H5Dataset

        return H5Dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
