"""Export and ``H5Dataset`` figures as same-run ratios (issue 5).

(a) ``ganaug.export(n=10000)`` wall time against generation alone (the same ``sample`` calls,
    nothing written); target <= 1.15x. Also as processes: ``ganaug export --n 10000`` against
    a script that imports ganaug, loads the model and generates the same rows.
(b) file size against raw bytes for each compression, on the exported samples and on real
    Fashion-MNIST test images stored the same way (what a trained model's output looks like).
(c) the chunk-size measurement behind ``CHUNK_BYTES``, for several rows per chunk: file size and
    shuffled batch-256 reads (cold: first pass, warm: second pass of one process) with
    H5Dataset's in-memory copy (the whole file inflated on first access) and without it
    (``cache_bytes=0``: chunk by chunk, what files larger than the copy limit get), plus the
    latter on a file 10x larger where the HDF5 chunk cache no longer helps.
(d) shuffled ``DataLoader`` throughput (batch 256, workers 0 and 2, 3 epochs, fresh workers each
    epoch) over ``H5Dataset(output="tensor")`` against a ``TensorDataset`` of the same uint8
    tensors in memory; target >= 0.5x.

Run: ``python benchmarks/bench_export.py [--model M] [--n 10000] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from _common import load_source  # benchmarks/ is on sys.path when run as a script
from torch.utils.data import DataLoader, TensorDataset

import ganaug
from ganaug.data import fashion_mnist, to_tensors
from ganaug.io import GZIP_LEVEL, default_chunk_rows
from ganaug.io.segments import create_datasets


class Stored:
    """A SampleSource over precomputed images: times the export pipeline without generation."""

    def __init__(self, gen: ganaug.Generator, images: torch.Tensor, labels: torch.Tensor):
        self.image_shape, self.num_classes = gen.image_shape, gen.num_classes
        self.class_names, self.images, self.labels = gen.class_names, images, labels

    def sample(
        self, n, labels=None, seed=0, *, start=0, batch_size=None, device=None, output="uint8"
    ):
        return self.images[start : start + n], self.labels[start : start + n]


def timed(fn, *args, **kwargs) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    w, c = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - w, time.process_time() - c


def generate_all(gen: ganaug.Generator, n: int, bs: int, device: str) -> None:
    for a in range(0, n, bs):
        b = min(a + bs, n)
        x, _ = gen.sample(
            b - a, labels=torch.arange(a, b) % 10, seed=0, start=a, batch_size=bs, device=device
        )
        x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def part_a(gen, model_path: Path, n: int, device: str, work: Path) -> Path:
    bs = ganaug.sources.DEFAULT_BATCH.get(torch.device(device).type, 1024)
    generate_all(gen, min(n, bs), bs, device)  # warm-up
    images, labels = gen.sample(n, labels="balanced", seed=0, device=device)
    stored = Stored(gen, images.cpu(), labels.cpu())
    opts = {"seed": 0, "batch_size": bs, "overwrite": True, "progress": False}
    runs: dict[str, list[tuple[float, float]]] = {"gen": [], "write": [], "export": []}
    for _ in range(3):  # interleaved, best of 3: the machine is shared
        runs["gen"].append(timed(generate_all, gen, n, bs, device))
        runs["write"].append(timed(ganaug.export, stored, work / "w.h5", n, device="cpu", **opts))
        runs["export"].append(timed(ganaug.export, gen, work / "a.h5", n, device=device, **opts))
    (gw, gc), (ww, wc), (ew, ec) = (min(runs[k]) for k in ("gen", "write", "export"))
    print(f"(a) n={n}, batch {bs}, gzip; best of 3 (wall s / CPU s):")
    print(
        f"    generation alone {gw:.2f} / {gc:.2f} ({n / gw:.0f}/s); writing alone (stored "
        f"images, no generation) {ww:.2f} / {wc:.2f}; export {ew:.2f} / {ec:.2f}"
    )
    print(
        f"    export / generation alone: wall {ew / gw:.3f}x (target <= 1.15x), CPU "
        f"{ec / gc:.3f}x; writing not overlapped would give {(gw + ww) / gw:.3f}x"
    )
    gen_only = (
        "import sys, torch, ganaug\n"
        "g = ganaug.load(sys.argv[1], device=sys.argv[3]); n = int(sys.argv[2])\n"
        "bs = ganaug.sources.DEFAULT_BATCH.get(torch.device(sys.argv[3]).type, 1024)\n"
        "for a in range(0, n, bs):\n"
        "    b = min(a + bs, n)\n"
        "    x, _ = g.sample(b - a, labels=torch.arange(a, b) % 10, start=a, batch_size=bs)\n"
        "    x.permute(0, 2, 3, 1).contiguous().cpu().numpy()  # as export hands rows over\n"
    )
    procs = {
        "generation alone": [sys.executable, "-c", gen_only, str(model_path), str(n), device],
        "ganaug export": [
            sys.executable,
            "-m",
            "ganaug",
            "export",
            "--model",
            str(model_path),
            "--n",
            str(n),
            "--out",
            str(work / "cli.h5"),
            "--device",
            device,
            "--overwrite",
            "--no-progress",
        ],
    }
    walls: dict[str, list[float]] = {k: [] for k in procs}
    for _ in range(2):
        for name, cmd in procs.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls[name].append(time.perf_counter() - t)
    pg, pe = min(walls["generation alone"]), min(walls["ganaug export"])
    print(
        f"    as processes (start, import, model load included): generation alone {pg:.2f} s, "
        f"`ganaug export --n {n}` {pe:.2f} s -> {pe / pg:.3f}x"
    )
    return work / "a.h5"


def store(
    images: np.ndarray,
    labels: np.ndarray,
    path: Path,
    chunk_rows: int,
    compression: str,
    attrs_from: Path,
) -> int:
    """Real images in the export layout (attributes copied from a real export)."""
    with h5py.File(path, "w") as f, h5py.File(attrs_from, "r") as src:
        create_datasets(f, len(images), images.shape[1:], chunk_rows, compression, GZIP_LEVEL)
        f["images"][...] = images
        f["labels"][...] = labels
        f["seeds"][...] = np.arange(len(labels))
        for key, value in src.attrs.items():
            f.attrs[key] = value
    return path.stat().st_size


def part_b(gen, n: int, device: str, work: Path, real: np.ndarray, labels: np.ndarray) -> None:
    print("(b) file size / raw image bytes:")
    raw_synth = n * int(np.prod(gen.image_shape))
    for comp in ("gzip", "lzf", "none"):
        out = work / f"b-{comp}.h5"
        ganaug.export(
            gen, out, n, seed=0, device=device, compression=comp, overwrite=True, progress=False
        )
        cr = default_chunk_rows((1, 28, 28))
        s_real = store(real, labels, work / f"b-real-{comp}.h5", cr, comp, work / "a.h5")
        print(
            f"    {comp:5s} exported samples {out.stat().st_size / raw_synth:.3f}   "
            f"real Fashion-MNIST images {s_real / real.nbytes:.3f}"
        )


def shuffled_reads(
    ds: ganaug.H5Dataset, passes: int = 2, batches: int | None = None
) -> list[float]:
    """Rows/s of shuffled batch-256 reads, per pass (optionally only the first ``batches``)."""
    perm = np.random.default_rng(0).permutation(len(ds))
    stop = len(perm) if batches is None else min(len(perm), 256 * batches)
    rates = []
    for _ in range(passes):
        t = time.perf_counter()
        for i in range(0, stop, 256):
            ds.read(perm[i : i + 256])
        rates.append(stop / (time.perf_counter() - t))
    return rates


def part_c(real: np.ndarray, labels: np.ndarray, work: Path, copies: int = 10) -> None:
    print(
        "(c) rows per chunk (real images, gzip): size/raw, shuffled batch-256 reads rows/s "
        "[in-memory copy: cold, warm] [chunk by chunk, no copy: cold, warm] [a file "
        f"{copies}x larger, no copy: 20 batches]"
    )
    big_x, big_y = np.concatenate([real] * copies), np.concatenate([labels] * copies)
    for cr in (4, 16, 64, 256):
        path = work / f"c{cr}.h5"
        size = store(real, labels, path, cr, "gzip", work / "a.h5")
        cached = shuffled_reads(ganaug.H5Dataset(path, output="numpy"))
        direct = shuffled_reads(ganaug.H5Dataset(path, output="numpy", cache_bytes=0))
        store(big_x, big_y, work / "big.h5", cr, "gzip", work / "a.h5")
        big = shuffled_reads(ganaug.H5Dataset(work / "big.h5", cache_bytes=0), 1, batches=20)
        print(
            f"    {cr:4d} rows: {size / real.nbytes:.3f}  cached {cached[0]:9.0f} "
            f"{cached[1]:9.0f}   direct {direct[0]:9.0f} {direct[1]:9.0f}   large {big[0]:9.0f}"
        )


def loader_rate(ds, workers: int, epochs: int = 3) -> float:
    torch.manual_seed(0)
    loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=workers)
    t = time.perf_counter()
    rows = 0
    for _ in range(epochs):
        for x, _y in loader:
            rows += len(x)
    return rows / (time.perf_counter() - t)


def part_d(path: Path) -> None:
    with h5py.File(path, "r") as f:
        images = torch.from_numpy(f["images"][:]).permute(0, 3, 1, 2).contiguous()
        labels = torch.from_numpy(f["labels"][:])
    mem = TensorDataset(images, labels)
    print("(d) shuffled DataLoader, batch 256, 3 epochs (rows/s):")
    for workers in (0, 2):
        h5 = loader_rate(ganaug.H5Dataset(path, output="tensor"), workers)
        ref = loader_rate(mem, workers)
        print(
            f"    workers={workers}: H5Dataset {h5:9.0f}  in-memory TensorDataset {ref:9.0f}"
            f"  -> {h5 / ref:.2f}x (target >= 0.5x)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default=None, help="Fashion-MNIST root (default: a temp folder)")
    args = p.parse_args()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), h5py "
        f"{h5py.__version__} (HDF5 {h5py.version.hdf5_version}), device {args.device}"
    )
    gen, model_path = load_source(args.model, args.device)
    x, y = to_tensors(fashion_mnist(args.data or tempfile.mkdtemp(), train=False))
    real, real_labels = x.permute(0, 2, 3, 1).contiguous().numpy(), y.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        exported = part_a(gen, model_path, args.n, args.device, work)
        part_b(gen, args.n, args.device, work, real, real_labels)
        part_c(real, real_labels, work)
        part_d(exported)


if __name__ == "__main__":
    main()
