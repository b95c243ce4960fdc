"""The closing lines every corpus-building subcommand prints (`tdnn prepare ...`)."""

from __future__ import annotations

import sys
from pathlib import Path


def report_build(kind: str, out: Path, summary: dict, seconds: float) -> int:
    """Print the summary and the failed items; exit code 1 if any item failed."""
    failures = summary.pop("failures")
    for item, reason in failures:
        print(f"failed: {item}: {reason}", file=sys.stderr)
    details = ", ".join(f"{k}={v}" for k, v in summary.items())
    print(f"{kind}: wrote {out} ({details}) in {seconds:.1f} s")
    return 1 if failures else 0
