"""`tdnn ablate`: the pooling ablation (variants x seeds x tasks) with its table, probes and plots."""

from __future__ import annotations

import argparse

NAME = "ablate"


def register(subparsers) -> None:
    """Add `tdnn ablate`: the pooling-ablation recipe's options and run, without its config."""
    from recipes.pooling_ablation import run as recipe

    p = subparsers.add_parser(
        NAME, help="pooling ablation: does max-pooling in time blur phonetic timing?",
        description="Train every variant (no pooling, max/avg pooling early/late, decimating or "
                    "not, strided layers, 2D CNN, matched-field and order-blind controls) for "
                    "each corpus seed and seed on each task, run the timing probes, and write "
                    "results.{md,csv,json} (mean ± std over runs; paired speaker-bootstrap or t "
                    "tests, Benjamini-Hochberg q, TOST at ±1 point), probes.json, variants.md and "
                    "plots/ into --out. Synthetic corpora are built in --data-dir when missing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    recipe.add_options(p)
    p.set_defaults(func=recipe.run)
