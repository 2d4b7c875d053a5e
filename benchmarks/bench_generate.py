"""Generation throughput: batched ``Generator.sample`` vs one generator call per sample.

Prints, for each architecture at the shipped size (1x28x28, 10 classes; ``dcgan`` is the bundled
model, ``mlp`` the classic 100-256-512-1024-784 generator): samples/s at
batch sizes 1..4096, the per-sample baseline, and the generator's FLOP rate as a fraction of this
machine's fp32 matmul rate measured in the same run.

    python benchmarks/bench_generate.py [--device cpu|cuda] [--archs mlp,dcgan] [--n 8192]
    python benchmarks/bench_generate.py --fold-only   # cdcgan's folded eval BatchNorm, on/off
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import ganaug
import ganaug.sources.base


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(fn, repeats: int, device: torch.device) -> float:
    """Best wall time of ``repeats`` runs (after one warm-up)."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return min(times)


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype) -> float:
    n = 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 4 if device.type == "cpu" else 50
    t = best_of(lambda: [a @ b for _ in range(reps)], 3, device)
    return 2 * n**3 * reps / t


def flops_per_sample(gen: ganaug.Generator, device: torch.device) -> float:
    z = torch.zeros(64, gen.latent_dim, device=device)
    y = torch.zeros(64, dtype=torch.int64, device=device) if gen.num_classes else None
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        gen.module(device)(z, y)
    return counter.get_total_flops() / 64


def per_sample_rate(gen: ganaug.Generator, device: torch.device, n: int) -> float:
    """The naive loop: one G call per sample (what a Dataset.__getitem__ would do)."""
    g = gen.module(device)
    z = torch.randn(n, gen.latent_dim, device=device)
    y = torch.randint(0, max(gen.num_classes, 1), (n,), device=device)

    def run() -> None:
        with torch.inference_mode():
            for i in range(n):
                g(z[i : i + 1], y[i : i + 1] if gen.num_classes else None)

    return n / best_of(run, 2, device)


