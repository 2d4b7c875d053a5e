"""Options several subcommands share, declared once."""

from __future__ import annotations

import argparse


def add_root(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        default=None,
        help="where named datasets live (default: $GANAUG_DATA, else ~/.cache/ganaug/data)",
    )


def add_cache_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir",
        default=None,
        help="where trained domain classifiers are cached (default: $GANAUG_CACHE/classifiers, "
        "else ~/.cache/ganaug/classifiers)",
    )


def add_precision(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16"),
        help=f"number format of the {what}: auto = bf16 on CUDA and on CPUs with native bf16 "
        "units (AMX, AVX-512 BF16), fp32 elsewhere; the bytes depend on the machine and this",
    )
