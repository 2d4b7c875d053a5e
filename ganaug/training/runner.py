"""``train``: train a (class-conditional) GAN on real data and write one model file.

The defaults are the recipe measured best on Fashion-MNIST (benchmarks/RESULTS.md): ``cdcgan``
(z times a label embedding, a projection discriminator), the non-saturating loss, Adam 8e-4
(0.5, 0.999), bf16 autocast where the CPU has native bf16 units, an EMA generator for sampling
(parameters and BatchNorm statistics), and best-checkpoint selection every 2,000 steps by FD among
the evaluations whose recall and coverage are not collapsed (:class:`.monitor.Selector`). The step
itself lives in :mod:`.step` (``d_step`` / ``g_step``), records in :mod:`.monitor`, the run
folder and checkpoints in :mod:`.checkpoint`, the options in :mod:`.options`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._dist import Dist, init_dist
from ..data import ImageData, load_dataset
from ..models import ModelConfig
from .checkpoint import (
    CKPT_NAME,
    checkpoint_state,
    nonfinite_modules,
    prepare_run_dir,
    restore,
    save_checkpoint,
)
from .config import UNBOUNDED, model_config, resolved_config, total_steps
from .monitor import LossLog, Selector, recalibrate_bn, save_grid
from .options import TrainConfig
from .step import (
    BatchStream,
    Nets,
    balancing_weights,
    build_nets,
    d_step,
    ema_update,
    g_step,
    is_imbalanced,
    lr_factor,
    set_lr,
    step_rng,
)

__all__ = ["TrainingDiverged", "run_folder", "train"]


class TrainingDiverged(RuntimeError):
    """A loss or weight became NaN/inf; the last good checkpoint is kept, no model is written."""


def train(
    dataset: Any,
    *,
    out: str | os.PathLike,
    run_dir: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    workers: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    **options: Any,
) -> Path:
    """Train a GAN on ``dataset`` and write the model file ``out``.

    Args:
        dataset: a data spec for :func:`ganaug.data.load_dataset` (a name such as
            ``"fashion-mnist"``, an image folder, an .h5/.npz file) or a Dataset of
            (image, int label).
        out: the ``.safetensors`` model file to write (the best EMA generator + D).
        run_dir: folder for checkpoints, sample grids, ``log.csv`` and ``config.json``
            (default: ``OUT`` without suffix + ``.run``).
        root, image_size: passed to :func:`ganaug.data.load_dataset`.
        device, workers: where to train; DataLoader worker processes.
        resume: continue the run in ``run_dir`` (same settings required).
        overwrite: replace a previous run in ``run_dir``.
        progress: show a tqdm bar.
        **options: :class:`TrainConfig` fields (``arch``, ``loss``, ``steps``, ``ema``, ...).

    Returns:
        The path of the model file.

    Example:
        >>> ganaug.train("fashion-mnist", out="fm.safetensors", steps=2000)  # doctest: +SKIP
    """
    cfg = TrainConfig(**options)
    dev = torch.device(device)
    dist = init_dist(dev)
    if dev.type == "cuda" and dist.active:
        dev = torch.device("cuda", dist.local_rank)
    data = load_dataset(dataset, root=root, image_size=image_size)
    asked = "--balance-classes" if cfg.balance_classes else f"--balance-power {cfg.balance_power:g}"
    if cfg.balance_classes is None:  # default: on for imbalanced labels or a power < 1; recorded
        on = cfg.balance_power != 1.0 or is_imbalanced(data.labels)
        cfg = dataclasses.replace(cfg, balance_classes=on)
    if cfg.balance_classes and data.labels is None:
        raise ValueError(
            f"{asked} draws batches by class, but {data.source} has no labels; "
            f"drop {asked.split()[0]} or give labelled data"
        )
    model_cfg, labels = model_config(cfg, data)
    total = total_steps(cfg, len(data), dist)
    out = Path(out)
    run = run_folder(out, run_dir)
    resolved = resolved_config(cfg, data, model_cfg, dist, dev, workers, out)
    _prepare_on_main(run, resolved, resume, overwrite, dist, dev)
    nets = build_nets(model_cfg, cfg, dev, dist)
    selector = _selector(cfg, data, dev) if dist.main and cfg.eval_every > 0 else None
    start = restore(nets, selector, run / CKPT_NAME) if resume else 0
    ctx = _Context(cfg, model_cfg, dist, dev, run, selector, resolved, total, progress)
    stream = BatchStream(
        data.images,
        labels,
        batch=cfg.batch_size,
        seed=cfg.seed,
        start=start * cfg.n_critic,
        dist=dist,
        workers=workers,
        device=dev,
        weights=balancing_weights(data.labels, cfg.balance_power) if cfg.balance_classes else None,
    )
    done = _loop(nets, ctx, stream, start)
    if dist.main:
        _export(nets, ctx, data, out, done)
    dist.barrier()
    return out


def run_folder(out: str | os.PathLike, run_dir: str | os.PathLike | None = None) -> Path:
    """Where a run's checkpoints, samples and log go: ``run_dir``, else ``OUT`` + ``.run``."""
    return Path(run_dir) if run_dir is not None else Path(out).with_suffix(".run")


