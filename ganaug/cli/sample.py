"""``ganaug sample MODEL --n 64 --out grid.png``: a PNG grid of samples."""

from __future__ import annotations

import argparse

from ._common import add_precision


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sample",
        help="write a PNG grid of samples from a model",
        description="Sample images from a model file and write them as one PNG grid.",
    )
    p.add_argument(
        "model",
        nargs="?",
        default=None,
        help="a .safetensors model file or bundled name (default: fashion-mnist)",
    )
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", default="grid.png", help="output PNG path (default grid.png)")
    p.add_argument(
        "--labels",
        default=None,
        help="'uniform' (default for conditional models), 'balanced' (class = index "
        "mod K), one class (index or name), a comma list of n class indices, or counts like "
        "'0:8,3:8'",
    )
    p.add_argument("--seed", type=int, default=0, help="sample stream seed (default 0)")
    p.add_argument(
        "--nrow",
        type=int,
        default=None,
        help="images per grid row (default: the number of classes, or 8)",
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    add_precision(p, "generation")
    return p


def run(args: argparse.Namespace) -> int:
    from torchvision.utils import save_image

    from ..sources import load, parse_label_spec, resolve_label_spec

    gen = load(args.model, device=args.device, precision=args.precision)
    spec = parse_label_spec(args.labels)
    labels, _, n = resolve_label_spec(
        spec,
        None if isinstance(spec, dict) else args.n,
        num_classes=gen.num_classes,
        class_names=gen.class_names,
        seed=args.seed,
    )
    labels = labels if gen.num_classes else None
    images, _ = gen.sample(n, labels=labels, seed=args.seed, output="float")
    nrow = args.nrow or (gen.num_classes if gen.num_classes and spec == "balanced" else 8)
    save_image(images.cpu() * 0.5 + 0.5, args.out, nrow=nrow, padding=2)
    print(f"wrote {n} samples to {args.out}")
    return 0
