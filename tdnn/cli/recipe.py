"""`tdnn recipe NAME [OPTIONS]`: run one experiment recipe from `recipes/<name>/run.py`.

A recipe is any folder under `recipes/` holding a `run.py` with `main(argv) -> int` (its own
argument parser, so `tdnn recipe NAME --help` shows its options). Folder names use underscores,
recipe names hyphens: `recipes/speech_commands/run.py` is `tdnn recipe speech-commands`.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import recipes


def available() -> dict[str, str]:
    """Recipe name -> module path, for every `recipes/<folder>/run.py`."""
    root = Path(recipes.__file__).parent
    return {d.name.replace("_", "-"): f"recipes.{d.name}.run"
            for d in sorted(root.iterdir()) if (d / "run.py").is_file()}


def _summary(module_name: str) -> str:
    """First line of a recipe package's docstring (without importing its run module)."""
    package = importlib.import_module(module_name.rsplit(".", 1)[0])
    return ((package.__doc__ or "").strip().splitlines() or [""])[0]


def register(subparsers) -> None:
    """Add the `recipe` subcommand."""
    names = available()
    listing = "\n".join(f"  {name:18s} {_summary(mod)}" for name, mod in names.items())
    p = subparsers.add_parser(
        "recipe", help="run an end-to-end experiment recipe",
        description=f"{__doc__.strip()}\n\nrecipes:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(names), metavar="NAME",
                   help=f"recipe to run: {', '.join(sorted(names))}")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="...",
                   help="the recipe's own options (tdnn recipe NAME --help lists them)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Import the recipe's run module and hand it the remaining arguments."""
    module = importlib.import_module(available()[args.name])
    return int(module.main(list(args.args)) or 0)
