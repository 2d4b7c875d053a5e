"""The classic MLP GAN: G z(100)-256-512-1024-C*H*W, D C*H*W-1024-512-256-1."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import LabelConcat, ProjectionHead, maybe_sn
from ._registry import ModelConfig, register_arch


class MLPGenerator(nn.Module):
    def __init__(
        self,
        *,
        latent_dim: int,
        image_shape: tuple[int, int, int],
        num_classes: int,
        hidden: tuple[int, ...] = (256, 512, 1024),
        embed_dim: int = 50,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.cond = LabelConcat(num_classes, embed_dim)
        layers: list[nn.Module] = []
        prev = latent_dim + self.cond.out_extra
        for width in hidden:
            layers += [nn.Linear(prev, width), nn.ReLU(inplace=True)]
            prev = width
        layers += [nn.Linear(prev, math.prod(image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.cond(z, y)).view(z.shape[0], *self.image_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int],
        num_classes: int,
        hidden: tuple[int, ...] = (1024, 512, 256),
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = math.prod(image_shape)
        for width in hidden:
            layers += [maybe_sn(nn.Linear(prev, width), spectral_norm), nn.LeakyReLU(0.2, True)]
            prev = width
        self.body = nn.Sequential(*layers)
        self.head = ProjectionHead(prev, num_classes, spectral_norm)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The label-free features phi the head projects: (B, F)."""
        return self.body(x.flatten(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x), y)  # (B,) logits


@register_arch("mlp")
class MLP:
    ARCH_ARGS = ("g_hidden", "d_hidden", "embed_dim", "spectral_norm")

    @staticmethod
    def generator(cfg: ModelConfig) -> nn.Module:
        a = cfg.arch_args
        return MLPGenerator(
            latent_dim=cfg.latent_dim,
            image_shape=cfg.image_shape,
            num_classes=cfg.num_classes,
            hidden=tuple(a.get("g_hidden", (256, 512, 1024))),
            embed_dim=int(a.get("embed_dim", 50)),
        )

    @staticmethod
    def discriminator(cfg: ModelConfig) -> nn.Module:
        a = cfg.arch_args
        return MLPDiscriminator(
            image_shape=cfg.image_shape,
            num_classes=cfg.num_classes,
            hidden=tuple(a.get("d_hidden", (1024, 512, 256))),
            spectral_norm=bool(a.get("spectral_norm", False)),
        )
