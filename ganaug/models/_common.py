"""Pieces shared by the architectures: label conditioning and the projection head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


class LabelConcat(nn.Module):
    """Concatenate a learned label embedding to a flat input (identity when unconditional)."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, dim) if num_classes > 0 else None
        self.out_extra = dim if num_classes > 0 else 0

    def forward(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return h
        if y is None:
            raise ValueError("this model is class-conditional: expected labels y, got None")
        return torch.cat([h, self.embed(y)], dim=1)


class ProjectionHead(nn.Module):
    """Projection discriminator output (Miyato & Koyama 2018): ``linear(phi) + <embed(y), phi>``."""

    def __init__(self, features: int, num_classes: int, sn: bool) -> None:
        super().__init__()
        self.linear = maybe_sn(nn.Linear(features, 1), sn)
        self.embed = maybe_sn(nn.Embedding(num_classes, features), sn) if num_classes > 0 else None

    def forward(self, phi: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        out = self.linear(phi).squeeze(1)  # (B,)
        if self.embed is not None:
            if y is None:
                raise ValueError("this model is class-conditional: expected labels y, got None")
            out = out + (self.embed(y) * phi).sum(dim=1)
        return out
