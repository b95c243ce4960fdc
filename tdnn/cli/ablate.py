"""`tdnn ablate`: the pooling ablation (variants x seeds x tasks) with its table, probes and plots."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from ..ablation import AblationConfig

NAME = "ablate"


def register(subparsers) -> None:
    """Add `tdnn ablate`."""
    p = subparsers.add_parser(
        NAME, help="pooling ablation: does max-pooling in time blur phonetic timing?",
        description="Train every variant (no pooling, max/avg pooling early/late, decimating or "
                    "not, strided layers, 2D CNN) for each seed on each task, run the timing "
                    "probes, and write results.{md,csv,json} (mean ± std over seeds, Welch "
                    "t-test vs no pooling), probes.json, variants.md and plots/ into --out. "
                    "Synthetic corpora are built in --data-dir when missing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_options(p)
    p.set_defaults(func=run)


def add_options(p: argparse.ArgumentParser) -> None:
    """The options of `tdnn ablate` (also used by the pooling_ablation recipe's parser)."""
    p.add_argument("--out", type=Path, default=Path("runs/pooling_ablation"),
                   help="output folder for tables, plots and raw records")
    p.add_argument("--config", type=Path, default=None,
                   help="config file (.toml/.yaml/.json) with AblationConfig fields, e.g. "
                        "recipes/pooling_ablation/config.toml")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder holding (or receiving) the corpora pairs/, kws/, phones/, bdg/ "
                        "(default: OUT/data)")
    p.add_argument("--quick", action="store_true",
                   help="tiny corpora, 3 variants, 2 seeds, 2-3 epochs: a smoke test of the "
                        "whole pipeline in about a minute (numbers mean nothing)")
    p.add_argument("--tasks", default=None,
                   help="comma list of tasks to run (pairs, kws12, phones, bdg, pairs-fewvoices, "
                        "pairs-shortctx); default: the config's")
    p.add_argument("--variants", default=None,
                   help="comma list of variants (none, max3-early, avg2-late-dec, stride2-early, "
                        "cnn2d, ...); default: the config's")
    p.add_argument("--seeds", default=None, help="comma list of seeds; default: the config's")
    p.add_argument("--combine", nargs="+", type=Path, default=None, metavar="DIR",
                   help="instead of running, merge finished ablation folders that ran disjoint "
                        "--tasks (e.g. two processes in parallel) into --out")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set pairs_fit.epochs=6 (repeatable)")


def resolve(args) -> AblationConfig:
    """The AblationConfig from defaults < --config file < --quick < --set/--tasks/... options."""
    from .. import config
    from ..ablation import QUICK, AblationConfig
    base = config.to_dict(AblationConfig())
    if args.config is not None:
        base = config.merge(base, config.read_file(args.config))
    if args.quick:  # --quick shrinks whatever the file asks for
        base = config.merge(base, QUICK)
    overrides = list(args.overrides)
    for key, value in (("tasks", args.tasks), ("variants", args.variants), ("seeds", args.seeds)):
        if value is not None:
            items = [s.strip() for s in value.split(",") if s.strip()]
            if not items:
                raise UserError(f"--{key}: give at least one name")
            overrides.append(f"{key}=[{', '.join(items)}]")
    if args.data_dir is not None:
        overrides.append(f"data_dir={args.data_dir}")
    return config.load(AblationConfig, None, overrides, base=base)


def run(args) -> int:
    """Resolve the config, run the ablation, print where the table is."""
    from .. import ablation, config
    cfg = resolve(args)
    if not cfg.tasks or not cfg.seeds or not cfg.variants:
        raise UserError("tasks, variants and seeds: give at least one of each")
    if len(cfg.seeds) < 2:
        print("note: with one seed there is no std and no significance test", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    config.save(cfg, args.out / "config.yaml")
    if args.combine:
        missing = [d for d in args.combine if not (d / "results.json").is_file()]
        if missing:
            raise UserError(f"--combine {missing[0]}: no results.json; name folders written by "
                            "`tdnn ablate`")
        result = ablation.combine(args.combine, args.out, cfg)
        print(f"combined {len(args.combine)} folders: {len(result['rows'])} table rows; "
              f"table {result['paths']['md']}")
        return 0
    log_file = (args.out / "ablation.log").open("a")
    start = time.time()

    def log(line: str) -> None:
        stamped = f"[{time.time() - start:7.1f} s] {line}"
        print(stamped, flush=True)
        log_file.write(stamped + "\n")
        log_file.flush()

    try:
        result = ablation.run(cfg, args.out, log=log)
    finally:
        log_file.close()
    print(f"ablation: {len(result['rows'])} table rows in {result['seconds'] / 60:.1f} min; "
          f"table {result['paths']['md']}")
    if result["failed_items"]:
        print(f"ablation: {result['failed_items']} corpus items failed (listed in the log)",
              file=sys.stderr)
        return 1
    return 0
