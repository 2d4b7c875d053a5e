"""``ganaug export --n 10000 --out synthetic.h5``: synthetic samples to HDF5 (torchrun: sharded)."""

from __future__ import annotations

import argparse
import sys

from ._common import add_cache_dir, add_precision, add_root

DEFAULT_N = 10_000


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
        help=f"number of samples (default: {DEFAULT_N:,}, or the sum of --labels counts); "
        "under torchrun spell it -n or --num-samples",
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
        metavar="drs[:Q]|confidence[:T]|anomaly[:Q]",
        help="keep only samples a quality filter accepts (ganaug.FilteredSource): 'drs' "
        "(discriminator rejection sampling, Q the burn-in quantile), 'confidence' (domain "
        "classifier probability >= T; the classifier is trained once on --data and cached, "
        "as ganaug eval does, or read from --classifier) or 'anomaly' (anomaly score at most "
        "the Q-quantile of real training scores; needs the model file's encoder)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="the real training data behind --filter confidence (fashion-mnist, an image "
        "folder, an .h5/.npz; default: the data the model file says it was trained on, "
        "when that is a named data set)",
    )
    p.add_argument(
        "--classifier",
        default=None,
        help="a domain classifier file (ganaug.metrics.save_classifier) for --filter confidence, "
        "instead of training one on --data",
    )
    add_root(p)
    add_cache_dir(p)
    add_precision(p, "generation")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _source(args: argparse.Namespace):
    """The model, wrapped in a quality filter when --filter is given."""
    if args.filter is None:
        if args.classifier is not None or args.data is not None:
            raise ValueError("--classifier and --data are only used with --filter confidence")
        return args.model
    from ..metrics import quality_filter
    from ..sources import load, parse_filter_spec

    confidence = parse_filter_spec(args.filter)["method"] == "confidence"
    gen = load(args.model, precision=args.precision)
    data = args.data
    if confidence and data is None and args.classifier is None:
        data = _named_training_data(gen.provenance.get("data_source"))
        if data is None:
            raise ValueError(
                "--filter confidence needs --classifier FILE or --data DATA (the real training "
                "data its domain classifier is trained on): the model file does not name a data "
                "set it was trained on"
            )
    return quality_filter(
        gen,
        args.filter,
        data=data,
        classifier=args.classifier,
        root=args.root,
        cache_dir=args.cache_dir,
    )


def _named_training_data(source: str | None) -> str | None:
    """The data set a model file says it was trained on, when it is one found by name."""
    from ..data import NAMED

    return source if source is not None and source.partition(":")[0] in NAMED else None


def run(args: argparse.Namespace) -> int:
    from ..io import export
    from ..sources import parse_label_spec

    labels = parse_label_spec(args.labels)
    if args.n is not None and args.n <= 0:
        raise ValueError(f"expected --n > 0 samples, got {args.n}")
    n = args.n if args.n is not None or isinstance(labels, dict) else DEFAULT_N
    path = export(
        _source(args),
        args.out,
        n,
        labels=labels,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        compression=args.compression,
        overwrite=args.overwrite,
        resume=args.resume,
        progress=not args.no_progress,
        precision=args.precision,
    )
    if _rank() == 0:
        print(f"wrote {path}", file=sys.stdout)
    return 0


def _rank() -> int:
    import torch

    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
