"""DCGAN family sized from the image shape, with a projection discriminator.

The generator upsamples with ``ConvTranspose2d(k=4, s=2, p=1)``: on CPU it ran at ~0.45 of the
matmul rate, while upsample + conv3x3 costs 4x the FLOPs per sample for the same output size.
Sizes that are not a power of two times the start size (20x20, 27x27) are generated one step
larger and centre-cropped.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import LabelConcat, ProjectionHead, maybe_sn
from ._registry import ModelConfig, register_arch

MIN_START = 4


def plan(height: int, width: int) -> tuple[int, int, int]:
    """Return ``(n_up, h0, w0)``: the most doublings that keep the start map at least 4 wide."""
    n_up = max(1, int(math.floor(math.log2(min(height, width) / MIN_START))))
    return n_up, math.ceil(height / 2**n_up), math.ceil(width / 2**n_up)


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The central (height, width) window of (B, C, H', W') images, H' >= height, W' >= width."""
    top, left = (x.shape[2] - height) // 2, (x.shape[3] - width) // 2
    return x[:, :, top : top + height, left : left + width]


class DCGANGenerator(nn.Module):
    def __init__(
        self,
        *,
        latent_dim: int,
        image_shape: tuple[int, int, int],
        num_classes: int,
        width: int = 64,
        embed_dim: int = 50,
    ) -> None:
        super().__init__()
        c, self.height, self.width = image_shape
        n_up, self.h0, self.w0 = plan(self.height, self.width)
        self.ch0 = width * 2 ** (n_up - 1)
        self.cond = LabelConcat(num_classes, embed_dim)
        self.stem = nn.Sequential(
            nn.Linear(latent_dim + self.cond.out_extra, self.ch0 * self.h0 * self.w0, bias=False),
            nn.BatchNorm1d(self.ch0 * self.h0 * self.w0),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        ch = self.ch0
        for _ in range(n_up - 1):
            blocks += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(inplace=True),
            ]
            ch //= 2
        blocks += [nn.ConvTranspose2d(ch, c, 4, 2, 1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.stem(self.cond(z, y)).view(z.shape[0], self.ch0, self.h0, self.w0)
        x = self.blocks(h)  # (B, C, h0 * 2**n, w0 * 2**n), at least (H, W)
        return center_crop(x, self.height, self.width)


def downsampler(
    image_shape: tuple[int, int, int], width: int, spectral_norm: bool = False, extra: int = 0
) -> tuple[nn.Sequential, int]:
    """The discriminator's body: stride-2 4x4 convolutions (width, 2 x width, ...) with
    LeakyReLU(0.2), down to ``plan``'s smallest map, then ``extra`` 3x3 convolutions at that
    map (same width); returns it and its flat feature size. The anomaly encoder reads images
    with the same stack."""
    c, h, w = image_shape
    n_down, _, _ = plan(h, w)
    layers: list[nn.Module] = []
    prev, ch = c, width
    for _ in range(n_down):
        layers += [
            maybe_sn(nn.Conv2d(prev, ch, 4, 2, 1), spectral_norm),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        prev, ch = ch, ch * 2
        h, w = h // 2, w // 2  # k=4, s=2, p=1 halves (floor) each side
    for _ in range(extra):
        layers += [
            maybe_sn(nn.Conv2d(prev, prev, 3, 1, 1), spectral_norm),
            nn.LeakyReLU(0.2, inplace=True),
        ]
    return nn.Sequential(*layers), prev * h * w


class DCGANDiscriminator(nn.Module):
    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int],
        num_classes: int,
        width: int = 64,
        spectral_norm: bool = False,
        extra: int = 0,
    ) -> None:
        super().__init__()
        self.body, features = downsampler(image_shape, width, spectral_norm, extra)
        self.head = ProjectionHead(features, num_classes, spectral_norm)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The label-free features phi the head projects: (B, F)."""
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x), y)  # (B,) logits


# The arch args that DCGAN.discriminator reads; cdcgan shares that discriminator, so these too.
DISCRIMINATOR_ARGS = ("d_width", "d_extra", "spectral_norm")


@register_arch("dcgan")
class DCGAN:
    ARCH_ARGS = ("g_width", "embed_dim", *DISCRIMINATOR_ARGS)

    @staticmethod
    def generator(cfg: ModelConfig) -> nn.Module:
        a = cfg.arch_args
        return DCGANGenerator(
            latent_dim=cfg.latent_dim,
            image_shape=cfg.image_shape,
            num_classes=cfg.num_classes,
            width=int(a.get("g_width", 64)),
            embed_dim=int(a.get("embed_dim", 50)),
        )

    @staticmethod
    def discriminator(cfg: ModelConfig) -> nn.Module:
        a = cfg.arch_args
        return DCGANDiscriminator(
            image_shape=cfg.image_shape,
            num_classes=cfg.num_classes,
            width=int(a.get("d_width", 64)),
            spectral_norm=bool(a.get("spectral_norm", False)),
            extra=int(a.get("d_extra", 0)),
        )
