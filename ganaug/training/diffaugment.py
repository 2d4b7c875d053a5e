"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) of images before the discriminator.

Applied to real and fake images alike so that D never sees un-augmented data and G still gets
gradients through the augmentation; this keeps D from memorising small datasets. Each policy
draws its per-image parameters from the ``torch.Generator`` it is given, never the global RNG.
Images are float (B, C, H, W) in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["POLICIES", "parse_policy", "diff_augment"]

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"translation,cutout"`` -> ``("translation", "cutout")``; validates the names."""
    if not policy:
        return ()
    parts = policy.split(",") if isinstance(policy, str) else list(policy)
    names = tuple(p.strip() for p in parts if p.strip())
    bad = [p for p in names if p not in POLICIES]
    if bad:
        raise ValueError(f"unknown diffaugment policy {bad}; expected a comma list of {POLICIES}")
    return names


def _rand(x: torch.Tensor, gen: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=gen, device=x.device, dtype=torch.float32).to(x.dtype)


def color(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image."""
    b = x.shape[0]
    x = x + (_rand(x, gen, b, 1, 1, 1) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, gen, b, 1, 1, 1) * 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, gen, b, 1, 1, 1) + 0.5) + mean


def translation(
    x: torch.Tensor, gen: torch.Generator | None = None, ratio: float = 0.125
) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size, zero-padding the border."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), generator=gen, device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), generator=gen, device=x.device)
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij"
    )
    gy = torch.clamp(gy[None] + dy + 1, 0, h + 1)  # (B, H, W) into the padded image
    gx = torch.clamp(gx[None] + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # (B, C, H + 2, W + 2), zero border
    flat = padded.flatten(2)  # (B, C, (H + 2) * (W + 2))
    index = (gy * (w + 2) + gx).flatten(1)[:, None].expand(-1, x.shape[1], -1)
    return flat.gather(2, index).view_as(x)


def cutout(x: torch.Tensor, gen: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` x the image size at a random place in each image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=gen, device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=gen, device=x.device)
    gy = torch.arange(h, device=x.device)[None, :, None] - oy + ch // 2  # (B, H, 1)
    gx = torch.arange(w, device=x.device)[None, None, :] - ox + cw // 2  # (B, 1, W)
    inside = (gy >= 0) & (gy < ch) & (gx >= 0) & (gx < cw)  # (B, H, W)
    return x * (~inside)[:, None].to(x.dtype)


_FUNCS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(
    x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the policies in order (a new tensor; ``x`` is not modified).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = diff_augment(torch.zeros(4, 1, 28, 28), ("translation", "cutout"), g)
    """
    for name in policy:
        x = _FUNCS[name](x, generator)
    return x
