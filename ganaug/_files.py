"""Writing a file so that it is whole or absent under its name: temp file, then ``os.replace``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["replacing", "fsync_path"]


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path, *, tmp: Path | None = None, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; when the block succeeds, move it onto ``path`` at once.

    A crash or an error leaves ``path`` as it was (the temporary is removed on error).

    Args:
        path: the final file.
        tmp: the temporary (default ``.NAME.tmp-PID`` next to ``path``: unique per process).
        durable: fsync the file before the rename and the folder after it (survives power loss).

    Example:
        >>> with replacing(Path("out.json")) as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    tmp = tmp if tmp is not None else path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    finally:
        tmp.unlink(missing_ok=True)  # nothing left after a successful replace