def _prepare_on_main(
    run: Path, resolved: dict, resume: bool, overwrite: bool, dist: Dist, dev: torch.device
) -> None:
    """Rank 0 checks/creates the run folder; every rank stops if that failed (no rank hangs)."""
    failed = torch.zeros(1, device=dev)  # NCCL reduces CUDA tensors only
    try:
        if dist.main:
            prepare_run_dir(run, config=resolved, resume=resume, overwrite=overwrite)
    except BaseException:
        failed += 1
        dist.all_sum(failed)
        raise
    dist.all_sum(failed)
    if failed.item() > 0:
        raise RuntimeError(f"rank {dist.rank}: rank 0 could not prepare {run} (see its error)")


def _selector(cfg: TrainConfig, data: ImageData, dev: torch.device) -> Selector | None:
    """FD against a fixed subset of the real data, in a classifier trained on all of it."""
    if data.labels is None:
        print(
            "ganaug train: unlabelled data has no domain classifier; best-checkpoint "
            "selection is off (the last EMA generator is exported)"
        )
        return None
    from ..metrics import domain_classifier

    gen = torch.Generator().manual_seed(cfg.seed + 17)
    pick = torch.randperm(len(data), generator=gen)[: min(cfg.eval_samples, len(data))]
    return Selector(
        real=data.images[pick],
        n=cfg.eval_samples,
        seed=cfg.seed + 1,
        feature_model=lambda: domain_classifier(data.images, data.labels, device=dev),
    )


@dataclass
class _Context:
    """What the loop needs besides the networks; rank 0 alone writes files and shows progress."""

    cfg: TrainConfig
    model_cfg: ModelConfig
    dist: Dist
    device: torch.device
    run: Path
    selector: Selector | None
    resolved: dict[str, Any]
    total: int
    progress: bool

    def due(self, done: int, every: int) -> bool:
        return every > 0 and done % every == 0


def _loop(nets: Nets, ctx: _Context, stream: BatchStream, start: int) -> int:
    """Train from step ``start``; returns the number of steps done when it stops."""
    from tqdm.auto import tqdm

    cfg, dev, rank = ctx.cfg, ctx.device, ctx.dist.rank
    log = LossLog(ctx.run / "log.csv", resume_step=start) if ctx.dist.main else None
    bar = tqdm(
        total=None if ctx.total == UNBOUNDED else ctx.total,
        initial=start,
        disable=not (ctx.progress and ctx.dist.main),
        unit="step",
        dynamic_ncols=True,
    )
    acc, n_acc, t0, done = torch.zeros(4, device=dev), 0, time.monotonic(), start
    decay = cfg.lr_decay if ctx.total != UNBOUNDED else 0.0
    if cfg.lr_decay > 0 and not decay and ctx.dist.main:
        print(
            f"ganaug train: bounded by --time-limit alone, the run has no known length, so the "
            f"learning rates stay constant (--lr-decay {cfg.lr_decay} needs --steps or --epochs)"
        )
    for step in range(start, ctx.total):
        set_lr(nets, cfg, lr_factor(step, ctx.total, decay))  # the current rates, resumed or not
        for k in range(cfg.n_critic):
            real, y = next(stream)  # (B, C, H, W) in [-1, 1], (B,) | None
            rng = step_rng(cfg.seed, step, k, rank, dev)
            last = k == cfg.n_critic - 1
            r1_now = cfg.r1 > 0 and step % cfg.r1_every == 0 and k == 0
            ld, dr, df, fake, z = d_step(nets, cfg, real, y, rng, keep_fake=last, r1_now=r1_now)
        lg = g_step(nets, cfg, fake, y, step_rng(cfg.seed, step, cfg.n_critic, rank, dev), z)
        ema_update(nets.ema, nets.g, cfg.ema, step)
        acc += torch.stack([ld, lg, dr, df])
        n_acc, done = n_acc + 1, step + 1
        bar.update(1)
        if ctx.due(done, cfg.log_every) or done == ctx.total:
            stop = _log(ctx, log, bar, acc, n_acc, done, stream, time.monotonic() - t0)
            acc.zero_()
            n_acc = 0
            if stop:
                break
        if ctx.dist.main and ctx.due(done, cfg.sample_every):
            _grid(nets, ctx, done)
        if ctx.selector is not None and ctx.due(done, cfg.eval_every):
            _evaluate(nets, ctx, log, done)
        if ctx.due(done, cfg.checkpoint_every):
            _checkpoint(nets, ctx, done)
    bar.close()
    if n_acc:  # a partial interval since the last log line
        _log(ctx, log, bar, acc, n_acc, done, stream, time.monotonic() - t0)
    # a closing evaluation, unless one just ran or the run is shorter than one interval
    closing = done > start and done >= cfg.eval_every and not ctx.due(done, cfg.eval_every)
    if ctx.selector is not None and closing:
        _evaluate(nets, ctx, log, done)
    if ctx.dist.main:
        _grid(nets, ctx, done)
    _checkpoint(nets, ctx, done)
    return done


