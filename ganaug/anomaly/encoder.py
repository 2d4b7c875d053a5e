"""The encoder E of f-AnoGAN (Schlegl et al. 2019): an image (and a class) -> a latent z.

``E(x, c)`` is trained after the GAN, with G and D frozen, so that ``G(E(x, c), c)`` is the
closest class-c image G can draw to x. Its convolutions mirror the discriminator's (stride-2 4x4,
LeakyReLU(0.2), widths ``width, 2 x width, ...``); a conditional model's class enters as a
learned embedding next to the convolutional features. No BatchNorm: an image's latent never
depends on the other rows of its batch.

The latent is projected onto the sphere of radius sqrt(latent_dim), where nearly all of
N(0, I)'s mass lies (f-AnoGAN bounds z with tanh for its uniform prior). Unbounded, the encoder
learns latents far outside the prior (a mean z^2 of 28 instead of 1, measured on Fashion-MNIST),
where G draws whatever reconstructs an image best, digits and noise included.

Its settings travel in the model file's ``encoder`` metadata (:class:`EncoderMeta`), next to the
``encoder.*`` tensors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..models import ModelConfig
from ..models.dcgan import downsampler

__all__ = ["Encoder", "EncoderMeta", "build_encoder", "ENCODER_FORMAT", "METHODS"]

METHODS = ("izif", "discriminator", "combined", "complexity")  # ganaug.anomaly.scorer's scores
ENCODER_FORMAT = "izif-1"  # f-AnoGAN's izi_f training; a new layout gets a new name
_EMBED = 64


class Encoder(nn.Module):
    """``E(x (B, C, H, W) in [-1, 1], c (B,) | None) -> z (B, latent_dim)``."""

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int],
        latent_dim: int,
        num_classes: int,
        width: int = 32,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        self.body, features = downsampler(image_shape, width)
        self.embed = nn.Embedding(num_classes, _EMBED) if num_classes > 0 else None
        features += _EMBED if num_classes > 0 else 0
        self.head = nn.Sequential(
            nn.Linear(features, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, latent_dim)
        )

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x).flatten(1)
        if self.embed is not None:
            if c is None:
                raise ValueError("this encoder is class-conditional: expected classes c, got None")
            h = torch.cat([h, self.embed(c)], dim=1)
        u = self.head(h)  # (B, latent_dim)
        return torch.nn.functional.normalize(u, dim=1) * u.shape[1] ** 0.5


@dataclass
class EncoderMeta:
    """What the model file records about its encoder (JSON metadata ``encoder``).

    Args:
        width, hidden: the encoder's size.
        kappa: weight of the discriminator-feature residual in the score.
        pixel_var, feature_var: per-element variance of real training images and of their
            discriminator features; each residual is divided by its variance, so the two terms
            are on one scale whatever the model.
        term_stats: mean and standard deviation, on real training images, of the scaled pixel
            residual (``"pixel"``) and of minus D's logit (``"logit"``): the ``combined`` score.
        reference: per method (``"izif"``, ``"discriminator"``, ...), the scores of
            real training images under their own labels at quantiles 0, 0.001, ..., 1
            (thresholds, filters).
        fitted: how it was fitted (steps, seed, data fingerprint, final loss, seconds).
    """

    width: int = 32
    hidden: int = 128
    kappa: float = 1.0
    pixel_var: float = 1.0
    feature_var: float = 1.0
    term_stats: dict[str, list[float]] = field(default_factory=dict)
    reference: dict[str, list[float]] = field(default_factory=dict)
    fitted: dict[str, Any] = field(default_factory=dict)
    format: str = ENCODER_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderMeta:
        if d.get("format") != ENCODER_FORMAT:
            raise ValueError(
                f"the model file's encoder has format {d.get('format')!r}; this ganaug reads "
                f"{ENCODER_FORMAT!r}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown encoder metadata keys {unknown}; expected {sorted(known)}")
        return cls(**d)


def build_encoder(config: ModelConfig, meta: EncoderMeta) -> Encoder:
    """The encoder for a model of ``config``, sized as ``meta`` says."""
    return Encoder(
        image_shape=config.image_shape,
        latent_dim=config.latent_dim,
        num_classes=config.num_classes,
        width=meta.width,
        hidden=meta.hidden,
    )
