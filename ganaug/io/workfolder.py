"""The working folder of a resumable export: ``job.json`` says which command it belongs to,
``lock`` keeps a second writer out, and the segment files (:mod:`ganaug.io.segments`) hold the
rows written so far."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

from .._files import replacing
from .segments import list_segments

__all__ = ["job_diff", "open_work", "read_job"]


def open_work(
    work: Path, job: dict[str, Any], *, overwrite: bool, resume: bool
) -> tuple[int, int | None]:
    """Create or validate the working folder and lock it against a second writer.

    Returns:
        ``(first row not yet written, lock file descriptor)``; closing the descriptor (or the
        process dying, even by SIGKILL) releases the lock.
    """
    if work.exists():
        old = read_job(work) if work.is_dir() else None
        # a folder holding nothing but temporaries: killed while creating it, start afresh
        if work.is_dir() and old is None and all(p.suffix == ".tmp" for p in work.iterdir()):
            shutil.rmtree(work)
        elif old != job:
            if not overwrite:
                what = "is not a ganaug export working folder"
                if old is not None:
                    what = f"holds an unfinished export of another command ({job_diff(old, job)})"
                raise ValueError(
                    f"{work} {what}; run that command again to finish it, or pass overwrite=True "
                    f"(--overwrite) to discard it"
                )
            shutil.rmtree(work) if work.is_dir() else work.unlink()
    elif resume:
        raise FileNotFoundError(f"nothing to resume: no unfinished export at {work}")
    if not work.exists():
        _create_work(work, job)
    lock = _lock(work)
    segments = list_segments(work, job["range"][0])
    return (segments[-1][1] if segments else job["range"][0]), lock


def _create_work(work: Path, job: dict[str, Any]) -> None:
    try:
        work.mkdir(parents=True)
        with replacing(work / "job.json", tmp=work / "job.json.tmp", durable=True) as tmp:
            tmp.write_text(json.dumps(job, sort_keys=True))
    except OSError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise type(e)(
            e.errno, f"cannot write the export at {work.parent} ({e.strerror})", str(work)
        ) from e


def _lock(work: Path) -> int | None:
    """An exclusive ``flock`` on ``work/lock`` (POSIX; None where flock does not exist)."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(work / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OSError(
            errno.EBUSY,
            f"another process is writing the export in {work} right now; wait for it to finish "
            f"(or stop it) and run the command again",
        ) from None
    return fd


def read_job(work: Path) -> dict[str, Any] | None:
    try:
        return json.loads((work / "job.json").read_text())
    except (OSError, ValueError):
        return None


def job_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    parts = [f"{k}: {_short(old.get(k))} there, {_short(new.get(k))} now" for k in keys]
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."
