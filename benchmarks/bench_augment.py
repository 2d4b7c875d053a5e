"""Augmentation throughput as same-run ratios (issue 4).

(a) synthetic items/s through a shuffled DataLoader over ``GANAugmented`` (workers 0 and 2,
    cold cache: every block is generated during the pass) against the engine's batched rate
    (target >= 0.5x) and against one generator call per item (target >= 10x);
(b) a small CNN training loop on real Fashion-MNIST with ``SyntheticMixer`` against the same
    loop fed the same mixed batches precomputed. The target (<= 1.05x) is on
    ``mixer / (precomputed + generation)``: nothing but the generation itself costs. With
    ``--device cuda`` it also times ``ganaug.mix`` with and without the side-stream prefetch.

(c) ``SyntheticReplace`` (p = 0.5) in a torchvision v2 pipeline against the same pipeline
    without it, in the same run (target >= 0.7x), over all 60,000 training images, epoch by
    epoch (the first fills the per-class pools): per sample in a DataLoader (workers 0, the
    transform called on each (image, label)), as a batch transform after the DataLoader, per
    sample in 2 persistent workers (the "auto" pool shared out against a pool per worker), and
    per sample from an exported HDF5 file of as many images as the pool (the export timed apart).

Run: ``python benchmarks/bench_augment.py`` (``--quick`` for a smoke run; ``--only replace``
for part (c) alone).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
from _common import load_source  # benchmarks/ is on sys.path when run as a script
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision.transforms import v2

import ganaug
from ganaug.augment import GANAugmented, SyntheticMixer, mix
from ganaug.data import fashion_mnist

MEAN, STD = (0.2860,), (0.3530,)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def loader_rate(gen, real, n: int, workers: int) -> float:
    """Synthetic items/s of one shuffled pass over a fresh (cold) ``GANAugmented``."""
    ds = GANAugmented(real, gen, n_synthetic=n, seed=1)
    part = Subset(ds, range(ds.n_real, len(ds)))
    loader = DataLoader(
        part,
        batch_size=256,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
    )
    return n / timed(lambda: [None for _ in loader])


def bench_dataset(gen, real, n: int, repeats: int) -> None:
    gen.sample(256, labels="balanced", device="cpu")  # warm up
    rates: dict[str, list[float]] = {"engine": [], "item": [], "w0": [], "w2": []}
    k = 16
    for _ in range(repeats):  # interleaved: the machine is shared, take the medians
        t = timed(lambda: gen.sample(n, labels="balanced", seed=1, device="cpu"))
        rates["engine"].append(n / t)
        t = timed(
            lambda: [
                gen.sample(1, labels=[j % 10], seed=1, start=j, device="cpu") for j in range(k)
            ]
        )
        rates["item"].append(k / t)
        rates["w0"].append(loader_rate(gen, real, n, 0))
        rates["w2"].append(loader_rate(gen, real, n, 2))
    med = {key: sorted(v)[len(v) // 2] for key, v in rates.items()}
    print(
        f"{n} synthetic items, medians of {repeats}: engine batched {med['engine']:.0f} "
        f"items/s, one call per item {med['item']:.1f} items/s"
    )
    for workers in (0, 2):
        rate = med[f"w{workers}"]
        print(
            f"GANAugmented, {workers} workers, shuffled: {rate:9.0f} items/s = "
            f"{rate / med['engine']:5.2f}x engine batched (target >= 0.5), "
            f"{rate / med['item']:6.1f}x per-item calls (target >= 10)"
        )


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 10),
    )


def train(batches, device: str, mixer=None) -> None:
    """The training loop; with ``mixer`` the synthetic rows are made inside it."""
    torch.manual_seed(0)
    model = small_cnn().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if mixer is not None:
            x, y, _ = mixer(x, y)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_mixer(gen, real, device: str, n_batches: int, repeats: int) -> None:
    x_all = ((real.data[: n_batches * 128, None].float() / 255) - MEAN[0]) / STD[0]
    y_all = real.targets[: n_batches * 128]
    batches = list(zip(x_all.split(128), y_all.split(128), strict=True))

    def new_mixer():
        return SyntheticMixer(gen, ratio=0.25, normalize=(MEAN, STD), seed=0)

    def precompute():
        m = new_mixer()
        return [m(x.to(device), y.to(device))[:2] for x, y in batches]

    pre = precompute()
    train(pre[:2], device)  # warm up
    t_mix, t_pre, t_gen = [], [], []
    for _ in range(repeats):  # interleaved: the machine is shared, take the medians
        t_gen.append(timed(precompute))
        t_pre.append(timed(lambda: train(pre, device)))
        t_mix.append(timed(lambda: train(batches, device, new_mixer())))
    med = [sorted(t)[len(t) // 2] for t in (t_mix, t_pre, t_gen)]
    print(
        f"CNN loop, {n_batches} batches of 128 + 32 synthetic, {device}: mixer {med[0]:.3f}s, "
        f"precomputed {med[1]:.3f}s, generation alone {med[2]:.3f}s"
    )
    print(
        f"  mixer / precomputed = {med[0] / med[1]:.3f}x;  mixer / (precomputed + "
        f"generation) = {med[0] / (med[1] + med[2]):.3f}x (target <= 1.05)"
    )
    if device.startswith("cuda"):
        loader = DataLoader(
            list(zip(x_all.split(128), y_all.split(128), strict=True)),
            batch_size=None,
            pin_memory=True,
        )
        for prefetch in (True, False):
            t = timed(lambda: train_mix(loader, gen, device, prefetch))  # noqa: B023
            print(f"  ganaug.mix prefetch={prefetch}: {t:.3f}s")


def train_mix(loader, gen, device: str, prefetch: bool) -> None:
    torch.manual_seed(0)
    model = small_cnn().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for x, y, _ in mix(
        loader, gen, device=device, prefetch=prefetch, ratio=0.25, normalize=(MEAN, STD)
    ):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()


class _Joint(torch.utils.data.Dataset):
    """A dataset whose transform sees (image, label), as v2 joint transforms do."""

    def __init__(self, base, transform) -> None:
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        return self.transform(*self.base[i])


def bench_replace(gen, base, n: int, epochs: int, device: str = "cpu") -> None:
    """Batches/s of a v2 pipeline with and without SyntheticReplace(p=0.5), epoch by epoch.

    One transform lives through ``epochs`` passes over ``n`` images (as in a training run with
    workers 0 or persistent workers), each pass timed right after a pass without it: the first
    pass fills the per-class pools (every replaced row is generated), later ones reuse them.
    ``pool=None`` (a new image at every draw) is timed for one pass, for reference. With a GPU
    ``device`` the workers-0 transform generates there (``device=``), and the batch transform
    runs on the batches moved to it; the workers generate on their CPUs."""
    from ganaug.augment import SyntheticReplace
    from ganaug.augment._seeding import resolve_pool

    real = Subset(base, range(n))
    tail = [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    norm = v2.Normalize(MEAN, STD)
    tensors = DataLoader(_Joint(real, v2.Compose(tail[:2])), batch_size=64)  # x in [0, 1]

    loaders: dict[tuple[int, int], DataLoader] = {}  # one per (transform, workers), kept

    def per_sample(t, workers: int = 0) -> float:
        """Per sample in a DataLoader; its workers persist, so the transform (and each
        worker's pool) lives through the epochs."""
        if (id(t), workers) not in loaders:
            head = [t] if t is not None else []
            data = _Joint(real, v2.Compose(head + tail))
            loaders[id(t), workers] = DataLoader(
                data, batch_size=64, num_workers=workers, persistent_workers=workers > 0
            )
        loader = loaders[id(t), workers]
        return len(loader) / timed(lambda: [None for _ in loader])

    def per_batch(t) -> float:
        def run() -> None:
            for x, y in tensors:
                x = norm(x.to(device))
                if t is not None:
                    x, y = t(x, y)
            if device != "cpu":
                torch.cuda.synchronize()

        return len(tensors) / timed(run)

    def per_sample_2(t) -> float:
        return per_sample(t, workers=2)

    gen.sample(128, labels=0, device=device)  # warm up the generator (and its device copy)
    with tempfile.TemporaryDirectory() as tmp:
        pool = resolve_pool("auto", gen) * max(1, gen.num_classes)  # "auto": 4096 per class
        h5 = exported_pool(gen, Path(tmp) / "pool.h5", min(n, pool))
        for name, rate, source, kw, pools in (
            ("per sample, workers 0", per_sample, gen, {"device": device}, ("auto", None)),
            ("batch transform", per_batch, gen, {"normalize": (MEAN, STD)}, ("auto", None)),
            # "auto" is shared out among the workers (2048 per class each); 4096, an int, is
            # the pool of each worker (what "auto" was before session 22)
            ("per sample, 2 persistent workers", per_sample_2, gen, {}, ("auto", 4096)),
            # the CPU's way around the generation: export once, replace from the file
            ("per sample, workers 0, exported file", per_sample, h5, {}, ("auto",)),
        ):
            rate(None)  # warm up (page cache, allocator, worker start)
            for pool in pools:
                t = SyntheticReplace(source, p=0.5, seed=0, pool=pool, **kw)
                replace_passes(t, rate, f"{name}, pool={pool!r}", epochs if pool else 1)


def exported_pool(gen, path: Path, n: int):
    """``ganaug.export`` of ``n`` class-balanced images, timed, read back as an H5Dataset."""
    t0 = time.perf_counter()
    ganaug.export(gen, path, n=n, progress=False)
    print(f"export of {n} images for the file source: {time.perf_counter() - t0:.1f} s", flush=True)
    return ganaug.H5Dataset(path)


def replace_passes(t, rate, name: str, epochs: int) -> None:
    """``epochs`` passes with ``t``, each right after one without it; prints the ratios."""
    without, with_ = [], []
    for e in range(epochs):
        without.append(rate(None))
        with_.append(rate(t))
        print(
            f"SyntheticReplace p=0.5, {name}, epoch {e + 1}: {with_[-1]:6.1f} batches/s against "
            f"{without[-1]:6.1f} without = {with_[-1] / without[-1]:4.2f}x (target >= 0.7)",
            flush=True,
        )
    if len(with_) > 1:  # time-weighted: batches over seconds, all epochs
        mean = len(with_) / sum(1 / r for r in with_)
        mean0 = len(without) / sum(1 / r for r in without)
        print(
            f"SyntheticReplace p=0.5, {name}, {len(with_)} epochs: "
            f"{mean:6.1f} batches/s against {mean0:6.1f} = {mean / mean0:4.2f}x",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model file (default: bundled fashion-mnist)")
    p.add_argument("--device", default="cpu", help="device for parts (b) and (c)")
    p.add_argument("--data", default=None, help="Fashion-MNIST root (default: ganaug's)")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--only", choices=("dataset", "mixer", "replace"), default=None)
    args = p.parse_args()
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads")
    gen, _ = load_source(args.model, "cpu")
    if args.only in (None, "replace"):
        pil = fashion_mnist(args.data, train=True)
        n, epochs = (1024, 2) if args.quick else (len(pil), 4)
        bench_replace(gen, pil, n, epochs, args.device)
    if args.only == "replace":
        return
    # uint8 tensors out of the loader (normalise on the device): the per-item pipeline stays
    # small, so (a) measures generation, not torchvision's per-item transform overhead
    real = fashion_mnist(args.data, train=True, transform=v2.PILToTensor())
    if args.only in (None, "dataset"):
        bench_dataset(gen, real, 1024 if args.quick else 8192, 1 if args.quick else 3)
    if args.only in (None, "mixer"):
        gen_dev, _ = load_source(args.model, args.device)
        bench_mixer(gen_dev, real, args.device, 4 if args.quick else 40, 1 if args.quick else 3)


if __name__ == "__main__":
    main()
