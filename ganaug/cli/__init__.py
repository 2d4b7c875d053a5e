"""``ganaug`` command line: argparse subcommands, each a thin shell over library functions.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args)``;
heavy imports happen inside ``run`` so ``ganaug --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("info", "sample", "export", "train", "eval", "fit_encoder", "score")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the text already says it (or there is
    nothing to show: None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == "":
            return text
        if default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog="ganaug",
        description="Turn a trained (optionally class-conditional) GAN into extra training data.",
    )
    parser.add_argument("--version", action="version", version=f"ganaug {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f".{name}", __name__)
        p = module.add_parser(sub)
        p.formatter_class = HelpFormatter
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (ValueError, ImportError, OSError) as e:  # OSError: FileNotFound, IsADirectory, ...
        print(f"ganaug {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ganaug {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        from .._dist import close_dist

        close_dist()  # a torchrun process leaves its group cleanly
