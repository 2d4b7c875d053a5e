"""What a training run records besides weights: the loss log, sample grids, and best-checkpoint
selection of the EMA generator by FD, recall and coverage (``ganaug.metrics``) against real
images."""

from __future__ import annotations

import copy
import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import _rng
from .._images import to_uint8

__all__ = ["LossLog", "sample_images", "save_grid", "Selector"]

LOG_FIELDS = (
    "step",
    "epoch",
    "seconds",
    "loss_d",
    "loss_g",
    "d_real",
    "d_fake",
    "fd",
    "recall",
    "coverage",
    "class_acc",
)


class LossLog:
    """``log.csv``: one row per log interval (means over the interval) and per evaluation."""

    def __init__(self, path: Path, *, resume_step: int) -> None:
        self.path = path
        rows = []
        if path.exists():  # drop rows a crash left after the checkpoint we resume from
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)

    def write(self, **row: Any) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, LOG_FIELDS).writerow({k: _fmt(row.get(k)) for k in LOG_FIELDS})


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v)


@torch.inference_mode()
def sample_images(
    g: nn.Module,
    *,
    n: int,
    latent_dim: int,
    num_classes: int,
    seed: int,
    device: torch.device,
    batch: int = 500,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 samples (n, C, H, W) of an eval-mode generator; class = index mod K (balanced)."""
    idx = torch.arange(n, dtype=torch.int64)
    labels = idx % num_classes if num_classes else None
    out = []
    for lo in range(0, n, batch):
        z = _rng.normal(idx[lo : lo + batch], seed, latent_dim).to(device)
        y = labels[lo : lo + batch].to(device) if labels is not None else None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out.append(to_uint8(g(z, y).float()).cpu())
    return torch.cat(out), (labels if labels is not None else torch.full((n,), -1))


@torch.no_grad()
def recalibrate_bn(
    g: nn.Module,
    *,
    latent_dim: int,
    num_classes: int,
    seed: int,
    device: torch.device,
    n: int = 10000,
    batch: int = 500,
) -> nn.Module:
    """A copy of ``g`` whose BatchNorm statistics are the exact averages over ``n`` samples.

    The EMA generator's averaged weights and averaged running statistics do not quite match;
    recomputing the statistics for the weights it has lowers FD (measured: 164 -> 145 on
    Fashion-MNIST). Latents are drawn by index, so the result is deterministic.
    """
    bns = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return g
    g = copy.deepcopy(g)
    for m in g.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over all batches
    g.train()
    idx = torch.arange(n, dtype=torch.int64) + (1 << 40)  # away from the sampling indices
    for lo in range(0, n, batch):
        z = _rng.normal(idx[lo : lo + batch], seed, latent_dim).to(device)
        y = (idx[lo : lo + batch] % num_classes).to(device) if num_classes else None
        g(z, y)
    for m in g.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.1
    return g.eval()


def save_grid(
    g: nn.Module, path: Path, *, latent_dim: int, num_classes: int, seed: int, device: torch.device
) -> None:
    """A PNG grid: one column per class (10 rows) or 8 x 8 for an unconditional model."""
    from torchvision.utils import save_image

    k = num_classes or 8
    images, _ = sample_images(
        g,
        n=k * (10 if num_classes else 8),
        latent_dim=latent_dim,
        num_classes=num_classes,
        seed=seed,
        device=device,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.float() / 255.0, str(path), nrow=k, padding=2)


class Selector:
    """Keeps the best EMA generator by FD, among those that are not collapsed.

    Every evaluation measures FD, recall and coverage (k = 5) of ``n`` samples against held-out
    real images in a domain classifier's features. FD alone does not see a generator that
    draws a few prototypes per class well (its FD can still fall), so an evaluation only
    competes on FD while its recall and coverage are each at least ``keep`` times the highest
    seen so far in the run. When a later evaluation raises that bar above the kept one, the
    next evaluation that clears it replaces the kept one, whatever its FD.

    Args:
        real: uint8 reference images (N, C, H, W).
        feature_model: returns a ``ganaug.metrics.DomainClassifier`` trained on the training
            data; called at the first evaluation (training it can take minutes).
        n: generated samples per evaluation.
        seed: sample seed (fixed, so evaluations differ only by the weights).
        keep: the share of the run's best recall and coverage an evaluation must reach.
    """

    def __init__(
        self,
        *,
        real: torch.Tensor,
        feature_model: Callable[[], nn.Module],
        n: int,
        seed: int,
        keep: float = 0.9,
    ) -> None:
        self.real, self.n, self.seed, self.keep = real, n, seed, keep
        self._make_model, self._model, self._real_features = feature_model, None, None
        self.best: dict[str, float] = {"fd": math.inf, "recall": 0.0, "coverage": 0.0}
        self.best_step, self.best_state = -1, None
        self.top = {"recall": 0.0, "coverage": 0.0}  # the run's highest so far

    @property
    def best_fd(self) -> float:
        return self.best["fd"]

    def _diverse(self, m: dict[str, float]) -> bool:
        return all(m[k] >= self.keep * self.top[k] for k in self.top)

    def evaluate(
        self, ema: nn.Module, *, step: int, latent_dim: int, num_classes: int, device: torch.device
    ) -> dict[str, float | None]:
        """FD, recall, coverage (and class accuracy for a conditional model) of the samples."""
        from ..metrics import class_accuracy, extract_features, frechet_distance_features, prdc

        ema = recalibrate_bn(
            ema, latent_dim=latent_dim, num_classes=num_classes, seed=self.seed, device=device
        )
        fake, labels = sample_images(
            ema,
            n=self.n,
            latent_dim=latent_dim,
            num_classes=num_classes,
            seed=self.seed,
            device=device,
        )
        if self._model is None:
            self._model = self._make_model()
            self._real_features = extract_features(self._model, self.real)
        ff = extract_features(self._model, fake)
        pr = prdc(self._real_features, ff, k=5)
        m = {
            "fd": frechet_distance_features(self._real_features, ff),
            "recall": pr["recall"],
            "coverage": pr["coverage"],
        }
        if self.consider(m, step):
            self.best_state = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
        acc = class_accuracy(self._model, fake, labels) if num_classes else None
        return {**m, "class_acc": acc}

    def consider(self, m: dict[str, float], step: int) -> bool:
        """Update the run's highs with one evaluation; True if it becomes the kept one."""
        if not math.isfinite(m["fd"]):
            return False
        self.top = {k: max(v, m[k]) for k, v in self.top.items()}
        if self._diverse(m) and (m["fd"] < self.best["fd"] or not self._diverse(self.best)):
            self.best, self.best_step = dict(m), step
            return True
        return False

    def state(self) -> dict[str, Any] | None:
        if self.best_state is None:
            return None
        return {**self.best, "step": self.best_step, "ema": self.best_state, "top": self.top}

    def load(self, state: dict[str, Any] | None) -> None:
        if state is not None:  # checkpoints before recall/coverage selection have only "fd"
            self.best = {k: float(state.get(k, 0.0)) for k in ("fd", "recall", "coverage")}
            self.best_step, self.best_state = int(state["step"]), state["ema"]
            self.top = {k: float(v) for k, v in state.get("top", self.top).items()}

    def best_module(self, ema: nn.Module) -> nn.Module:
        """The best generator (a copy of ``ema`` with the best weights), or ``ema`` itself."""
        if self.best_state is None:
            return ema
        best = copy.deepcopy(ema)
        best.load_state_dict(self.best_state)
        return best
