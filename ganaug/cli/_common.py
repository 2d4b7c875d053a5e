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
