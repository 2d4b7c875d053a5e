"""The segment files of a resumable export: writing them, listing them, joining them.

The working folder that holds them (``job.json``, the lock) is :mod:`ganaug.io.workfolder`.

Segments are written by a thread so generation never waits on I/O. Compressing gzip chunks
(:func:`encode_chunks`) happens where it costs least: on a GPU export in that thread, beside the
GPU's generation; on a CPU export between batches, spread over every core (a thread competing
with torch's own threads during generation stalls them, which costs more than it hides). lzf
(cheap) is left to HDF5's filter in the writer thread.

A segment holds rows ``[a, b)`` of an export as a small HDF5 file ``seg-A-B.h5`` with the same
chunking and compression as the final file, so joining segments copies compressed chunks as
they are. Each is built in memory, then written under ``.tmp``, fsynced and renamed: it is
whole or absent, and a full disk fails a plain ``write`` (a clean OSError), not HDF5.
"""

from __future__ import annotations

import concurrent.futures
import errno
import queue
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .._files import replacing
from .h5format import open_h5

__all__ = [
    "SegmentWriter",
    "create_datasets",
    "encode_chunks",
    "join_segments",
    "list_segments",
]

_SEGMENT = re.compile(r"^seg-(\d{12})-(\d{12})\.h5$")


def create_datasets(
    f: Any, rows: int, hwc: tuple[int, ...], chunk_rows: int, compression: str, gzip_level: int
) -> None:
    """``/images (rows, H, W, C)`` uint8 chunked along rows, ``/labels`` and ``/seeds`` int64."""
    filters: dict[str, Any] = {}
    if compression == "gzip":
        filters = {"compression": "gzip", "compression_opts": gzip_level}
    elif compression == "lzf":
        filters = {"compression": "lzf"}
    # maxshape=None along rows lets a chunk be taller than a short (last) segment
    f.create_dataset(
        "images",
        shape=(rows, *hwc),
        maxshape=(None, *hwc),
        dtype=np.uint8,
        chunks=(chunk_rows, *hwc),
        track_times=False,
        **filters,
    )
    for name in ("labels", "seeds"):
        f.create_dataset(name, shape=(rows,), dtype=np.int64, track_times=False)


def list_segments(work: Path, start: int) -> list[tuple[int, int, Path]]:
    """The finished segments in ``work`` as ``(a, b, path)``, checked to tile ``[start, b)``."""
    for leftover in work.glob("*.tmp"):
        leftover.unlink(missing_ok=True)  # a write the last run did not finish
    found = []
    for p in work.iterdir():
        m = _SEGMENT.match(p.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), p))
    found.sort()
    expect = start
    for a, b, p in found:
        if a != expect:
            raise ValueError(
                f"{work}: segment {p.name} starts at row {a}, expected {expect}; "
                f"the folder was changed by hand, remove it to start over"
            )
        try:
            with open_h5(p) as f:
                rows = (len(f["images"]), len(f["labels"]), len(f["seeds"]))
        except (ValueError, KeyError, OSError) as e:
            raise ValueError(
                f"{p} (a segment of the unfinished export in {work}) is unreadable "
                f"({e}); delete it and run the same command again"
            ) from None
        if rows != (b - a,) * 3:
            raise ValueError(
                f"{p} should hold {b - a} rows, found {rows}; delete it and run "
                f"the same command again"
            )
        expect = b
    return found


