"""Training figures (issue 3), as same-run ratios on this machine.

(a) ms per step of ``ganaug.train``'s loop against a plain PyTorch loop of the same architecture,
    loss and batch (hinge, Adam, one G forward per step, data from an in-memory tensor), measured
    alternately in the same process; target <= 1.10x. ganaug's figure is read from its own
    ``log.csv`` (wall time between the first and last log rows, so setup is excluded) and includes
    what the plain loop lacks: the EMA generator, the DataLoader, seeded per-step RNG, logging.
(b) FD against wall-clock for ``mlp`` and ``dcgan`` on real Fashion-MNIST: both trained at the
    same time (equal CPU share) by the same command, FD of 2,000 EMA samples every
    ``--eval-every`` steps (``ganaug.metrics``), printed from each run's ``log.csv``.

(c) ``--precision-speed``: ms per step of ``ganaug.train`` in bf16 autocast against fp32,
    alternating in the same process (CPU bf16 pays off on AMX / AVX-512 BF16 machines).

Run: ``python benchmarks/bench_train.py [--arch dcgan] [--steps 200] [--repeats 3] [--device cuda]``
     ``python benchmarks/bench_train.py --precision-speed --arch cdcgan [--arch-args JSON]``
     ``python benchmarks/bench_train.py --fd-minutes 10``   (part b; or ``--fd-from RUN_DIR ...``)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import ganaug
import ganaug.sources.base
from ganaug.data import load_dataset
from ganaug.models import ModelConfig
from ganaug.training.losses import d_loss, g_loss


def plain_loop_ms(
    data, *, arch: str, arch_args: dict, batch: int, steps: int, warmup: int, device: str
) -> float:
    """A textbook conditional GAN loop (hinge) on the same models; ms per step after warmup."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else lambda: None
    cfg = ModelConfig(
        arch=arch,
        image_shape=data.image_shape,
        num_classes=data.num_classes,
        class_names=data.class_names,
        arch_args={**arch_args, "spectral_norm": False},
    )
    torch.manual_seed(0)
    G, D = ganaug.create_generator(cfg).to(dev), ganaug.create_discriminator(cfg).to(dev)
    images, labels = data.images.to(dev), data.labels.to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    perm = torch.randperm(len(data))
    for i in range(warmup + steps):
        if i == warmup:
            sync()
            t0 = time.perf_counter()
        idx = perm[(i * batch) % (len(data) - batch) :][:batch].to(dev)
        x = images[idx].float() / 127.5 - 1.0
        y = labels[idx]
        fake = G(torch.randn(batch, cfg.latent_dim, device=dev), y)
        out = D(torch.cat([x, fake.detach()]), torch.cat([y, y]))
        loss_d = d_loss("hinge", out[:batch], out[batch:])
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = g_loss("hinge", D(fake, y))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    sync()
    return (time.perf_counter() - t0) / steps * 1000.0


