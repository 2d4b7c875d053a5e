"""GAN objectives as pure functions of discriminator logits, plus the WGAN gradient penalty.

``minimax`` is the classic objective (Goodfellow et al. 2014) with the non-saturating generator
loss; ``hinge`` (Lim & Ye 2017, Miyato et al. 2018); ``wgan-gp`` (Gulrajani et al. 2017, the
penalty is added by the training step); ``lsgan`` (Mao et al. 2017, a=0, b=c=1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "d_loss", "g_loss", "gradient_penalty", "r1_penalty", "check_loss"]

LOSSES = ("minimax", "hinge", "wgan-gp", "lsgan")


def check_loss(name: str) -> str:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    return name


def d_loss(name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from logits on real (B,) and fake (B,) images (penalties excluded)."""
    if name == "minimax":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if name == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if name == "wgan-gp":
        return fake.mean() - real.mean()
    if name == "lsgan":
        return 0.5 * ((real - 1.0).square().mean() + fake.square().mean())
    raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")


def g_loss(name: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from discriminator logits on fake images (B,)."""
    if name == "minimax":
        return F.softplus(-fake).mean()  # non-saturating: -log sigmoid(D(G(z)))
    if name in ("hinge", "wgan-gp"):
        return -fake.mean()
    if name == "lsgan":
        return 0.5 * (fake - 1.0).square().mean()
    raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat)|| - 1)^2]`` on random real/fake interpolates.

    Args:
        critic: ``x (B, C, H, W) -> (B,)`` logits (bind labels with a lambda).
        real: real images (B, C, H, W).
        fake: generated images (B, C, H, W), detached.
        generator: RNG for the interpolation weights (the global RNG is never used).
    """
    alpha = torch.rand((real.shape[0], 1, 1, 1), generator=generator, device=real.device)
    grad = _input_gradient(critic, alpha * real + (1.0 - alpha) * fake)
    return (grad.flatten(1).norm(dim=1) - 1.0).square().mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """Zero-centred R1 (Mescheder et al. 2018): ``E[|grad_x D(x)|^2]`` on real images ``x``,
    with the graph kept so the penalty trains D (weight it by gamma / 2)."""
    return _input_gradient(critic, real).flatten(1).square().sum(1).mean()


def _input_gradient(critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
    """``grad_x sum critic(x)`` at a detached copy of ``x`` (same dtype as ``x``), with the
    graph kept so that a penalty on it trains the critic."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad
