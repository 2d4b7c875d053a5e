"""The GAN step: networks, ``d_step`` / ``g_step``, EMA, and the index-addressed batch stream.

All randomness of step ``t`` (latents, augmentation, penalty weights) comes from a
``torch.Generator`` seeded by (seed, t, critic iteration, rank), and the data order of batch ``b``
from a permutation seeded by (seed, epoch): so a run resumed at step ``t`` draws exactly what an
uninterrupted run draws, and the global RNG is never touched.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .. import _rng
from .._dist import Dist, unwrap, wrap
from .._images import to_float
from ..models import ModelConfig, create_discriminator, create_generator
from ..sources.base import use_bf16
from .diffaugment import diff_augment
from .losses import d_loss, g_loss, gradient_penalty, r1_penalty
from .options import IMBALANCE_RATIO, TrainConfig

__all__ = [
    "Nets",
    "build_nets",
    "step_rng",
    "d_step",
    "g_step",
    "ema_update",
    "lr_factor",
    "set_lr",
    "lecam_penalty",
    "BatchStream",
]


@dataclass
class Nets:
    """Live generator/discriminator (DDP-wrapped when distributed), EMA copy, optimisers."""

    G: nn.Module
    D: nn.Module
    ema: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    lecam: torch.Tensor | None = None  # (2,) EMAs of mean D(x) and mean D(G(z)), for --lecam

    @property
    def g(self) -> nn.Module:
        return unwrap(self.G)

    @property
    def d(self) -> nn.Module:
        return unwrap(self.D)


def build_nets(cfg: ModelConfig, tcfg: TrainConfig, device: torch.device, dist: Dist) -> Nets:
    """Create G, D (seeded init inside a forked RNG), the EMA generator and Adam optimisers."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(tcfg.seed)
        g = create_generator(cfg).to(device)
        d = create_discriminator(cfg).to(device)
    ema = copy.deepcopy(g).eval().requires_grad_(False)
    betas = (tcfg.beta1, tcfg.beta2)
    opt_g = torch.optim.Adam(g.parameters(), lr=tcfg.lr_g, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=tcfg.lr_d, betas=betas)
    lecam = torch.zeros(2, device=device) if tcfg.lecam > 0 else None
    return Nets(wrap(g, dist, device), wrap(d, dist, device), ema, opt_g, opt_d, lecam)


def step_rng(seed: int, step: int, k: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator for critic iteration ``k`` (``k = n_critic``: the G step) of ``step``."""
    key = _rng.uniform_bits(torch.tensor([step]), seed, _rng.STREAM_STEP + 64 * rank + k, 2)[0]
    return torch.Generator(device).manual_seed(int(key[0]) << 32 | int(key[1]))


def d_step(
    nets: Nets,
    tcfg: TrainConfig,
    real: torch.Tensor,
    y: torch.Tensor | None,
    rng: torch.Generator,
    keep_fake: bool,
    r1_now: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One discriminator update; returns detached (loss, mean D(x), mean D(G(z))), the fakes
    and their z. ``r1_now`` adds the lazy R1 term, ``r1 / 2 * r1_every * E|grad_x D(x)|^2`` on
    the (augmented) real images, in its own D pass.

    With ``keep_fake`` (the last critic iteration) G runs with autograd on and ``g_step`` reuses
    its output, so a step costs one G forward (two with mode seeking); otherwise G runs under
    ``no_grad``.
    """
    dev = real.device
    z = torch.randn((real.shape[0], tcfg.latent_dim), generator=rng, device=dev)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16(tcfg.precision, dev)):
        with torch.set_grad_enabled(keep_fake):
            fake = (nets.G if keep_fake else nets.g)(z, y)  # (B, C, H, W) in [-1, 1]
        real_aug = diff_augment(real, tcfg.policy, rng)
        fake_aug = diff_augment(fake.detach(), tcfg.policy, rng)
        both = None if y is None else torch.cat([y, y])
        out = nets.D(torch.cat([real_aug, fake_aug]), both).float()  # (2B,): one pass (DDP-safe)
        out_real, out_fake = out[: real.shape[0]], out[real.shape[0] :]
        loss = d_loss(tcfg.loss, out_real, out_fake)
        if tcfg.loss == "wgan-gp":
            gp = gradient_penalty(lambda x: nets.d(x, y), real_aug, fake_aug, generator=rng)
            loss = loss + tcfg.gp_weight * gp
        if r1_now:
            r1 = r1_penalty(lambda x: nets.d(x, y), real_aug)
            loss = loss + 0.5 * tcfg.r1 * tcfg.r1_every * r1
    if nets.lecam is not None:
        loss = loss + tcfg.lecam * lecam_penalty(nets.lecam, out_real, out_fake, tcfg.lecam_decay)
    nets.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    nets.opt_d.step()
    return loss.detach(), out_real.detach().mean(), out_fake.detach().mean(), fake, z


