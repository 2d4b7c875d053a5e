"""Export synthetic samples to HDF5: crash-safe, resumable, sharded under ``torchrun``.

While an export runs, finished rows live in ``PATH.partial/``: ``job.json`` (what is being
made) and one segment file per generated batch, each written under a temporary name, fsynced
and renamed, so a segment is either whole or absent. Running the same command again continues
after the last segment. When every row is done the segments' compressed chunks are copied (no
recompression) into one file, marked ``complete``, fsynced and renamed to ``PATH``: a file under
the final name is always complete, whenever the process is killed.

Under ``torchrun`` each rank writes ``STEM-0000r-of-0000w.SUFFIX`` for its chunk-aligned share of
the rows, and rank 0 then writes ``PATH`` as an index of HDF5 virtual datasets with relative
paths (see :mod:`ganaug.h5dataset` for the layout and the checks made on open).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._labelspec import resolve_export_labels
from ._version import __version__
from ._writer import SegmentWriter, create_datasets, fsync_path, list_segments
from .engine import DEFAULT_BATCH, load
from .h5dataset import FORMAT, FORMAT_VERSION, open_h5, read_header

__all__ = ["export", "shard_path", "COMPRESSIONS", "default_chunk_rows"]

COMPRESSIONS = ("gzip", "lzf", "none")
GZIP_LEVEL = 4
# ~64 KiB of raw pixels per chunk (64 rows of 28x28x1): chosen by measuring shuffled batch
# reads (cold and warm) against file size, see benchmarks/bench_export.py and benchmarks/RESULTS.md.
CHUNK_BYTES = 64 << 10
SEEDS_MEANING = (
    "absolute sample index i in the seed stream attrs['seed']: "
    "source.sample(1, labels=[label], seed=seed, start=i) regenerates the row"
)


def default_chunk_rows(image_shape: tuple[int, int, int]) -> int:
    """Rows per HDF5 chunk: the power of two nearest ``CHUNK_BYTES`` of raw pixels."""
    row = int(np.prod(image_shape))
    return int(2 ** max(0, round(np.log2(max(1.0, CHUNK_BYTES / row)))))


def shard_path(path: str | os.PathLike, rank: int, world: int) -> Path:
    """``synthetic.h5`` -> ``synthetic-00001-of-00002.h5`` for rank 1 of 2."""
    path = Path(path)
    return path.with_name(f"{path.stem}-{rank:05d}-of-{world:05d}{path.suffix}")


def _dist() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(device)


def _source_info(source: Any) -> dict[str, Any]:
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
    source: Any,
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
            chunks; default 1024 on CPU, 4096 on CUDA).
        device: "auto" (CUDA if present, else CPU), "cpu", "cuda", ...
        compression: "gzip" (level 4), "lzf" or "none".
        chunk_rows: rows per HDF5 chunk (default: :func:`default_chunk_rows`).
        overwrite: replace an existing file and discard an unfinished export of another command.
        resume: require an unfinished export at ``path`` to continue (error if there is none).
        progress: show a tqdm progress bar.

    Returns:
        ``path``.

    Example:
        >>> ganaug.export("fashion-mnist", "synthetic.h5", 10_000, seed=0)  # doctest: +SKIP
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"expected compression one of {COMPRESSIONS}, got {compression!r}")
    if n is not None and (isinstance(n, bool) or int(n) != n or n <= 0):
        raise ValueError(f"expected n > 0 samples, got {n!r}")
    dev = _resolve_device(device)
    if source is None or isinstance(source, (str, os.PathLike)):
        source = load(source, device=dev)
    all_labels, spec, n = resolve_export_labels(
        labels, n, num_classes=source.num_classes, class_names=source.class_names, seed=seed
    )
    cr = int(chunk_rows or default_chunk_rows(source.image_shape))
    if cr <= 0:
        raise ValueError(f"expected chunk_rows > 0, got {chunk_rows}")
    bs = DEFAULT_BATCH.get(dev.type, 1024) if batch_size is None else int(batch_size)
    if bs <= 0:
        raise ValueError(f"expected batch_size > 0, got {batch_size}")
    bs = -(-bs // cr) * cr
    job = json.loads(
        json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "source": _source_info(source),
                "n": n,
                "labels": spec,
                "seed": int(seed),
                "compression": compression,
                "chunk_rows": cr,
                "image_shape": list(source.image_shape),
                "device_type": dev.type,
                "range": [0, n],
            }
        )
    )
    options = {
        "compression": compression,
        "gzip_level": GZIP_LEVEL if compression == "gzip" else None,
        "chunk_rows": cr,
        "batch_size": bs,
        "device": str(dev),
    }
    attrs = _file_attrs(source, job, options)
    path = Path(path)
    rank, world = _dist()
    if world == 1:
        _export_rows(source, path, job, attrs, all_labels, bs, dev, progress, overwrite, resume)
        return path
    if _already_done(path, job, overwrite):
        return path
    lo, hi = _shard_range(n, rank, world, cr)
    shard_job = {**job, "range": [lo, hi]}
    error: BaseException | None = None
    try:
        if hi > lo:
            _export_rows(
                source,
                shard_path(path, rank, world),
                shard_job,
                {**attrs, "job": json.dumps(shard_job, sort_keys=True)},
                all_labels,
                bs,
                dev,
                progress and rank == 0,
                overwrite,
                resume,
            )
    except Exception as e:  # every rank must reach the collective below
        error = e
    failed = _all_ranks_sum(int(error is not None))
    if error is not None:
        raise error
    if failed:
        raise RuntimeError(f"{failed} other rank(s) failed to write their shard of {path}")
    if rank == 0:
        _write_index(path, world, n, cr, attrs)
    torch.distributed.barrier()
    return path


def _shard_range(n: int, rank: int, world: int, align: int) -> tuple[int, int]:
    """Rank's rows [lo, hi): an equal share of whole chunks (the last rank may get fewer)."""
    chunks = -(-n // align)
    per = -(-chunks // world) * align
    return min(rank * per, n), min((rank + 1) * per, n)


def _all_ranks_sum(value: int) -> int:
    dist = torch.distributed
    dev = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )
    t = torch.tensor([value], device=dev)
    dist.all_reduce(t)
    return int(t.item())


def _file_attrs(source: Any, job: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
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


def _export_rows(
    source: Any,
    path: Path,
    job: dict[str, Any],
    attrs: dict[str, Any],
    all_labels: torch.Tensor,
    bs: int,
    dev: torch.device,
    progress: bool,
    overwrite: bool,
    resume: bool,
) -> None:
    """Generate rows ``job["range"]`` into ``path`` via segments in ``path.partial/``."""
    from tqdm.auto import tqdm

    if _already_done(path, job, overwrite):
        return
    lo, hi = job["range"]
    work = path.with_name(path.name + ".partial")
    done = _open_work(work, job, overwrite=overwrite, resume=resume)
    hwc = (*job["image_shape"][1:], job["image_shape"][0])
    cr, compression = job["chunk_rows"], job["compression"]
    bar = tqdm(
        total=hi - lo,
        initial=done - lo,
        unit="img",
        disable=not progress,
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
    try:
        for a in range(done, hi, bs):
            b = min(a + bs, hi)
            y = all_labels[a:b] if source.num_classes else None
            x, got = source.sample(
                b - a, labels=y, seed=job["seed"], start=a, batch_size=bs, device=dev
            )
            images = x.permute(0, 2, 3, 1).contiguous().cpu().numpy()  # (b, H, W, C) uint8
            writer.put(a, images, got.cpu().numpy().astype(np.int64), np.arange(a, b))
    finally:
        writer.finish()
        bar.close()
    _finalise(work, path, attrs, lo, hi, hwc, cr, compression)


def _open_work(work: Path, job: dict[str, Any], *, overwrite: bool, resume: bool) -> int:
    """Create or validate the working folder; returns the first row not yet written."""
    if work.exists():
        old = _read_job(work)
        if old != job:
            if not overwrite:
                what = "is not a ganaug export working folder"
                if old is not None:
                    what = f"holds an unfinished export of another command ({_job_diff(old, job)})"
                raise ValueError(
                    f"{work} {what}; run that command again to finish it, or pass overwrite=True "
                    f"(--overwrite) to discard it"
                )
            shutil.rmtree(work)
    elif resume:
        raise FileNotFoundError(f"nothing to resume: no unfinished export at {work}")
    if not work.exists():
        try:
            work.mkdir(parents=True)
            tmp = work / "job.json.tmp"
            tmp.write_text(json.dumps(job, sort_keys=True))
            fsync_path(tmp)
            os.replace(tmp, work / "job.json")
        except OSError as e:
            shutil.rmtree(work, ignore_errors=True)
            raise type(e)(
                e.errno, f"cannot write the export at {work.parent} ({e.strerror})", str(work)
            ) from e
    segments = list_segments(work, job["range"][0])
    return segments[-1][1] if segments else job["range"][0]


def _read_job(work: Path) -> dict[str, Any] | None:
    try:
        return json.loads((work / "job.json").read_text())
    except (OSError, ValueError):
        return None


def _job_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    parts = [f"{k}: {_short(old.get(k))} there, {_short(new.get(k))} now" for k in keys]
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _finalise(
    work: Path,
    path: Path,
    attrs: dict[str, Any],
    lo: int,
    hi: int,
    hwc: tuple[int, ...],
    cr: int,
    compression: str,
) -> None:
    """Join the segments into one file (copying compressed chunks as they are), then rename."""
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
        with open_h5(tmp, "w", track_order=False) as f:
            create_datasets(f, hi - lo, hwc, cr, compression, GZIP_LEVEL)
            for a, b, seg_path in segments:
                with open_h5(seg_path) as s:
                    f["labels"][a - lo : b - lo] = s["labels"][:]
                    f["seeds"][a - lo : b - lo] = s["seeds"][:]
                    src, dst = s["images"].id, f["images"].id
                    for k in range(0, b - a, cr):
                        mask, data = src.read_direct_chunk((k, 0, 0, 0))
                        dst.write_direct_chunk((a - lo + k, 0, 0, 0), data, mask)
            for key, value in attrs.items():
                f.attrs[key] = value
            f.attrs["complete"] = True
        fsync_path(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # h5py reports some write failures as RuntimeError
        tmp.unlink(missing_ok=True)
        raise OSError(
            getattr(e, "errno", None) or errno.EIO,
            f"could not write {path} ({e}); all {hi - lo} rows are kept in {work}: free disk "
            f"space and run the same command again to finish",
        ) from e
    fsync_path(path.parent)
    shutil.rmtree(work, ignore_errors=True)


def _write_index(path: Path, world: int, n: int, cr: int, attrs: dict[str, Any]) -> None:
    """Rank 0: join the shards with virtual datasets (relative paths) into ``path``."""
    import h5py

    shards = []
    for r in range(world):
        lo, hi = _shard_range(n, r, world, cr)
        if hi > lo:
            shards.append({"file": shard_path(path, r, world).name, "start": lo, "stop": hi})
    h, w, c = attrs["image_shape"][1], attrs["image_shape"][2], attrs["image_shape"][0]
    layouts = {
        "images": h5py.VirtualLayout((n, h, w, c), np.uint8),
        "labels": h5py.VirtualLayout((n,), np.int64),
        "seeds": h5py.VirtualLayout((n,), np.int64),
    }
    for s in shards:
        rows = s["stop"] - s["start"]
        for name, layout in layouts.items():
            layout[s["start"] : s["stop"]] = h5py.VirtualSource(
                s["file"], name, shape=(rows, *layout.shape[1:])
            )
    tmp = path.with_name(f".{path.name}.index-tmp")
    with open_h5(tmp, "w") as f:
        for name, layout in layouts.items():
            f.create_virtual_dataset(name, layout, fillvalue=0)
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["shards"] = json.dumps(shards)
        f.attrs["complete"] = True
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)