def _log(
    ctx: _Context,
    log: LossLog | None,
    bar: Any,
    acc: torch.Tensor,
    n: int,
    done: int,
    stream: BatchStream,
    elapsed: float,
) -> bool:
    """Write a log row; returns True when the time limit is reached. Raises on NaN/inf."""
    over = ctx.cfg.time_limit is not None and elapsed >= ctx.cfg.time_limit * 60.0
    stats = torch.cat([acc / n, torch.tensor([float(over)], device=acc.device)])
    ctx.dist.all_sum(stats)
    ld, lg, dr, df, stop = (stats / ctx.dist.world).tolist()  # .tolist(): a device sync, here only
    if not all(math.isfinite(v) for v in (ld, lg, dr, df)):
        bar.close()
        _diverged(ctx, done, f"loss_d={ld}, loss_g={lg}")
    if log is not None:
        epoch = done * ctx.cfg.n_critic / stream.per_epoch
        log.write(
            step=done,
            epoch=round(epoch, 3),
            seconds=round(elapsed, 1),
            loss_d=ld,
            loss_g=lg,
            d_real=dr,
            d_fake=df,
        )
        bar.set_postfix(
            loss_d=f"{ld:.3f}", loss_g=f"{lg:.3f}", d_x=f"{dr:.2f}", d_gz=f"{df:.2f}", refresh=False
        )
    return stop > 0


def _diverged(ctx: _Context, done: int, what: str) -> None:
    ckpt = ctx.run / CKPT_NAME
    kept = (
        f"the last good checkpoint is kept in {ckpt} (continue it with --resume and a lower "
        f"learning rate)"
        if ckpt.exists()
        else "no checkpoint had been written yet"
    )
    raise TrainingDiverged(
        f"training diverged by step {done} ({what}); stopped without writing a model, and "
        f"{kept}. Try a lower learning rate (--lr-d/--lr-g, e.g. half), --loss hinge, "
        f"--spectral-norm or a smaller --batch-size."
    )


def _grid(nets: Nets, ctx: _Context, done: int) -> None:
    save_grid(
        nets.ema,
        ctx.run / "samples" / f"step_{done:07d}.png",
        latent_dim=ctx.cfg.latent_dim,
        num_classes=ctx.model_cfg.num_classes,
        seed=ctx.cfg.seed,
        device=ctx.device,
    )


def _evaluate(nets: Nets, ctx: _Context, log: LossLog | None, done: int) -> None:
    m = ctx.selector.evaluate(
        nets.ema,
        step=done,
        latent_dim=ctx.cfg.latent_dim,
        num_classes=ctx.model_cfg.num_classes,
        device=ctx.device,
    )
    if log is not None:
        log.write(step=done, **m)


def _checkpoint(nets: Nets, ctx: _Context, done: int) -> None:
    """Rank 0 writes the checkpoint, only after checking every weight is finite."""
    if not ctx.dist.main:
        return
    bad = nonfinite_modules(nets)
    if bad:
        _diverged(ctx, done, f"non-finite weights in {', '.join(bad)}")
    best = ctx.selector.state() if ctx.selector is not None else None
    save_checkpoint(ctx.run / CKPT_NAME, checkpoint_state(nets, done, best))


def _export(nets: Nets, ctx: _Context, data: ImageData, out: Path, done: int) -> None:
    from ..sources import save

    sel = ctx.selector
    selected = sel is not None and sel.best_state is not None
    g = sel.best_module(nets.ema) if selected else None
    if g is None:  # no selection: the last EMA generator with recomputed BN statistics
        g = recalibrate_bn(
            nets.ema,
            latent_dim=ctx.cfg.latent_dim,
            seed=ctx.cfg.seed + 1,
            num_classes=ctx.model_cfg.num_classes,
            device=ctx.device,
        )
    provenance = {
        "data_fingerprint": data.fingerprint(),
        "data_source": data.source,
        "n_images": len(data),
        "steps": done,
        "seed": ctx.cfg.seed,
        "loss": ctx.cfg.loss,
        "ema": ctx.cfg.ema,
        "selected_step": sel.best_step if selected else done,
        "selected_fd": sel.best["fd"] if selected else None,
        "selected_recall": sel.best["recall"] if selected else None,
        "selected_coverage": sel.best["coverage"] if selected else None,
        "train_config": ctx.resolved["train"],
    }
    save(out, config=ctx.model_cfg, generator=g, discriminator=nets.d, provenance=provenance)
    _run_page(ctx, provenance["selected_step"] if selected else None, done)


def _run_page(ctx: _Context, selected_step: int | None, done: int) -> None:
    """The run folder's index.html (curves, grids over time); curves need matplotlib."""
    from ..metrics.html import write_run_page

    try:
        write_run_page(ctx.run, selected_step=selected_step, done=done)
    except ImportError:
        print("ganaug train: no run page without matplotlib: pip install 'ganaug[report]'")
