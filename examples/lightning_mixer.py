"""SyntheticMixer in a PyTorch Lightning module: synthetic rows join each training batch on the
device, in ``on_after_batch_transfer`` (Lightning's hook for batch transforms after the copy).

Needs ``pip install 'ganaug[examples]'`` (lightning). Validation batches stay real.

    python examples/lightning_mixer.py --epochs 1 --limit-batches 50
"""

from __future__ import annotations

import argparse

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision.transforms import v2

import ganaug
from ganaug.augment import SyntheticMixer
from ganaug.data import fashion_mnist

MEAN, STD = (0.2860,), (0.3530,)


class Classifier(L.LightningModule):
    def __init__(self, mixer: SyntheticMixer | None, lr: float = 2e-3) -> None:
        super().__init__()
        self.mixer, self.lr = mixer, lr
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 10),
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.mixer is None or not self.trainer.training:
            return batch
        x, y = batch
        x, y, _ = self.mixer(x, y)  # synthetic rows made on the batch's device
        return x, y

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fashion-mnist", help="model file or bundled name")
    p.add_argument("--ratio", type=float, default=0.5, help="synthetic rows per real row")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit-batches", type=int, default=None, help="training batches per epoch")
    p.add_argument("--real", type=int, default=60000, help="real training images to use")
    args = p.parse_args(argv)
    to_tensor = v2.Compose(
        [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    )
    train = Subset(fashion_mnist(train=True, transform=to_tensor), range(args.real))
    test = Subset(fashion_mnist(train=False, transform=to_tensor), range(2000))
    accel = "gpu" if torch.cuda.is_available() else "cpu"
    gen = ganaug.load(args.model, device="cuda" if accel == "gpu" else "cpu")
    mixer = SyntheticMixer(gen, ratio=args.ratio, normalize=(MEAN, STD), seed=0)
    L.seed_everything(0)
    trainer = L.Trainer(
        max_epochs=args.epochs,
        accelerator=accel,
        devices=1,
        limit_train_batches=args.limit_batches,
        enable_checkpointing=False,
        logger=False,
    )
    model = Classifier(mixer)
    trainer.fit(
        model,
        DataLoader(train, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(0)),
        DataLoader(test, batch_size=512),
    )
    acc = float(trainer.callback_metrics["val_acc"])
    print(f"validation accuracy (2,000 real test images): {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
