"""Pooling ablation recipe: `tdnn ablate` with this folder's config.toml.

    tdnn recipe pooling-ablation --out runs/pooling_ablation          # the full design
    tdnn recipe pooling-ablation --out runs/pooling_ablation --quick  # ~1 min smoke test

Stages (all in tdnn.experiments.ablation): 0. build the synthetic corpora that are missing, one
set per corpus seed (anagram words, keywords, aligned phones, b/d/g syllables); 1. for each
task, variant, corpus seed and seed train a model on cached features and evaluate it with the
timing probes; 2. write results.{md,csv,json}, summary.md, variants.md, probes.json and plots/
into --out (after every variant, so a run stopped early keeps what it finished).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tdnn.errors import UserError

if TYPE_CHECKING:
    from tdnn.experiments.ablation import AblationConfig

HERE = Path(__file__).parent


def build_parser() -> argparse.ArgumentParser:
    """`tdnn ablate`'s options, with this recipe's config.toml as the default --config."""
    p = argparse.ArgumentParser(prog="tdnn recipe pooling-ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p)
    p.set_defaults(config=HERE / "config.toml")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ablation (or --combine) with this recipe's config."""
    return run(build_parser().parse_args(argv))


def add_options(p: argparse.ArgumentParser) -> None:
    """The ablation's options: this recipe's parser and `tdnn ablate` (no default config) share them."""
    p.add_argument("--out", type=Path, default=Path("runs/pooling_ablation"),
                   help="output folder for tables, plots and raw records")
    p.add_argument("--config", type=Path, default=None,
                   help="config file (.toml/.yaml/.json) with AblationConfig fields, e.g. "
                        "recipes/pooling_ablation/config.toml")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder holding (or receiving) the corpora pairs/, kws/, phones/, bdg/ "
                        "(default: OUT/data)")
    p.add_argument("--quick", action="store_true",
                   help="tiny corpora, 6 variants (+ matched controls), 2 seeds, one corpus, 2-3 "
                        "epochs: a smoke test of the whole pipeline in about a minute "
                        "(numbers mean nothing)")
    p.add_argument("--tasks", default=None,
                   help="comma list of tasks to run (pairs, kws12, phones, bdg, pairs-fewvoices, "
                        "pairs-shortctx, pairs-kokoro); default: the config's")
    p.add_argument("--variants", default=None,
                   help="comma list of variants (none, max3-early, avg2-late-dec, stride2-early, "
                        "cnn2d, ...) for pairs, phones and bdg; default: the config's (kws12 "
                        "reads kws_variants, the pairs-* tasks stress_variants: --set them)")
    p.add_argument("--seeds", default=None, help="comma list of seeds; default: the config's")
    p.add_argument("--combine", nargs="+", type=Path, default=None, metavar="DIR",
                   help="instead of running, merge finished ablation folders (other tasks, "
                        "variants or seeds, e.g. processes run in parallel) into --out; "
                        "DIR:task,task takes only those tasks from DIR")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set pairs_fit.epochs=6 (repeatable)")


def resolve(args) -> AblationConfig:
    """The AblationConfig from defaults < --config file < --quick < --set/--tasks/... options."""
    from tdnn import config
    from tdnn.experiments.ablation import QUICK, AblationConfig
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
    from tdnn import config
    from tdnn.experiments import ablation
    cfg = resolve(args)
    if not cfg.tasks or not cfg.seeds or not cfg.variants:
        raise UserError("tasks, variants and seeds: give at least one of each")
    if len(cfg.seeds) < 2:
        print("note: with one seed there is no std and no significance test", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    config.save(cfg, args.out / "config.yaml")
    if args.combine:
        missing = [d for d in args.combine
                   if not (ablation.split_part(d)[0] / "results.json").is_file()]
        if missing:
            raise UserError(f"--combine {missing[0]}: no results.json; name folders written by "
                            "`tdnn ablate` (DIR, or DIR:task,task for some of its tasks)")
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


if __name__ == "__main__":  # same as `tdnn recipe pooling-ablation ...`, user errors as one line
    from tdnn.cli import main as tdnn_main

    sys.exit(tdnn_main(["recipe", "pooling-ablation", *sys.argv[1:]]))
