"""Train a Fashion-MNIST classifier with synthetic data from a ganaug model, two ways.

1. ``GANAugmented``: the real dataset plus synthetic items, read per index by DataLoader
   workers (CPU generation in blocks, cached);
2. ``SyntheticMixer`` via ``ganaug.mix``: synthetic rows generated per batch on the training
   device after the DataLoader (the GPU hot path; on CUDA the next batch's rows are generated
   on a side stream).

Run::

    python examples/train_classifier.py --quick            # a one-minute smoke run on CPU
    python examples/train_classifier.py --epochs 5 --device cuda
    python examples/train_classifier.py --model my_gan.safetensors --way mixer

``--model`` defaults to the bundled "fashion-mnist" model.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision.transforms import v2

import ganaug
from ganaug.data import fashion_mnist

MEAN, STD = (0.2860,), (0.3530,)  # Fashion-MNIST training-set statistics


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(64 * 7 * 7, 10),
    )


def train_epochs(model: nn.Module, batches, epochs: int, device: torch.device) -> None:
    """Plain loop over ``batches``: (x, y) or (x, y, is_synthetic) from ``ganaug.mix``."""
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        model.train()
        t, total, n_syn, steps = time.perf_counter(), 0.0, 0, 0
        for batch in batches:
            x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
            if len(batch) == 3:
                n_syn += int(batch[2].sum())  # a device sync; fine for an example
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = nn.functional.cross_entropy(
                    model(x), y, ignore_index=-1
                )  # -1: unconditional
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            total += loss.item()  # a device sync: once per step keeps the example simple
        print(
            f"  epoch {epoch + 1}: loss {total / steps:.3f}, "
            f"{time.perf_counter() - t:.1f}s" + (f", {n_syn} synthetic rows" if n_syn else "")
        )


@torch.inference_mode()
def accuracy(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    model.eval()
    right = seen = 0
    for x, y in loader:
        pred = model(x.to(device)).argmax(1)
        right += int((pred.cpu() == y).sum())
        seen += y.numel()
    return right / seen


def with_ganaugmented(args, train_set, test_loader, device: torch.device) -> float:
    """Way 1: synthetic items in the real rows' form, through the same transform, in workers."""
    gen = ganaug.load(args.model, device="cpu")  # workers generate on the CPU
    aug = ganaug.GANAugmented(train_set, gen, ratio=args.ratio, seed=0)
    print(aug)
    loader = DataLoader(
        aug,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        generator=torch.Generator().manual_seed(0),
    )
    torch.manual_seed(0)
    model = make_model().to(device)
    train_epochs(model, loader, args.epochs, device)
    return accuracy(model, test_loader, device)


def with_mixer(args, train_set, test_loader, device: torch.device) -> float:
    """Way 2: real batches from the loader, synthetic rows made per batch on ``device``."""
    gen = ganaug.load(args.model, device=device)
    loader = DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(0),
    )
    torch.manual_seed(0)
    model = make_model().to(device)
    # one MixLoader for all epochs: its counters go on, so each epoch gets new rows
    mixed = ganaug.mix(
        loader, gen, device=device, ratio=args.ratio, normalize=(MEAN, STD), return_mask=True
    )
    train_epochs(model, mixed, args.epochs, device)
    return accuracy(model, test_loader, device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fashion-mnist", help="model file or bundled name")
    p.add_argument("--way", choices=("dataset", "mixer", "both"), default="both")
    p.add_argument("--ratio", type=float, default=0.5, help="synthetic rows per real row")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default=None, help="Fashion-MNIST root (default: ganaug's)")
    p.add_argument("--quick", action="store_true", help="2000 real images, 1 epoch")
    args = p.parse_args()
    device = torch.device(args.device)
    to_input = v2.Compose(
        [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    )
    train_set = fashion_mnist(args.data, train=True, transform=to_input)
    test_set = fashion_mnist(args.data, train=False, transform=to_input)
    if args.quick:  # a train/val-style split: GANAugmented looks through Subset
        train_set, test_set = Subset(train_set, range(2000)), Subset(test_set, range(1000))
        args.epochs = 1
    test_loader = DataLoader(test_set, batch_size=512)
    if args.way in ("dataset", "both"):
        acc = with_ganaugmented(args, train_set, test_loader, device)
        print(f"GANAugmented test accuracy: {acc:.4f}")
    if args.way in ("mixer", "both"):
        acc = with_mixer(args, train_set, test_loader, device)
        print(f"SyntheticMixer test accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
