"""The `tdnn` console command: one subcommand per module in this package.

Each subcommand module defines `register(subparsers)` that adds its parser and sets
`func=run` (a function taking the parsed args and returning an exit code).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

from ..atomic import printable
from ..errors import UserError

# Subcommand modules, in the order `tdnn --help` lists them.
COMMANDS = ["features", "prepare", "train", "average", "evaluate", "predict", "stream", "export",
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


def os_error_message(e: OSError) -> str:
    """One line for a failed file operation: the path, what went wrong, what to do."""
    path = printable(e.filename) if e.filename is not None else "a file"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{path}: disk full; free some space or write to another folder"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: not writable ({e.strerror}); choose a folder you can write to"
    if e.errno == errno.EISDIR:
        return f"{path}: is a folder; name a file"
    return f"{path}: {e.strerror or e}; check the path"


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn user and file errors into one line and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"tdnn {args.command}: error: {printable(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"tdnn {args.command}: error: {os_error_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tdnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
