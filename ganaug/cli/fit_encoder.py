"""``ganaug fit-encoder DATA --model M --out M2.safetensors``: fit the anomaly encoder."""

from __future__ import annotations

import argparse

from ._common import add_precision, add_root


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "fit-encoder",
        help="fit the anomaly encoder of a model (for ganaug score and --filter anomaly)",
        description="Train the f-AnoGAN encoder of a model on its real training data, with the "
        "GAN frozen, and write the model file again with the encoder inside.",
    )
    p.add_argument(
        "data",
        help="the model's training data: fashion-mnist | mnist | digits | IMAGE_FOLDER | "
        "FILE.h5 | FILE.npz",
    )
    p.add_argument("--model", default=None, help="model file or bundled name (fashion-mnist)")
    p.add_argument("--out", required=True, help="the model file to write, encoder included")
    p.add_argument("--steps", type=int, default=3000, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=64, help="images per step")
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate")
    p.add_argument("--kappa", type=float, default=1.0, help="weight of the D-feature residual")
    p.add_argument("--seed", type=int, default=0, help="initial weights and batch order")
    p.add_argument("--time-limit", type=float, default=None, help="stop after SECONDS")
    add_root(p)
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_precision(p, "fitting and scoring")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from ..anomaly import AnomalyScorer
    from ..sources import load

    gen = load(args.model, device=args.device, precision=args.precision)
    scorer = AnomalyScorer(gen, precision=args.precision).fit(
        args.data,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        kappa=args.kappa,
        seed=args.seed,
        time_limit=args.time_limit,
        root=args.root,
        progress=not args.no_progress,
    )
    path = scorer.save(args.out)
    fitted = scorer.meta.fitted
    print(
        f"wrote {path}: encoder fitted for {fitted['steps']} steps in {fitted['seconds']} s "
        f"(loss {fitted['loss']}); training scores' 0.99-quantile {scorer.threshold(0.99):.4g}"
    )
    return 0