def lecam_penalty(
    anchors: torch.Tensor, out_real: torch.Tensor, out_fake: torch.Tensor, decay: float
) -> torch.Tensor:
    """LeCam regulariser (Tseng et al. 2021): ``mean relu(D(x) - a_fake)^2 + mean relu(a_real -
    D(G(z)))^2``, with ``a_*`` EMAs (``decay``) of the mean logits, updated in place first."""
    with torch.no_grad():
        anchors.lerp_(torch.stack([out_real.mean(), out_fake.mean()]).float(), 1.0 - decay)
    a_real, a_fake = anchors[0], anchors[1]
    return (out_real - a_fake).relu().square().mean() + (a_real - out_fake).relu().square().mean()


def g_step(
    nets: Nets,
    tcfg: TrainConfig,
    fake: torch.Tensor,
    y: torch.Tensor | None,
    rng: torch.Generator,
    z: torch.Tensor,
) -> torch.Tensor:
    """One generator update on ``fake = G(z, y)`` (with its graph) through the updated, frozen D.

    With ``tcfg.mode_seeking`` > 0 a second batch ``G(z2, y)`` (same labels, new z) adds the
    MSGAN term (Mao et al. 2019): ``weight / (mean_i [mean |G(z_i) - G(z2_i)| / mean |z_i -
    z2_i|] + 1e-5)`` (per-element means, the paper's scale; the ratio is averaged per sample),
    large when G maps different z to the same image (mode collapse). It costs one more G pass.
    """
    d = nets.d.requires_grad_(False)  # no D weight grads (and no DDP reduction) in the G step
    dev = fake.device
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16(tcfg.precision, dev)):
        loss = g_loss(tcfg.loss, d(diff_augment(fake, tcfg.policy, rng), y).float())
        if tcfg.mode_seeking > 0:
            z2 = torch.randn(z.shape, generator=rng, device=z.device)
            fake2 = nets.g(z2, y)  # unwrapped: DDP expects one forward per backward
            dx = (fake.float() - fake2.float()).abs().flatten(1).mean(1)
            dz = (z - z2).abs().mean(1)
            loss = loss + tcfg.mode_seeking / ((dx / dz).mean() + 1e-5)
    nets.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    nets.opt_g.step()
    d.requires_grad_(True)
    return loss.detach()


def lr_factor(step: int, total: int, decay: float) -> float:
    """The learning rates' multiplier at ``step`` of ``total``: 1, then a linear fall to 0 over
    the last ``decay`` of the run (``decay`` 0: always 1)."""
    if decay <= 0:
        return 1.0
    return min(1.0, (total - step) / (decay * total))