def ganaug_loop_ms(
    data,
    *,
    arch: str,
    arch_args: dict,
    batch: int,
    steps: int,
    warmup: int,
    device: str,
    tmp: Path,
    precision: str = "fp32",
) -> float:
    """ganaug.train with eval/samples/checkpoints off; ms per step between two log rows."""
    run = tmp / f"run-{time.monotonic_ns()}"
    ganaug.train(
        data,
        out=run / "m.safetensors",
        run_dir=run,
        device=device,
        arch=arch,
        arch_args=arch_args,
        loss="hinge",
        batch_size=batch,
        steps=warmup + steps,
        log_every=warmup,
        sample_every=0,
        checkpoint_every=0,
        progress=False,
        precision=precision,
    )
    with open(run / "log.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["loss_d"]]
    first = next(r for r in rows if int(r["step"]) == warmup)
    last = rows[-1]
    return (float(last["seconds"]) - float(first["seconds"])) / (int(last["step"]) - warmup) * 1e3


def _loop_kwargs(args: argparse.Namespace, arch_args: dict) -> dict:
    return {
        "arch": args.arch,
        "arch_args": arch_args,
        "batch": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "device": args.device,
    }


def bench_speed(args: argparse.Namespace) -> None:
    data = load_dataset("fashion-mnist")
    arch_args = {"g_width": 32, "d_width": 32} if args.arch == "dcgan" else {}
    kw = _loop_kwargs(args, arch_args)
    plain, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # alternate, so load changes hit both alike
            plain.append(plain_loop_ms(data, **kw))
            ours.append(ganaug_loop_ms(data, tmp=Path(tmp), **kw))
    ratios = [o / p for o, p in zip(ours, plain, strict=True)]
    print(
        f"(a) {args.arch} {arch_args} batch {args.batch_size}, hinge, {args.steps} timed steps "
        f"after {args.warmup}, {args.repeats} alternating repeats, device {args.device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"    plain PyTorch loop : {', '.join(f'{v:.1f}' for v in plain)} ms/step")
    print(f"    ganaug.train loop  : {', '.join(f'{v:.1f}' for v in ours)} ms/step")
    print(
        f"    ratio ganaug/plain : median {statistics.median(ratios):.3f}x "
        f"(each {', '.join(f'{r:.3f}' for r in ratios)}; target <= 1.10x)"
    )


def bench_precision(args: argparse.Namespace) -> None:
    """(c) ganaug.train's ms per step in bf16 autocast against fp32, alternating, same run."""
    data = load_dataset("fashion-mnist")
    arch_args = json.loads(args.arch_args) if args.arch_args else {}
    kw = _loop_kwargs(args, arch_args)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for precision in times:
                times[precision].append(
                    ganaug_loop_ms(data, tmp=Path(tmp), precision=precision, **kw)
                )
    ratios = [a / b for a, b in zip(times["fp32"], times["bf16"], strict=True)]
    print(
        f"(c) {args.arch} {arch_args} batch {args.batch_size}, {args.steps} timed steps, "
        f"device {args.device}, threads {torch.get_num_threads()}, native bf16 "
        f"{ganaug.sources.base.native_bf16()}"
    )
    for precision, values in times.items():
        print(f"    {precision}: {', '.join(f'{v:.1f}' for v in values)} ms/step")
    print(f"    speed-up bf16 over fp32: median {statistics.median(ratios):.2f}x")


def fd_table(run_dirs: list[Path]) -> None:
    print(
        "(b) FD (2,000 EMA samples vs 2,000 real training images, domain-classifier features) "
        "against wall-clock seconds of training"
    )
    for run in run_dirs:
        with open(run / "log.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        seconds = {r["step"]: r["seconds"] for r in rows if r["seconds"]}
        points = [
            (r["step"], seconds.get(r["step"], "?"), float(r["fd"]), r["class_acc"])
            for r in rows
            if r["fd"]
        ]
        print(f"    {run}:")
        for step, sec, fd, acc in points:
            print(f"      step {step:>6}  {sec:>7} s  FD {fd:8.2f}  class acc {acc}")


def bench_fd(minutes: float, eval_every: int, out: Path) -> list[Path]:
    """Train mlp (minimax) and dcgan (hinge) side by side for the same wall time."""
    common = [
        "--ema",
        "0.999",
        "--batch-size",
        "64",
        "--eval-every",
        str(eval_every),
        "--eval-samples",
        "2000",
        "--checkpoint-every",
        str(eval_every),
        "--steps",
        "1000000",
        "--time-limit",
        str(minutes),
        "--no-progress",
        "--overwrite",
    ]
    runs = {
        "dcgan": [
            "--arch",
            "dcgan",
            "--arch-args",
            '{"g_width": 32, "d_width": 32}',
            "--loss",
            "hinge",
        ],
        "mlp": ["--arch", "mlp", "--loss", "minimax"],
    }
    procs = []
    for name, extra in runs.items():
        cmd = [
            sys.executable,
            "-m",
            "ganaug",
            "train",
            "fashion-mnist",
            "--out",
            str(out / f"{name}.safetensors"),
            "--run-dir",
            str(out / name),
            *extra,
            *common,
        ]
        procs.append(subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}))
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"training failed: {p.args}")
    return [out / name for name in runs]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="dcgan")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu", help="part (a) on this device, e.g. cuda")
    p.add_argument("--fd-minutes", type=float, default=0, help="run part (b) for this long")
    p.add_argument("--precision-speed", action="store_true", help="part (c): bf16 vs fp32")
    p.add_argument("--arch-args", default="", help="JSON arch_args for part (c)")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--fd-from", nargs="*", default=None, help="print part (b) from run dirs")
    args = p.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    if args.fd_from:
        fd_table([Path(r) for r in args.fd_from])
        return
    if args.precision_speed:
        bench_precision(args)
        return
    bench_speed(args)
    if args.fd_minutes > 0:
        fd_table(bench_fd(args.fd_minutes, args.eval_every, Path("runs/bench_train")))


if __name__ == "__main__":
    main()
