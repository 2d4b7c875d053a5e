"""Export synthetic samples to HDF5: crash-safe, resumable, sharded under ``torchrun``.

While an export runs, finished rows live in ``PATH.partial/``: ``job.json`` (what is being
made) and one segment file per generated batch, each written under a temporary name, fsynced
and renamed, so a segment is either whole or absent. Running the same command again continues
after the last segment. When every row is done the segments' compressed chunks are copied (no
recompression) into one file, marked ``complete``, fsynced and renamed to ``PATH``: a file under
the final name is always complete, whenever the process is killed.

Under ``torchrun`` each rank writes ``STEM-0000r-of-0000w.SUFFIX`` for its chunk-aligned share of
the rows, and rank 0 then writes ``PATH`` as an index of HDF5 virtual datasets with relative
paths (see :mod:`ganaug.io.h5dataset` for the layout and the checks made on open).
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._dist import Dist, init_dist
from .._version import __version__
from ..sources import DEFAULT_BATCH, SampleSource, load, resolve_label_spec
from .h5format import FORMAT, FORMAT_VERSION, open_h5, read_header
from .segments import SegmentWriter, encode_chunks, join_segments
from .shards import shard_path, shard_range, write_index
from .workfolder import open_work

__all__ = ["export", "shard_path", "COMPRESSIONS", "default_chunk_rows"]

COMPRESSIONS = ("gzip", "lzf", "none")
GZIP_LEVEL = 4
# ~16 KiB of raw pixels per chunk (16 rows of 28x28x1), chosen by measurement (benchmarks/
# bench_export.py, RESULTS.md): against 64 rows it costs 0.3% in file size and reads shuffled
# batches from a file too large for H5Dataset's in-memory copy 2.5-3.4x faster (less to inflate
# per row), while files that fit are read at >250k rows/s either way.
CHUNK_BYTES = 16 << 10
SEEDS_MEANING = (
    "absolute sample index i in the seed stream attrs['seed']: "
    "source.sample(1, labels=[label], seed=seed, start=i) regenerates the row"
)


def default_chunk_rows(image_shape: tuple[int, int, int]) -> int:
    """Rows per HDF5 chunk: the power of two nearest ``CHUNK_BYTES`` of raw pixels."""
    row = int(np.prod(image_shape))
    return int(2 ** max(0, round(np.log2(max(1.0, CHUNK_BYTES / row)))))


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(device)


def _precision_of(source: Any, dev: torch.device) -> str | None:
    """What a live source samples in ("bf16" / "fp32"); None for a stored file."""
    fn = getattr(source, "resolved_precision", None)
    return fn(dev) if fn is not None else None


def _source_info(source: SampleSource) -> dict[str, Any]:
    """What identifies the source in the job: model file hash and config, plus any wrapper."""
    config = getattr(source, "config", None)
    config = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
    describe = getattr(source, "describe", None)
    return {
        "kind": type(source).__name__,
        "model_sha256": getattr(source, "sha256", None) or "",
        "model_config": config,
        "wrapper": describe() if callable(describe) else None,
    }


def export(
    source: SampleSource | str | os.PathLike | None,
    path: str | os.PathLike,
    n: int | None = None,
    *,
    labels: Any = "auto",
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device | None = "auto",
    compression: str = "gzip",
    chunk_rows: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = True,
    precision: str = "auto",
) -> Path:
    """Write ``n`` synthetic samples of ``source`` to an HDF5 file (or shards under torchrun).

    Args:
        source: a SampleSource (``Generator``, ``H5Dataset``, a filter wrapper) or a model file
            path / bundled model name (``None`` = "fashion-mnist").
        path: the output file; only ever appears complete.
        n: number of samples (> 0); may be omitted with a counts spec.
        labels: "auto" ("balanced" for a conditional model, none otherwise), "balanced",
            "uniform", a class index or name, counts ``{class: count}`` or "0:500,3:1000"
            (rows shuffled deterministically), or n class indices.
        seed: the sample stream; row i is sample i of this seed for any batch size or world size.
        batch_size: rows per generation batch and per resumable segment (rounded up to whole
            chunks; default: ``ganaug.engine.DEFAULT_BATCH`` for the device).
        device: "auto" (CUDA if present, else CPU), "cpu", "cuda", ...
        compression: "gzip" (level 4), "lzf" or "none".
        chunk_rows: rows per HDF5 chunk (default: :func:`default_chunk_rows`).
        overwrite: replace an existing file and discard an unfinished export of another command.
        resume: require an unfinished export at ``path`` to continue (error if there is none).
        progress: show a tqdm progress bar.
        precision: when ``source`` is a model file: "auto" (bf16 on CUDA and on CPUs with
            native bf16 units), "fp32" or "bf16" (a loaded Generator keeps its own). The file
            records what ran; the bytes depend on the machine and the precision.

    Returns:
        ``path``.

    Example:
        >>> ganaug.export("fashion-mnist", "synthetic.h5", 10_000, seed=0)  # doctest: +SKIP
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"expected compression one of {COMPRESSIONS}, got {compression!r}")
    if n is not None and (isinstance(n, bool) or int(n) != n or n <= 0):
        raise ValueError(f"expected n > 0 samples, got {n!r}")
    if batch_size is not None and batch_size <= 0:
        raise ValueError(f"expected batch_size > 0, got {batch_size}")
    if chunk_rows is not None and chunk_rows <= 0:
        raise ValueError(f"expected chunk_rows > 0, got {chunk_rows}")
    dev = _resolve_device(device)
    dist = init_dist(dev)  # under torchrun: one shard per rank, from Python as from the CLI
    if source is None or isinstance(source, (str, os.PathLike)):
        source = load(source, device=dev, precision=precision)
    run = _plan(source, n, labels, seed, batch_size, dev, compression, chunk_rows)
    run.progress, run.overwrite, run.resume = progress, overwrite, resume
    path = Path(path)
    if not dist.active:
        _export_rows(run, path, run.job, run.attrs)
    elif not _already_done(path, run.job, overwrite):
        _export_sharded(run, path, dist)
    return path


