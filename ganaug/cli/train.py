"""``ganaug train DATA --out MODEL.safetensors``: train a GAN on real data (torchrun-ready).

The training options' flags are made from :class:`~ganaug.training.TrainConfig`'s fields (name,
type, default and help), so a new option is declared once, there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from typing import Any

from ._common import add_root


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a (class-conditional) GAN on real data and write a model file",
        description="Train a GAN and write one .safetensors model file. DATA: fashion-mnist, "
        "mnist, digits (add :test for the test split; under --root), an image folder with one "
        "sub-folder per class, or an .h5/.npz file with 'images' (N,H,W[,C]) and 'labels'. "
        "Scale out with: torchrun --nproc-per-node N -m ganaug train ...",
    )
    p.add_argument(
        "data", help="fashion-mnist | mnist | digits | IMAGE_FOLDER | FILE.h5 | FILE.npz"
    )
    p.add_argument("--out", required=True, help="model file to write (.safetensors)")
    p.add_argument(
        "--run-dir",
        default=None,
        help="folder for checkpoints, samples, log.csv, config.json (default: OUT.run)",
    )
    add_root(p)
    p.add_argument("--image-size", type=int, default=None, help="resize images to SIZE x SIZE")
    options = p.add_argument_group("training options (ganaug.TrainConfig)")
    for f in _option_fields():
        options.add_argument(*_flag(f), dest=f.name, **_argparse_kwargs(f))
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (bf16 autocast on CUDA)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--overwrite", action="store_true", help="replace a run in --run-dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _option_fields() -> list[dataclasses.Field]:
    from ..training.options import TrainConfig

    return list(dataclasses.fields(TrainConfig))


def _flag(f: dataclasses.Field) -> list[str]:
    return [f.metadata.get("flag", "--" + f.name.replace("_", "-"))]


def _argparse_kwargs(f: dataclasses.Field) -> dict[str, Any]:
    """type/action, default and help of one TrainConfig field's flag."""
    from ..training.options import NOT_CLI

    meta = {k: v for k, v in f.metadata.items() if k not in NOT_CLI}
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if "action" in meta:
        return {"default": default, **meta}
    kind = _base_type(f)
    if kind is bool:
        return {"action": "store_true", "default": default, **meta}
    if kind is dict:
        return {"type": _json_object(_flag(f)[0]), "default": default, "metavar": "JSON", **meta}
    return {"type": kind, "default": default, **meta}


def _base_type(f: dataclasses.Field) -> type:
    """``int | None`` -> int, ``dict[str, Any]`` -> dict (annotations are strings here)."""
    from ..training.options import TrainConfig

    hint = typing.get_type_hints(TrainConfig)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is typing.Union or (origin is not None and args and origin.__name__ == "UnionType"):
        hint = args[0]
    return typing.get_origin(hint) or hint


def _json_object(flag: str) -> Any:
    """An argparse type: the text as a JSON object, or a message naming ``flag``."""

    def parse(text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"expected {flag} as a JSON object, got {text!r}")
        return value

    return parse


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from ..training import TrainingDiverged, train
    from ..training.runner import run_folder

    options = {f.name: getattr(args, f.name) for f in _option_fields()}
    main = os.environ.get("RANK", "0") == "0"  # torchrun: rank 0 alone reports
    if main:
        run = run_folder(args.out, args.run_dir)
        print(
            f"ganaug train: run folder {run} (checkpoints, sample grids, log.csv)", file=sys.stderr
        )
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
            **options,
        )
    except TrainingDiverged as e:
        print(f"ganaug train: {e}", file=sys.stderr)
        return 3
    if main:
        print(f"wrote {out}")
    return 0