def encode_chunks(
    images: np.ndarray,
    chunk_rows: int,
    compression: str,
    gzip_level: int,
    pool: concurrent.futures.Executor | None = None,
) -> list[bytes] | None:
    """``images`` (rows, H, W, C) as the chunks the file stores: zlib streams for gzip (what
    HDF5's deflate filter reads), raw bytes for none; None for lzf (HDF5's filter does it).

    The short last chunk is stored full size, padded with zeros (HDF5's fill). libdeflate (the
    ``deflate`` package) writes the zlib format at the same level in about half zlib's time and
    releases the GIL, so ``pool`` threads compress in parallel.
    """
    if compression == "lzf":
        return None
    import deflate

    def encode(lo: int) -> bytes:
        chunk = images[lo : lo + chunk_rows]
        if len(chunk) < chunk_rows:
            chunk = np.concatenate(
                [chunk, np.zeros((chunk_rows - len(chunk), *chunk.shape[1:]), np.uint8)]
            )
        data = np.ascontiguousarray(chunk).tobytes()
        return deflate.zlib_compress(data, gzip_level) if compression == "gzip" else data

    starts = range(0, len(images), chunk_rows)
    return list(pool.map(encode, starts)) if pool is not None else [encode(lo) for lo in starts]


class SegmentWriter(threading.Thread):
    """Writes ``put`` batches as segment files in ``work``; errors surface in the caller.

    Args:
        work: the export's working folder.
        hwc: image shape (H, W, C).
        chunk_rows, compression, gzip_level: the final file's storage settings.
        done: first row not yet written (for the error message on failure).
        on_write: called with the row count after each segment lands (progress bar).
        keep_bytes: keep the stored chunks of written segments in memory (``kept``) up to this
            many bytes, so joining need not read them back from disk.
    """

    def __init__(
        self,
        work: Path,
        *,
        hwc: tuple[int, ...],
        chunk_rows: int,
        compression: str,
        gzip_level: int,
        done: int,
        on_write: Callable[[int], Any],
        keep_bytes: int = 256 << 20,
    ) -> None:
        super().__init__(name="ganaug-export-writer", daemon=True)
        self.work, self.hwc, self.chunk_rows = work, hwc, chunk_rows
        self.compression, self.gzip_level = compression, gzip_level
        self.done, self.on_write = done, on_write
        self.error: BaseException | None = None
        self.kept: dict[int, Kept] | None = {}  # segment start -> its stored data
        self._room = keep_bytes
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)  # ~3 batches in flight (+ kept)

    def put(
        self,
        start: int,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: np.ndarray,
        chunks: list[bytes] | None = None,
    ) -> None:
        """Queue one batch (blocks while the writer is two batches behind); ``chunks``: the
        images already encoded by :func:`encode_chunks` (else the writer encodes them)."""
        while True:
            self._raise_if_failed()
            try:
                self._queue.put((start, images, labels, seeds, chunks), timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self, *, check: bool = True) -> None:
        """Wait for queued batches to land; re-raise a write error if ``check``."""
        while self.is_alive():
            try:
                self._queue.put(None, timeout=0.2)
                break
            except queue.Full:
                continue
        self.join()
        if check:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is None:
                try:
                    self._write(*item)
                except BaseException as e:  # handed to the generating thread
                    self.error = e

    def _write(
        self,
        start: int,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: np.ndarray,
        chunks: list[bytes] | None,
    ) -> None:
        stop = start + len(images)
        final = self.work / f"seg-{start:012d}-{stop:012d}.h5"
        tmp = final.with_name(final.name + ".tmp")
        if chunks is None:
            chunks = encode_chunks(images, self.chunk_rows, self.compression, self.gzip_level)
        image, stored = self._segment_image(images, labels, seeds, chunks)
        try:  # plain file I/O: a full disk is an OSError here, never a half-failed HDF5 write
            with replacing(final, tmp=tmp, durable=True) as t:
                t.write_bytes(image)
        except OSError as e:
            raise OSError(
                e.errno,
                f"could not write rows {start}..{stop - 1} to {tmp} ({e}); the rows "
                f"before {self.done} are finished and kept in {self.work}: free disk space "
                f"and run the same command again to continue",
            ) from e
        self.done = stop
        self._keep(start, Kept(stored, labels, seeds))
        self.on_write(stop - start)

    def _keep(self, start: int, kept: Kept) -> None:
        if self.kept is None:
            return
        self._room -= sum(len(c) for _, c in kept.chunks) + kept.labels.nbytes + kept.seeds.nbytes
        if self._room < 0:  # too large to hold: the join reads every segment from disk
            self.kept = None
        else:
            self.kept[start] = kept

    def _segment_image(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: np.ndarray,
        chunks: list[bytes] | None,
    ) -> tuple[bytes, list[tuple[int, bytes]]]:
        """The segment as HDF5 file bytes, built in memory, and its stored chunks."""
        import h5py

        name = f"segment-{threading.get_ident()}"
        with h5py.File(name, "w", driver="core", backing_store=False) as f:
            create_datasets(
                f, len(images), self.hwc, self.chunk_rows, self.compression, self.gzip_level
            )
            d, cr = f["images"].id, self.chunk_rows
            if chunks is None:  # lzf: HDF5's filter compresses; read its chunks back
                f["images"][...] = images
                stored = [d.read_direct_chunk((lo, 0, 0, 0)) for lo in range(0, len(images), cr)]
            else:
                stored = [(0, data) for data in chunks]
                for k, data in enumerate(chunks):
                    d.write_direct_chunk((k * cr, 0, 0, 0), data, 0)
            f["labels"][...] = labels
            f["seeds"][...] = seeds
            f.flush()
            return f.id.get_file_image(), stored


