"""ms per training step of two architecture settings, alternating in the same process.

One step is what ``ganaug train`` runs per generator update: a D step, a G step through the
updated D and the EMA update (batch 64, Fashion-MNIST shapes, random images: the cost does not
depend on the pixels). Medians of ``--repeats`` blocks of ``--steps`` steps, taken in turn, so
both settings see the same machine load; the ratio is the figure to read.

    OMP_NUM_THREADS=1 python benchmarks/bench_arch_speed.py --a '{"out_width": 0}' \\
        --b '{"out_width": 32}'
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ganaug._dist import Dist
from ganaug.models import ModelConfig, recorded_defaults
from ganaug.training.options import TrainConfig
from ganaug.training.step import Nets, build_nets, d_step, ema_update, g_step


def setup(arch: str, arch_args: dict, precision: str) -> tuple[Nets, TrainConfig]:
    args = {**recorded_defaults(arch), **arch_args}
    cfg = ModelConfig(arch=arch, image_shape=(1, 28, 28), num_classes=10, arch_args=args)
    tcfg = TrainConfig(arch=arch, precision=precision, arch_args=args)
    return build_nets(cfg, tcfg, torch.device("cpu"), Dist()), tcfg


def ms_per_step(nets: Nets, tcfg: TrainConfig, steps: int, batch: int) -> float:
    rng = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, 28, 28, generator=rng) * 2 - 1
    y = torch.arange(batch) % 10
    t0 = time.perf_counter()
    for s in range(steps):
        _, _, _, fake, z = d_step(nets, tcfg, x, y, rng, keep_fake=True)
        g_step(nets, tcfg, fake, y, rng, z)
        ema_update(nets.ema, nets.g, tcfg.ema, s)
    return (time.perf_counter() - t0) / steps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="cdcgan")
    ap.add_argument("--a", default="{}", help="JSON arch_args of setting A")
    ap.add_argument("--b", default="{}", help="JSON arch_args of setting B")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    runs = {
        k: setup(args.arch, json.loads(v), args.precision)
        for k, v in (("A", args.a), ("B", args.b))
    }
    for nets, tcfg in runs.values():
        ms_per_step(nets, tcfg, args.warmup, args.batch_size)
    times: dict[str, list[float]] = {"A": [], "B": []}
    for _ in range(args.repeats):
        for k, (nets, tcfg) in runs.items():
            times[k].append(ms_per_step(nets, tcfg, args.steps, args.batch_size))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"threads {torch.get_num_threads()}, precision {args.precision}, batch {args.batch_size}")
    for k, src in (("A", args.a), ("B", args.b)):
        print(
            f"{k} {src}: {med[k]:.1f} ms/step (blocks: {', '.join(f'{t:.1f}' for t in times[k])})"
        )
    print(f"B / A: {med['B'] / med['A']:.2f}x the time per step")


if __name__ == "__main__":
    main()