def set_lr(nets: Nets, tcfg: TrainConfig, factor: float) -> None:
    for opt, lr in ((nets.opt_g, tcfg.lr_g), (nets.opt_d, tcfg.lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr * factor


@torch.no_grad()
def ema_update(ema: nn.Module, g: nn.Module, decay: float, step: int) -> None:
    """EMA of the generator's parameters AND float buffers (BatchNorm running stats).

    The decay ramps up as ``min(decay, (1 + t) / (10 + t))`` so early weights fade quickly.
    """
    beta = min(decay, (1.0 + step) / (10.0 + step))
    e_float = [t for t in _tensors(ema) if t.is_floating_point()]
    g_float = [t for t in _tensors(g) if t.is_floating_point()]
    torch._foreach_lerp_(e_float, g_float, 1.0 - beta)
    for e, s in zip(ema.buffers(), g.buffers(), strict=True):
        if not e.is_floating_point():
            e.copy_(s)  # num_batches_tracked


def _tensors(m: nn.Module) -> list[torch.Tensor]:
    return [*m.parameters(), *m.buffers()]


class BatchIndices(torch.utils.data.Sampler):
    """Yields this rank's index tensor for every global batch from ``start`` on (forever).

    An epoch is a permutation of the ``n`` rows, or, with ``weights`` (one per row), ``n`` rows
    drawn with replacement in proportion to them; either is a function of (seed, epoch) alone.
    """

    def __init__(
        self,
        n: int,
        batch: int,
        *,
        seed: int,
        start: int,
        dist: Dist,
        weights: torch.Tensor | None = None,
    ) -> None:
        self.n, self.batch, self.seed, self.start, self.dist = n, batch, seed, start, dist
        self.weights = weights
        self.per_epoch = n // (batch * dist.world)

    def __iter__(self) -> Iterator[torch.Tensor]:
        b, epoch, perm = self.start, -1, None
        while True:
            if b // self.per_epoch != epoch:
                epoch = b // self.per_epoch
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                if self.weights is None:
                    perm = torch.randperm(self.n, generator=gen)
                else:
                    perm = torch.multinomial(self.weights, self.n, True, generator=gen)
            lo = (b % self.per_epoch) * self.batch * self.dist.world + self.dist.rank * self.batch
            yield perm[lo : lo + self.batch]
            b += 1


def is_imbalanced(labels: torch.Tensor | None) -> bool:
    """Whether ``balance_classes=None`` balances these labels: the largest class present has
    at least ``IMBALANCE_RATIO`` times the rows of the smallest (never without labels)."""
    if labels is None or labels.numel() == 0:
        return False
    counts = torch.bincount(labels)
    counts = counts[counts > 0]
    return bool(counts.max() >= IMBALANCE_RATIO * counts.min())


def balancing_weights(labels: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """One weight per row, 1 / (its class's count) ** ``power``: with 1 every class present is
    drawn equally often, with p a class in proportion to its count ** (1 - p)."""
    counts = torch.bincount(labels)
    return counts[labels].double().pow(-power)


class _Rows(torch.utils.data.Dataset):
    """In-memory uint8 images and labels, indexed by a whole index tensor at once."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.labels[idx] if self.labels is not None else torch.empty(0, dtype=torch.int64)
        return self.images[idx], y


class BatchStream:
    """Batches ``(real (B, C, H, W) float in [-1, 1], labels (B,) | None)`` on ``device``."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None,
        *,
        batch: int,
        seed: int,
        start: int,
        dist: Dist,
        workers: int,
        device: torch.device,
        weights: torch.Tensor | None = None,
    ) -> None:
        sampler = BatchIndices(
            images.shape[0], batch, seed=seed, start=start, dist=dist, weights=weights
        )
        if sampler.per_epoch < 1:
            raise ValueError(
                f"expected at least batch_size x processes = {batch * dist.world} images, "
                f"found {images.shape[0]}; lower --batch-size"
            )
        self.per_epoch, self.device, self.conditional = (
            sampler.per_epoch,
            device,
            labels is not None,
        )
        loader = torch.utils.data.DataLoader(
            _Rows(images, labels),
            sampler=sampler,
            batch_size=None,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
        self._it = iter(loader)

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = next(self._it)
        x = to_float(x.to(self.device, non_blocking=True))
        y = y.to(self.device, non_blocking=True) if self.conditional else None
        return x, y
