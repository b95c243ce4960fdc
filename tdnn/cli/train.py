"""`tdnn train`: train a clip classifier from a config file plus `--set key=value` overrides."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import config


def register(subparsers) -> None:
    """Add the `train` subcommand."""
    p = subparsers.add_parser(
        "train", help="train a keyword-spotting model into a run folder",
        description="Train a model (default: the 'kws' TDNN preset on the 12-class task). The "
                    "resolved config, checkpoints (model.pt best, last.pt for --resume), "
                    "metrics.json, train.log and curves.png go into --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="run folder to create (or resume)")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML/YAML/JSON file with TrainConfig options (see tdnn/train.py)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one option, e.g. --set epochs=5 --set model.preset=cnn2d "
                        "(repeatable; applied after --config)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="Speech Commands-layout folder or .tar.gz (same as --set data.root=DIR)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its last.pt (its saved "
                        "config is used; --set may still override)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Resolve the config and train."""
    from .. import distributed
    from ..runs import CONFIG
    from ..train import TrainConfig, train

    overrides = list(args.overrides)
    if args.data_dir is not None:
        overrides.append(f"data.root={args.data_dir}")
    path = args.config
    if args.resume and path is None and (args.out / CONFIG).is_file():
        path = args.out / CONFIG
    cfg = config.load(TrainConfig, path, overrides)
    try:
        metrics = train(cfg, args.out, resume=args.resume)
    finally:
        distributed.cleanup()  # under torchrun: leave the process group before exiting
    if not distributed.is_main():
        return 0
    best = metrics["best"] or {}
    if best.get("val_accuracy") is None:  # no validation set (stream training): last epoch
        print(f"{args.out}: trained {metrics['epochs_run']} epochs without validation, "
              f"{metrics['params']} parameters")
    else:
        print(f"{args.out}: best validation accuracy {100 * best['val_accuracy']:.2f}% "
              f"(epoch {best.get('epoch')}), {metrics['params']} parameters")
    return 0
