"""``ganaug export --n 10000 --out synthetic.h5``: synthetic samples to HDF5 (torchrun: sharded)."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export",
        help="write synthetic samples to an HDF5 file (resumable; sharded under torchrun)",
        description="Generate samples once and store them as HDF5 (/images (N,H,W,C) uint8, "
        "/labels, /seeds) for ganaug.H5Dataset or plain h5py. Re-running the same command "
        "after an interruption continues where it stopped. Under `torchrun --nproc-per-node N "
        "-m ganaug export ...` each rank writes a shard and OUT becomes an index of them.",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a .safetensors model file or bundled name (default: fashion-mnist)",
    )
    # -n: under torchrun write `-n 10000`; torchrun's own parser rejects `--n` as an
    # ambiguous abbreviation of its --nnodes/--nproc-per-node even after `-m ganaug`
    p.add_argument(
        "--n",
        "-n",
        "--num-samples",
        dest="n",
        type=int,
        default=None,
        help="number of samples (required unless --labels gives counts); under "
        "torchrun spell it -n or --num-samples",
    )
    p.add_argument("--out", default="synthetic.h5", help="output file (default synthetic.h5)")
    p.add_argument(
        "--labels",
        default="auto",
        help="'balanced' (default for conditional models: class = index mod K; none for "
        "unconditional ones), 'uniform', one class (index or name), or counts like "
        "'0:500,3:1000'",
    )
    p.add_argument("--seed", type=int, default=0, help="sample stream seed (default 0)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per generation batch and resumable segment, rounded up to whole "
        "chunks (default: the engine's batch size for the device)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA if available), cpu, cuda, cuda:1 ... (default auto)",
    )
    p.add_argument(
        "--compression",
        default="gzip",
        choices=("gzip", "lzf", "none"),
        help="chunk compression (default gzip)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing OUT and discard an unfinished export of another command",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="only continue an unfinished export at OUT (error if there is none); "
        "without it the same command continues automatically too",
    )
    p.add_argument(
        "--filter",
        default=None,
        metavar="drs[:Q]|confidence[:T]",
        help="keep only samples a quality filter accepts (ganaug.filtering.FilteredSource): "
        "'drs' (discriminator rejection sampling, Q the burn-in quantile) or 'confidence' "
        "(domain classifier probability >= T, needs --classifier)",
    )
    p.add_argument(
        "--classifier",
        default=None,
        help="a domain classifier file (ganaug.metrics.save_classifier) for --filter confidence",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _source(args: argparse.Namespace):
    """The model, wrapped in a quality filter when --filter is given."""
    if args.filter is None:
        if args.classifier is not None:
            raise ValueError("--classifier is only used with --filter confidence")
        return args.model
    from ..engine import load
    from ..filtering import FilteredSource, parse_filter_spec
    from ..metrics import load_classifier

    spec = parse_filter_spec(args.filter)
    if spec["method"] == "confidence" and args.classifier is None:
        raise ValueError(
            "--filter confidence needs --classifier FILE (a domain classifier "
            "saved with ganaug.metrics.save_classifier)"
        )
    classifier = load_classifier(args.classifier) if args.classifier else None
    return FilteredSource(load(args.model), classifier=classifier, **spec)


def _init_distributed(device: str) -> bool:
    """Join the torchrun process group (gloo on CPU, NCCL on CUDA); False when not launched so."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or torch.distributed.is_initialized():
        return False
    cuda = torch.cuda.is_available() and device != "cpu" and not device.startswith("cpu")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def run(args: argparse.Namespace) -> int:
    import torch

    from .._labelspec import parse_label_spec
    from ..export import export

    labels = parse_label_spec(args.labels)
    if args.n is not None and args.n <= 0:
        raise ValueError(f"expected --n > 0 samples, got {args.n}")
    started = _init_distributed(args.device)
    try:
        path = export(
            _source(args),
            args.out,
            args.n,
            labels=labels,
            seed=args.seed,
            batch_size=args.batch_size,
            device=args.device,
            compression=args.compression,
            overwrite=args.overwrite,
            resume=args.resume,
            progress=not args.no_progress,
        )
        rank = torch.distributed.get_rank() if started else 0
        if rank == 0:
            print(f"wrote {path}", file=sys.stdout)
    finally:
        if started:
            torch.distributed.destroy_process_group()
    return 0