@dataclass
class _Run:
    """One export's settings: what it makes (``job``) and how (batch size, device, ...)."""

    source: SampleSource
    job: dict[str, Any]
    attrs: dict[str, Any]
    labels: torch.Tensor  # (n,) the class of every row
    batch_size: int
    device: torch.device
    progress: bool = True
    overwrite: bool = False
    resume: bool = False


def _plan(
    source: SampleSource,
    n: int | None,
    labels: Any,
    seed: int,
    batch_size: int | None,
    dev: torch.device,
    compression: str,
    chunk_rows: int | None,
) -> _Run:
    all_labels, spec, n = resolve_label_spec(
        labels, n, num_classes=source.num_classes, class_names=source.class_names, seed=seed
    )
    cr = int(chunk_rows or default_chunk_rows(source.image_shape))
    bs = DEFAULT_BATCH.get(dev.type, 1024) if batch_size is None else int(batch_size)
    bs = -(-bs // cr) * cr  # whole chunks per segment: joining copies chunks as they are
    job = {
        "format_version": FORMAT_VERSION,
        "source": _source_info(source),
        "n": n,
        "labels": spec,
        "seed": int(seed),
        "compression": compression,
        "chunk_rows": cr,
        "image_shape": list(source.image_shape),
        "device_type": dev.type,  # with the precision: what the bytes depend on
        "precision": _precision_of(source, dev),
        "range": [0, n],
    }
    job = json.loads(json.dumps(job))  # exactly what job.json and the file attribute hold
    options = {
        "compression": compression,
        "gzip_level": GZIP_LEVEL if compression == "gzip" else None,
        "chunk_rows": cr,
        "batch_size": bs,
        "device": str(dev),
    }
    return _Run(source, job, _file_attrs(source, job, options), all_labels, bs, dev)


def _export_sharded(run: _Run, path: Path, dist: Dist) -> None:
    """This rank's shard, then (after every rank succeeded) rank 0's index file."""
    rank, size = dist.rank, dist.world
    lo, hi = shard_range(run.job["n"], rank, size, run.job["chunk_rows"])
    job = {**run.job, "range": [lo, hi]}
    attrs = {**run.attrs, "job": json.dumps(job, sort_keys=True)}
    run.progress = run.progress and rank == 0
    error: BaseException | None = None
    try:
        if hi > lo:
            _export_rows(run, shard_path(path, rank, size), job, attrs)
    except Exception as e:  # every rank must reach the collective below
        error = e
    # NCCL reduces CUDA tensors only
    failed = int(dist.all_sum(torch.tensor([int(error is not None)], device=run.device)).item())
    if error is not None:
        raise error
    if failed:
        raise RuntimeError(f"{failed} other rank(s) failed to write their shard of {path}")
    if rank == 0:
        write_index(path, size, run.job["n"], run.job["chunk_rows"], run.attrs)
    dist.barrier()


def _usable_cpus() -> int:
    """CPUs this process may run on (affinity / cgroup cpusets), not all the machine has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _file_attrs(
    source: SampleSource, job: dict[str, Any], options: dict[str, Any]
) -> dict[str, Any]:
    info = job["source"]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ganaug_version": __version__,
        "model_sha256": info["model_sha256"],
        "model_config": json.dumps(info["model_config"], sort_keys=True),
        "class_names": json.dumps(list(source.class_names)),
        "num_classes": int(source.num_classes),
        "image_shape": list(source.image_shape),
        "seed": job["seed"],
        "labels": job["labels"],
        "n": job["n"],
        "options": json.dumps(options, sort_keys=True),
        "job": json.dumps(job, sort_keys=True),
        "seeds_meaning": SEEDS_MEANING,
        "complete": False,
    }


def _already_done(path: Path, job: dict[str, Any], overwrite: bool) -> bool:
    """True if ``path`` already holds this very export; an error if it holds something else."""
    if path.is_dir():
        raise IsADirectoryError(f"expected an output file path, got the directory {path}")
    if not path.exists() or overwrite:
        return False
    try:
        with open_h5(path) as f:
            head = read_header(f, path)
    except ValueError as e:
        raise FileExistsError(
            f"{path} already exists and is not a complete ganaug export ({e}); pass "
            f"overwrite=True (--overwrite) to replace it"
        ) from None
    if head["job"] != job:
        raise FileExistsError(
            f"{path} already exists (a complete export of {head['n']} samples, seed "
            f"{head['seed']}, labels {head['labels']!r}); pass overwrite=True (--overwrite) to "
            f"replace it"
        )
    shutil.rmtree(path.with_name(path.name + ".partial"), ignore_errors=True)
    return True


def _export_rows(run: _Run, path: Path, job: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Generate rows ``job["range"]`` into ``path`` via segments in ``path.partial/``."""
    from tqdm.auto import tqdm

    if _already_done(path, job, run.overwrite):
        return
    lo, hi = job["range"]
    work = path.with_name(path.name + ".partial")
    done, lock = open_work(work, job, overwrite=run.overwrite, resume=run.resume)
    hwc = (*job["image_shape"][1:], job["image_shape"][0])
    cr, compression = job["chunk_rows"], job["compression"]
    bar = tqdm(
        total=hi - lo,
        initial=done - lo,
        unit="img",
        disable=not run.progress,
        desc=f"export {path.name}",
        dynamic_ncols=True,
    )
    writer = SegmentWriter(
        work,
        hwc=hwc,
        chunk_rows=cr,
        compression=compression,
        gzip_level=GZIP_LEVEL,
        done=done,
        on_write=bar.update,
    )
    writer.start()
    # on CPU, compress between batches on every core (see ganaug._writer); on a GPU, in the writer
    pool = ThreadPoolExecutor(_usable_cpus()) if run.device.type == "cpu" else None
    try:
        for a in range(done, hi, run.batch_size):
            b = min(a + run.batch_size, hi)
            y = run.labels[a:b] if run.source.num_classes else None
            x, got = run.source.sample(
                b - a,
                labels=y,
                seed=job["seed"],
                start=a,
                batch_size=run.batch_size,
                device=run.device,
            )
            images = x.permute(0, 2, 3, 1).contiguous().cpu().numpy()  # (b, H, W, C) uint8
            chunks = encode_chunks(images, cr, compression, GZIP_LEVEL, pool) if pool else None
            writer.put(a, images, got.cpu().numpy().astype(np.int64), np.arange(a, b), chunks)
        writer.finish()
        join_segments(work, path, attrs, lo, hi, hwc, cr, compression, GZIP_LEVEL, writer.kept)
    except BaseException:
        writer.finish(check=False)  # let queued segments land: they are finished work
        raise
    finally:
        if pool is not None:
            pool.shutdown()
        bar.close()
        if lock is not None:
            os.close(lock)
