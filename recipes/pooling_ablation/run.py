"""Pooling ablation recipe: the `tdnn ablate` run with this folder's config.toml.

    tdnn recipe pooling-ablation --out runs/pooling_ablation          # ~25-35 min on 2 CPU cores
    tdnn recipe pooling-ablation --out runs/pooling_ablation --quick  # ~1 min smoke test

Stages (all in tdnn.ablation): 0. build the synthetic corpora that are missing (minimal pairs,
keywords, aligned phones, b/d/g syllables); 1. for each task, variant and seed train a model on
cached features and evaluate it with the timing probes; 2. write results.{md,csv,json},
summary.md, variants.md, probes.json and plots/ into --out.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tdnn.cli import ablate

HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> int:
    """Run `tdnn ablate` with this recipe's config.toml unless --config names another file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" not in argv:
        argv = ["--config", str(HERE / "config.toml"), *argv]
    from tdnn.cli import main as tdnn_main
    return tdnn_main([ablate.NAME, *argv])


if __name__ == "__main__":
    sys.exit(main())
