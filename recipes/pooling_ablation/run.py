"""Pooling ablation recipe: `tdnn ablate` with this folder's config.toml.

    tdnn recipe pooling-ablation --out runs/pooling_ablation          # the default ablation
    tdnn recipe pooling-ablation --out runs/pooling_ablation --quick  # ~1 min smoke test

Stages (all in tdnn.ablation): 0. build the synthetic corpora that are missing (minimal pairs,
keywords, aligned phones, b/d/g syllables); 1. for each task, variant and seed train a model on
cached features and evaluate it with the timing probes; 2. write results.{md,csv,json},
summary.md, variants.md, probes.json and plots/ into --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tdnn.cli import ablate

HERE = Path(__file__).parent


def build_parser() -> argparse.ArgumentParser:
    """`tdnn ablate`'s options, with this recipe's config.toml as the default --config."""
    p = argparse.ArgumentParser(prog="tdnn recipe pooling-ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    ablate.add_options(p)
    p.set_defaults(config=HERE / "config.toml")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ablation (or --combine) as `tdnn ablate` would."""
    return ablate.run(build_parser().parse_args(argv))


if __name__ == "__main__":  # same as `tdnn recipe pooling-ablation ...`, user errors as one line
    from tdnn.cli import main as tdnn_main

    sys.exit(tdnn_main(["recipe", "pooling-ablation", *sys.argv[1:]]))
