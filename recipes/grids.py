"""README's class-by-class grids: samples of a model next to real Fashion-MNIST test images.

Writes two PNGs of 10 rows (one per class, 0 T-shirt/top at the top to 9 Ankle boot at the
bottom) by ``--per-class`` columns: the model's samples (seed 0, the first ``--per-class`` of
each class in the balanced stream) and the first real test images of each class.

    python recipes/grids.py --model fashion-mnist --out docs/fashion-mnist
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.utils import save_image

import ganaug
from ganaug.data import load_dataset


def by_class(images: torch.Tensor, labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Rows of ``per_class`` images of class 0, then 1, ..., in their original order."""
    rows = [images[labels == c][:per_class] for c in range(int(labels.max()) + 1)]
    return torch.cat(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="fashion-mnist", help="model file or bundled name")
    p.add_argument(
        "--out", default="docs/fashion-mnist", help="prefix: PREFIX-samples.png, -real.png"
    )
    p.add_argument("--per-class", type=int, default=12)
    p.add_argument("--root", default=None, help="Fashion-MNIST folder (default: the usual ones)")
    args = p.parse_args()
    gen = ganaug.load(args.model)
    k = args.per_class
    fake, labels = gen.sample(k * gen.num_classes, labels="balanced", seed=0)
    test = load_dataset("fashion-mnist:test", root=args.root)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in {"samples": (fake, labels), "real": (test.images, test.labels)}.items():
        grid = by_class(x, y, k).float() / 255.0
        save_image(grid, f"{out}-{name}.png", nrow=k, padding=1, pad_value=1.0)
        print(f"wrote {out}-{name}.png")


if __name__ == "__main__":
    main()
