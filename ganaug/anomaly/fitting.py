"""Fit the f-AnoGAN encoder (the "izi_f" objective): G and D frozen, E learns x -> z.

Loss per batch: ``|x - G(E(x, c), c)|^2 / pixel_var + kappa |f(x) - f(G(E(x, c), c))|^2 /
feature_var``, f the discriminator's features, both variances measured on the training images
first. For a class-conditional model, c is the image's own label half of the time and a class
drawn uniformly the other half, so E learns to draw every image as closely as each class allows:
scoring under another class than the true one, the way mislabels are found, is then a question
E was trained on.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from .._images import expect_shape, to_float
from ..data import load_dataset
from ..sources.base import use_bf16
from .encoder import METHODS, Encoder, EncoderMeta, build_encoder

__all__ = ["fit_encoder", "check_classes", "REFERENCE_POINTS"]

REFERENCE_POINTS = 1001  # quantiles 0, 0.001, ..., 1 of the training scores
_STATS_ROWS = 2048
_REFERENCE_ROWS = 10_000


def fit_encoder(
    scorer: Any,
    data: Any,
    *,
    steps: int = 3000,
    batch_size: int = 64,
    lr: float = 2e-4,
    kappa: float = 1.0,
    width: int = 32,
    hidden: int = 128,
    seed: int = 0,
    time_limit: float | None = None,
    root: Any = None,
    progress: bool = False,
) -> tuple[Encoder, EncoderMeta]:
    """Train an encoder for ``scorer``'s generator on real ``data``.

    Args:
        scorer: the :class:`~ganaug.anomaly.AnomalyScorer` whose generator and discriminator
            stay frozen; it gets the fitted encoder.
        data: the model's real training data (any :func:`ganaug.data.load_dataset` spec).
        steps: optimiser steps (batches of ``batch_size``).
        lr: Adam learning rate (betas 0.5, 0.999).
        kappa: weight of the discriminator-feature residual.
        width: the encoder's first convolution width.
        hidden: the width of its hidden linear layer (with ``width``, the size it adds to the
            model file: 1.8 MB for a 28 x 28 model at the defaults).
        seed: initial weights, batch order and class draws.
        time_limit: stop after this many seconds even if ``steps`` are not done.
        root: where named data sets live.
        progress: show a tqdm bar (stderr).

    Returns:
        The encoder (eval mode, frozen) and its metadata, reference scores included.
    """
    if min(steps, batch_size, width, hidden) < 1 or lr <= 0 or kappa < 0:
        raise ValueError(
            f"expected steps, batch_size, width, hidden >= 1, lr > 0 and kappa >= 0, got "
            f"{steps}, {batch_size}, {width}, {hidden}, {lr} and {kappa}"
        )
    real = load_dataset(data, root=root)
    expect_shape(real.image_shape, scorer.image_shape, what="training images")
    x_all = to_float(real.images)  # (N, C, H, W) in [-1, 1]
    y_all = _labels(real, scorer.num_classes)
    dev = scorer.device
    g = scorer.generator.module(dev)
    d = scorer.discriminator().to(dev)
    stats = _stats(d, x_all[:_STATS_ROWS].to(dev))
    meta = EncoderMeta(width=width, hidden=hidden, kappa=float(kappa), **stats)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = build_encoder(scorer.generator.config, meta).to(dev)
    opt = torch.optim.Adam(enc.parameters(), lr=lr, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(seed)
    bf16 = use_bf16(scorer.precision, dev)
    order = torch.empty(0, dtype=torch.int64)
    t0, done, last_loss = time.monotonic(), 0, 0.0
    bar = _bar(steps, progress)
    for step in range(steps):
        if order.numel() < batch_size:  # a fresh epoch's order, never a short batch
            order = torch.cat([order, torch.randperm(len(real), generator=rng)])
        idx, order = order[:batch_size], order[batch_size:]
        x = x_all[idx].to(dev)
        c = _classes(y_all, idx, scorer.num_classes, rng)
        c = c.to(dev) if c is not None else None
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            xr = g(enc(x, c), c)
            pix = (xr.float() - x).pow(2).mean() / meta.pixel_var
            feat = (d.features(xr).float() - d.features(x).float()).pow(2).mean()
            loss = pix + kappa * feat / meta.feature_var
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if done % 50 == 0 or done == steps:
            value = float(loss.detach())  # a device sync, at log intervals only
            if not torch.isfinite(torch.tensor(value)):
                raise ValueError(
                    f"the encoder's loss became {value} at step {done}; try a lower lr (now {lr})"
                )
            last_loss = value
            bar.update(50 if done % 50 == 0 else done % 50)
            bar.set_postfix(loss=f"{value:.4f}")
        if time_limit is not None and time.monotonic() - t0 > time_limit:
            break
    bar.close()
    enc.eval().requires_grad_(False)
    meta.fitted = {
        "steps": done,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "loss": round(last_loss, 6),
        "seconds": round(time.monotonic() - t0, 1),
        "data": real.source,
        "data_fingerprint": real.fingerprint(),
        "images": len(real),
    }
    scorer.encoder, scorer.meta = enc, meta
    _reference(scorer, real.images, y_all, seed)
    return enc, meta


def check_classes(y: torch.Tensor, num_classes: int, where: str = "") -> None:
    """Raise unless every label of a conditional model's input is one of its classes."""
    if num_classes and y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"{where}expected labels in [0, {num_classes}) (the model's classes), found "
            f"{int(y.min())}..{int(y.max())}"
        )


