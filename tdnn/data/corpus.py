"""The one "corpus is complete" rule for corpora built by `tdnn prepare` (and by recipes/ablate).

A build first writes PLAN (the files it is about to write) and writes DONE last. A folder with
PLAN but no DONE is an interrupted build: readers refuse it. A folder with neither (a real Speech
Commands or TIMIT copy, or a corpus from before these markers) is user data and is accepted.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LayoutError

PLAN = ".tdnn-prepare.json"
DONE = ".tdnn-complete"


def interrupted(root: str | Path) -> bool:
    """True when a build started in `root` (PLAN exists) and never finished (no DONE)."""
    root = Path(root)
    return (root / PLAN).is_file() and not (root / DONE).is_file()


def complete(root: str | Path) -> bool:
    """True when a build in `root` finished."""
    return (Path(root) / DONE).is_file()


def check_complete(root: str | Path) -> None:
    """Refuse a corpus whose build was interrupted (LayoutError naming the folder)."""
    if interrupted(root):
        raise LayoutError(f"{root}: incomplete corpus (its build was interrupted: {PLAN} "
                          f"without {DONE}); rerun prepare with --overwrite")
