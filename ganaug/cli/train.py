"""``ganaug train DATA --out MODEL.safetensors``: train a GAN on real data (torchrun-ready)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a (class-conditional) GAN on real data and write a model file",
        description="Train a GAN and write one .safetensors model file. DATA: fashion-mnist, "
        "mnist (add :test for the test split; under --root), an image folder with one "
        "sub-folder per class, or an .h5/.npz file with 'images' (N,H,W[,C]) and 'labels'. "
        "Scale out with: torchrun --nproc-per-node N -m ganaug train ...",
    )
    p.add_argument("data", help="fashion-mnist | mnist | IMAGE_FOLDER | FILE.h5 | FILE.npz")
    p.add_argument("--out", required=True, help="model file to write (.safetensors)")
    p.add_argument(
        "--run-dir",
        default=None,
        help="folder for checkpoints, samples, log.csv, config.json (default OUT.run)",
    )
    p.add_argument("--root", default=None, help="where named datasets live")
    p.add_argument("--image-size", type=int, default=None, help="resize images to SIZE x SIZE")
    p.add_argument("--arch", default="dcgan", help="mlp | dcgan (default dcgan)")
    p.add_argument(
        "--arch-args",
        default="{}",
        help='architecture options as JSON, e.g. \'{"g_width": 64, "d_width": 64}\'',
    )
    p.add_argument(
        "--unconditional",
        action="store_true",
        help="ignore labels (default: class-conditional when the data has labels)",
    )
    p.add_argument("--loss", default="hinge", help="minimax | hinge | wgan-gp | lsgan")
    p.add_argument("--steps", type=int, default=None, help="generator updates (overrides epochs)")
    p.add_argument("--epochs", type=float, default=None, help="passes over the data (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="per process (default 64)")
    p.add_argument("--lr-g", type=float, default=2e-4, help="generator Adam lr (default 2e-4)")
    p.add_argument("--lr-d", type=float, default=2e-4, help="discriminator lr (default 2e-4)")
    p.add_argument("--beta1", type=float, default=0.5, help="Adam beta1 (default 0.5)")
    p.add_argument("--beta2", type=float, default=0.999, help="Adam beta2 (default 0.999)")
    p.add_argument("--n-critic", type=int, default=1, help="D updates per G update (default 1)")
    p.add_argument("--gp-weight", type=float, default=10.0, help="wgan-gp penalty (default 10)")
    p.add_argument("--spectral-norm", action="store_true", help="spectral norm in D")
    p.add_argument(
        "--ema",
        type=float,
        default=0.999,
        help="EMA decay of the sampling generator, 0 = off (default 0.999)",
    )
    p.add_argument(
        "--diffaugment",
        default="",
        help="comma list of translation,cutout,color (for small datasets)",
    )
    p.add_argument(
        "--mode-seeking",
        type=float,
        default=0.0,
        help="weight of the mode-seeking (MSGAN) term against a collapsed generator that ignores "
        "z, as on tiny datasets (default 0 = off; 1 is the paper's value)",
    )
    p.add_argument("--latent-dim", type=int, default=100, help="size of z (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of init, data order, noise")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (bf16 autocast on CUDA)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="stop after this many minutes of wall clock (checked at log steps)",
    )
    p.add_argument("--log-every", type=int, default=50, help="log interval in steps")
    p.add_argument("--sample-every", type=int, default=500, help="PNG grid interval (0 = end)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="checkpoint interval")
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="FD evaluation interval for best-checkpoint selection (0 = off)",
    )
    p.add_argument("--eval-samples", type=int, default=2000, help="images per FD evaluation")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--overwrite", action="store_true", help="replace a run in --run-dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from ..train import TrainingDiverged, train

    try:
        arch_args = json.loads(args.arch_args)
    except json.JSONDecodeError as e:
        raise ValueError(f"expected --arch-args as a JSON object, got {args.arch_args!r}") from e
    if not isinstance(arch_args, dict):
        raise ValueError(f"expected --arch-args as a JSON object, got {args.arch_args!r}")
    options = {
        k: getattr(args, k)
        for k in (
            "arch",
            "loss",
            "steps",
            "epochs",
            "batch_size",
            "lr_g",
            "lr_d",
            "beta1",
            "beta2",
            "n_critic",
            "gp_weight",
            "spectral_norm",
            "ema",
            "diffaugment",
            "mode_seeking",
            "latent_dim",
            "seed",
            "time_limit",
            "log_every",
            "sample_every",
            "checkpoint_every",
            "eval_every",
            "eval_samples",
        )
    }
    try:
        out = train(
            args.data,
            out=args.out,
            run_dir=args.run_dir,
            root=args.root,
            image_size=args.image_size,
            device=args.device,
            workers=args.workers,
            resume=args.resume,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            arch_args=arch_args,
            conditional=False if args.unconditional else None,
            **options,
        )
    except TrainingDiverged as e:
        print(f"ganaug train: {e}", file=sys.stderr)
        return 3
    if os.environ.get("RANK", "0") == "0":  # torchrun: rank 0 alone reports
        print(f"wrote {out}")
    return 0
