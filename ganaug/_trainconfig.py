"""Training settings (``TrainConfig``) and what they resolve to for a given dataset."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._checkpoint import RUN_MARKER
from ._ddp import Dist
from .data import ImageData
from .diffaugment import parse_policy
from .losses import check_loss
from .models import ModelConfig, list_archs

__all__ = ["TrainConfig", "MUTABLE", "model_config", "total_steps", "resolved_config"]

# Settings that may change between a run and its --resume: the length and the records, and the
# learning rates (the fix to try after a divergence: resume the last good checkpoint, lower lr).
MUTABLE = (
    "lr_g",
    "lr_d",
    "steps",
    "epochs",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "eval_every",
    "eval_samples",
    "time_limit",
)


@dataclass
class TrainConfig:
    """Training settings (see ``ganaug train --help`` for each).

    ``steps`` counts generator updates (each after ``n_critic`` discriminator updates);
    ``epochs`` converts to steps by the data size; ``time_limit`` is in minutes of wall clock.
    """

    arch: str = "dcgan"
    conditional: bool | None = None  # None: conditional when the data has labels
    loss: str = "hinge"
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1
    gp_weight: float = 10.0
    spectral_norm: bool = False
    ema: float = 0.999
    diffaugment: str = ""
    mode_seeking: float = 0.0  # weight of the MSGAN diversity term (0 = off)
    latent_dim: int = 100
    arch_args: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 500
    eval_every: int = 0
    eval_samples: int = 2000
    time_limit: float | None = None

    def __post_init__(self) -> None:
        if self.arch not in list_archs():
            raise ValueError(f"unknown --arch {self.arch!r}; expected one of {list_archs()}")
        check_loss(self.loss)
        self.policy = parse_policy(self.diffaugment)
        for name in ("batch_size", "n_critic", "latent_dim", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 0 or (self.epochs or 0) < 0:
            raise ValueError(f"expected steps/epochs >= 0, got {self.steps}/{self.epochs}")
        if not (0.0 <= self.mode_seeking < math.inf):
            raise ValueError(f"expected a finite --mode-seeking >= 0, got {self.mode_seeking}")
        if not (0.0 <= self.ema < 1.0):
            raise ValueError(f"expected --ema decay in [0, 1), got {self.ema}")
        if min(self.lr_g, self.lr_d) <= 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(
                f"expected lrs > 0 and betas in [0, 1), got lr_g={self.lr_g}, "
                f"lr_d={self.lr_d}, betas=({self.beta1}, {self.beta2})"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def model_config(cfg: TrainConfig, data: ImageData) -> tuple[ModelConfig, torch.Tensor | None]:
    if cfg.conditional and data.labels is None:
        raise ValueError(
            f"{data.source} has no labels, so a conditional model cannot be "
            f"trained; drop the conditional option"
        )
    conditional = data.labels is not None if cfg.conditional is None else cfg.conditional
    arch_args = {**cfg.arch_args, "spectral_norm": cfg.spectral_norm}
    model_cfg = ModelConfig(
        arch=cfg.arch,
        image_shape=data.image_shape,
        latent_dim=cfg.latent_dim,
        num_classes=data.num_classes if conditional else 0,
        class_names=data.class_names if conditional else [],
        arch_args=arch_args,
    )
    return model_cfg, data.labels if conditional else None


def total_steps(cfg: TrainConfig, n: int, dist: Dist) -> int:
    if cfg.steps is not None:
        return int(cfg.steps)
    per_epoch = n // (cfg.batch_size * dist.world)
    return math.ceil((cfg.epochs if cfg.epochs is not None else 10) * per_epoch / cfg.n_critic)


def resolved_config(
    cfg: TrainConfig,
    data: ImageData,
    model_cfg: ModelConfig,
    dist: Dist,
    dev: torch.device,
    workers: int,
    out: Path,
) -> dict[str, Any]:
    train_cfg = cfg.to_dict()
    identity = {k: v for k, v in train_cfg.items() if k not in MUTABLE}
    identity |= {
        "data_fingerprint": data.fingerprint(),
        "world_size": dist.world,
        "model": model_cfg.to_dict(),
    }
    return {
        "marker": RUN_MARKER,
        "identity": identity,
        "train": train_cfg,
        "data": {
            "source": data.source,
            "fingerprint": identity["data_fingerprint"],
            "n": len(data),
            "image_shape": list(data.image_shape),
            "class_names": data.class_names,
        },
        "model": model_cfg.to_dict(),
        "runtime": {
            "device": str(dev),
            "workers": workers,
            "world_size": dist.world,
            "out": str(out),
        },
    }