def _labels(real: Any, num_classes: int) -> torch.Tensor | None:
    """The data's labels when the model is conditional and they fit its classes."""
    if num_classes == 0 or real.labels is None:
        return None
    y = torch.as_tensor(real.labels, dtype=torch.int64)
    check_classes(y, num_classes, f"{real.source}: ")
    return y


def _classes(
    y_all: torch.Tensor | None, idx: torch.Tensor, k: int, rng: torch.Generator
) -> torch.Tensor | None:
    """A batch's conditioning classes: its labels half the time, uniform classes otherwise."""
    if k == 0:
        return None
    drawn = torch.randint(k, (idx.numel(),), generator=rng)
    if y_all is None:
        return drawn
    own = torch.rand(idx.numel(), generator=rng) < 0.5
    return torch.where(own, y_all[idx], drawn)


@torch.inference_mode()
def _stats(d: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    feats = d.features(x).float()
    return {
        "pixel_var": float(x.var(dim=0).mean().clamp(min=1e-6)),
        "feature_var": float(feats.var(dim=0).mean().clamp(min=1e-6)),
    }


def _reference(scorer: Any, images: torch.Tensor, labels: torch.Tensor | None, seed: int) -> None:
    """Record, on up to 10,000 real training images under their own labels (the best class by
    ``izif`` when unlabelled), the statistics of the ``combined`` score and every method's
    score quantiles."""
    n = min(len(images), _REFERENCE_ROWS)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    pick = pick.sort().values
    x = to_float(images[pick])
    k, meta = scorer.num_classes, scorer.meta
    if k == 0:
        t = scorer.terms(x, None)
    elif labels is not None:
        t = scorer.terms(x, labels[pick])
    else:  # (n, K, 3) -> the class each image fits best
        per = torch.stack([scorer.terms(x, torch.full((n,), c)) for c in range(k)], dim=1)
        izif = per[..., 0] / meta.pixel_var + meta.kappa * per[..., 1] / meta.feature_var
        t = per[torch.arange(n), izif.argmin(dim=1)]
    pixel, logit = (t[:, 0] / meta.pixel_var).double(), t[:, 2].double()
    meta.term_stats = {
        "pixel": [float(pixel.mean()), float(pixel.std().clamp(min=1e-6))],
        "logit": [float(logit.mean()), float(logit.std().clamp(min=1e-6))],
    }
    q = torch.linspace(0, 1, REFERENCE_POINTS, dtype=torch.float64)
    for m in METHODS:
        s = scorer.combine(t, m).double()
        meta.reference[m] = [round(float(v), 6) for v in torch.quantile(s, q)]


def _bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="encoder", unit="step", disable=not enabled, leave=False)
