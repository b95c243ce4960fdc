"""`tdnn average`: the weight average of checkpoints of one model as a new run folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add the `average` subcommand."""
    p = subparsers.add_parser(
        "average", help="average the weights of checkpoints of one model into a new run folder",
        description="Average the weights of run folders (their model.pt) or checkpoint files: "
                    "the last epochs of one run (train it with --set keep_epochs=N, then pass "
                    "RUN/epoch_*.pt) or runs fine-tuned from one init (a model soup). The "
                    "result is a run folder every command accepts; inference costs one model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("sources", nargs="+", type=Path,
                   help="run folders or model checkpoints (model.pt, epoch_NNN.pt) of one model")
    p.add_argument("--out", required=True, type=Path, help="new run folder to write")
    p.set_defaults(func=run)


def run(args) -> int:
    """Average and report."""
    from ..average import average_runs

    out = average_runs(args.sources, args.out)
    print(f"{out}: the mean of {len(args.sources)} checkpoints")
    return 0
