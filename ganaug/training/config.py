"""What the training settings (:class:`~ganaug.training.options.TrainConfig`) resolve to for a
given dataset: the model config, the step count and the run folder's ``config.json``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from .._dist import Dist
from ..data import ImageData
from ..models import ModelConfig, recorded_defaults
from .options import MUTABLE, TrainConfig

__all__ = ["RUN_MARKER", "UNBOUNDED", "model_config", "total_steps", "resolved_config"]

RUN_MARKER = "ganaug-train-run"  # config.json of a run folder says what it is


def model_config(cfg: TrainConfig, data: ImageData) -> tuple[ModelConfig, torch.Tensor | None]:
    if cfg.conditional and data.labels is None:
        raise ValueError(
            f"{data.source} has no labels, so a conditional model cannot be "
            f"trained; drop the conditional option"
        )
    conditional = data.labels is not None if cfg.conditional is None else cfg.conditional
    arch_args = {**recorded_defaults(cfg.arch), **cfg.arch_args, "spectral_norm": cfg.spectral_norm}
    model_cfg = ModelConfig(
        arch=cfg.arch,
        image_shape=data.image_shape,
        latent_dim=cfg.latent_dim,
        num_classes=data.num_classes if conditional else 0,
        class_names=data.class_names if conditional else [],
        arch_args=arch_args,
    )
    return model_cfg, data.labels if conditional else None


UNBOUNDED = 2**62  # the step count of a run bounded by --time-limit alone


def total_steps(cfg: TrainConfig, n: int, dist: Dist) -> int:
    """Steps to run: --steps, else --epochs, else until --time-limit, else 10 epochs."""
    if cfg.steps is not None:
        return int(cfg.steps)
    if cfg.epochs is None and cfg.time_limit is not None:
        return UNBOUNDED
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
