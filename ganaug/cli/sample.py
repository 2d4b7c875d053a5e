"""``ganaug sample MODEL --n 64 --out grid.png``: a PNG grid of samples."""

from __future__ import annotations

import argparse


def parse_labels(text: str | None) -> int | str | list[int] | None:
    """CLI label spec: none, 'uniform', 'balanced', one class '3', or a list '0,1,1,2'."""
    if text is None or text in ("uniform", "balanced"):
        return text
    try:
        parts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(
            f"expected --labels 'uniform', 'balanced', a class index or a comma list of class "
            f"indices, got {text!r}"
        ) from None
    return parts[0] if len(parts) == 1 else parts


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
        "mod K), one class index, or a comma list of n class indices",
    )
    p.add_argument("--seed", type=int, default=0, help="sample stream seed (default 0)")
    p.add_argument(
        "--nrow",
        type=int,
        default=None,
        help="images per grid row (default: the number of classes, or 8)",
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    return p


def run(args: argparse.Namespace) -> int:
    from torchvision.utils import save_image

    from ..engine import load

    gen = load(args.model, device=args.device)
    labels = parse_labels(args.labels)
    if isinstance(labels, list) and len(labels) != args.n:
        raise ValueError(f"--labels lists {len(labels)} classes but --n is {args.n}")
    images, _ = gen.sample(args.n, labels=labels, seed=args.seed, output="float")
    nrow = args.nrow or (gen.num_classes if gen.num_classes and labels == "balanced" else 8)
    save_image(images.cpu() * 0.5 + 0.5, args.out, nrow=nrow, padding=2)
    print(f"wrote {args.n} samples to {args.out}")
    return 0