def variable_shape_rate(gen: ganaug.Generator, device: torch.device, n: int, bs: int) -> float:
    """The path before fixed call shapes: per-index latents, then one generator call of ``bs``
    rows per batch (whose float results could change with ``bs``), then uint8."""
    g = gen.module(device)
    y = torch.arange(bs, device=device) % max(gen.num_classes, 1)

    def run() -> None:
        with torch.inference_mode():
            for lo in range(0, n - bs + 1, bs):
                z = gen.latents(torch.arange(lo, lo + bs, device=device), 0)
                ganaug.to_uint8(g(z, y if gen.num_classes else None))

    return (n // bs) * bs / best_of(run, 3, device)


def fold_speed(path: Path, device: torch.device, n: int) -> None:
    """cdcgan's eval mode with BatchNorm folded into one scale-and-shift pass (channels-last)
    against the training graph in eval mode, alternating so that load hits both alike."""
    from ganaug.models.cdcgan import CDCGANGenerator

    for precision in ("fp32", "bf16"):
        g = ganaug.load(path, device=device, precision=precision)
        rates = {True: 0.0, False: 0.0}
        try:
            for fast in (False, True) * 3:
                CDCGANGenerator.fast_eval = fast
                t = best_of(lambda g=g: g.sample(n, seed=0), 2, device)
                rates[fast] = max(rates[fast], n / t)
        finally:
            CDCGANGenerator.fast_eval = True
        print(
            f"  {precision}: folded eval BatchNorm {rates[True]:.0f}, training graph "
            f"{rates[False]:.0f} samples/s => folded / graph = {rates[True] / rates[False]:.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--archs", default="mlp,dcgan")
    ap.add_argument("--n", type=int, default=8192, help="samples per timed batched run")
    ap.add_argument("--compile", action="store_true", help="torch.compile the generator")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--precision", default="fp32", help="of the batch-size table (default fp32)")
    ap.add_argument("--fold-only", action="store_true", help="only the folded-BatchNorm ratio")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.fold_only:
        print(f"device {device}, threads {torch.get_num_threads()}, torch {torch.__version__}")
        bundled = ganaug.read_model_file("fashion-mnist")
        print(f"bundled model ({bundled.config.arch}):")
        fold_speed(bundled.path, device, args.n)
        return
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    peak = matmul_flops_per_s(device, dtype)
    print(f"device {device}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(
        f"matmul {str(dtype).replace('torch.', '')} 2048^3: {peak / 1e9:.1f} GFLOP/s "
        "(re-measured after each architecture; the best rate is the reference)\n"
    )
    targets = {"mlp": 0.6, "dcgan": 0.3}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            if arch == "dcgan":  # the bundled model's architecture and widths
                path = ganaug.read_model_file("fashion-mnist").path
            else:
                cfg = ganaug.ModelConfig(arch=arch, image_shape=(1, 28, 28), num_classes=10)
                path = Path(tmp) / f"{arch}.safetensors"
                ganaug.save(path, config=cfg, generator=ganaug.create_generator(cfg))
            gen = ganaug.load(path, device=device, compile=args.compile, precision=args.precision)
            fps = flops_per_sample(gen, device)
            print(f"{arch}: {fps / 1e6:.2f} MFLOP/sample")
            print(f"  {'batch':>6} {'samples/s':>11} {'GFLOP/s':>8}")
            best = 0.0
            for bs in (64, 128, 256, 512, 1024, 4096):  # rows per step; every call has CALL_ROWS
                n = min(args.n, max(bs * 8, 512))
                t = best_of(lambda g=gen, b=bs, n=n: g.sample(n, seed=0, batch_size=b), 3, device)
                rate = n / t
                best = max(best, rate)
                print(f"  {bs:>6} {rate:>11.0f} {rate * fps / 1e9:>8.1f}")
            # what the fixed call shape (sources.base.CALL_ROWS) costs against the old path of
            # one call per batch of the default size (results that depended on the batch size)
            default = ganaug.sources.DEFAULT_BATCH.get(device.type, 1024)
            n_cmp = max(default * 8, 4096)
            fixed = n_cmp / best_of(
                lambda g=gen, n=n_cmp, b=default: g.sample(n, seed=0, batch_size=b), 3, device
            )
            old = variable_shape_rate(gen, device, n_cmp, default)
            rows = ganaug.sources.base.call_rows(device)
            print(
                f"  fixed {rows}-row calls: {fixed:.0f} samples/s; one {default}-row call per "
                f"batch: {old:.0f} samples/s => fixed / variable = {fixed / old:.2f}x"
            )
            rates = {}
            for precision in ("fp32", "bf16", "fp32", "bf16"):  # alternating: load hits both
                g = ganaug.load(path, device=device, precision=precision)
                r = n_cmp / best_of(lambda g=g, n=n_cmp: g.sample(n, seed=0), 3, device)
                rates[precision] = max(rates.get(precision, 0.0), r)
            print(
                f"  precision: fp32 {rates['fp32']:.0f}, bf16 {rates['bf16']:.0f} samples/s "
                f"=> bf16 / fp32 = {rates['bf16'] / rates['fp32']:.2f}x "
                f"(native bf16: {ganaug.sources.base.native_bf16()})"
            )
            if gen.config.arch == "cdcgan":
                fold_speed(path, device, n_cmp)
            naive = per_sample_rate(gen, device, 256 if device.type == "cpu" else 1024)
            # the machine may be shared: take the best matmul rate seen around this run
            peak = max(peak, matmul_flops_per_s(device, dtype))
            frac = best * fps / peak
            print(f"  per-sample calls: {naive:.0f} samples/s; matmul {peak / 1e9:.1f} GFLOP/s")
            print(
                f"  => batched / per-sample = {best / naive:.1f}x (target >= 10x); "
                f"batched = {frac:.2f} of matmul rate (target >= {targets.get(arch, 0)})\n"
            )


if __name__ == "__main__":
    main()