class Kept(NamedTuple):
    """A written segment's stored data, held in memory for the join."""

    chunks: list[tuple[int, bytes]]  # (filter mask, stored bytes)
    labels: np.ndarray
    seeds: np.ndarray


def join_segments(
    work: Path,
    path: Path,
    attrs: dict[str, Any],
    lo: int,
    hi: int,
    hwc: tuple[int, ...],
    cr: int,
    compression: str,
    gzip_level: int,
    kept: dict[int, Kept] | None = None,
) -> None:
    """Join the segments into one file (copying compressed chunks as they are), then rename.

    ``kept``: segments' stored data already in memory (by start row), used instead of reading
    those segments back."""
    tmp = work / "final.h5.tmp"
    segments = list_segments(work, lo)
    if not segments or segments[-1][1] != hi:
        raise RuntimeError(
            f"{work}: segments end at row {segments[-1][1] if segments else lo}, expected {hi}"
        )
    needed = sum(p.stat().st_size for _, _, p in segments)
    if shutil.disk_usage(work).free < needed:
        raise OSError(
            errno.ENOSPC,
            f"not enough disk space to join {work} into {path}: it needs about {needed} bytes, "
            f"{shutil.disk_usage(work).free} are free; all rows are kept, free space and run "
            f"the same command again to finish",
        )
    try:
        with replacing(path, tmp=tmp, durable=True) as t:
            with open_h5(t, "w", track_order=False) as f:
                create_datasets(f, hi - lo, hwc, cr, compression, gzip_level)
                dst = f["images"].id
                for a, b, seg_path in segments:
                    seg = (kept or {}).get(a) or _read_segment(seg_path, cr)
                    f["labels"][a - lo : b - lo] = seg.labels
                    f["seeds"][a - lo : b - lo] = seg.seeds
                    for k, (mask, data) in enumerate(seg.chunks):
                        dst.write_direct_chunk((a - lo + k * cr, 0, 0, 0), data, mask)
                for key, value in attrs.items():
                    f.attrs[key] = value
                f.attrs["complete"] = True
    except (OSError, RuntimeError) as e:  # h5py reports some write failures as RuntimeError
        raise OSError(
            getattr(e, "errno", None) or errno.EIO,
            f"could not write {path} ({e}); all {hi - lo} rows are kept in {work}: free disk "
            f"space and run the same command again to finish",
        ) from e
    shutil.rmtree(work, ignore_errors=True)


def _read_segment(path: Path, chunk_rows: int) -> Kept:
    with open_h5(path) as s:
        src = s["images"].id
        rows = range(0, len(s["images"]), chunk_rows)
        chunks = [src.read_direct_chunk((k, 0, 0, 0)) for k in rows]
        return Kept(chunks, s["labels"][:], s["seeds"][:])
