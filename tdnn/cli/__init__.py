"""The `tdnn` console command: one subcommand per module in this package.

Each subcommand module defines `register(subparsers)` that adds its parser and sets
`func=run` (a function taking the parsed args and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import UserError

# Subcommand modules, in the order `tdnn --help` lists them.
COMMANDS = ["features", "prepare", "train", "evaluate", "predict", "stream", "export",
            "ablate", "recipe", "model"]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="tdnn", description="Time-delay scanning networks for speech.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn user errors into one line and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"tdnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tdnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
