"""`tdnn evaluate`: score a trained run on any Speech Commands-layout folder."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..atomic import atomic_write_text, printable
from ..errors import UserError

# tdnn.data.speech_commands.SPLITS, named here so that `--help` needs no torch (tested equal).
SPLITS = ("train", "validation", "test", "all")


def register(subparsers) -> None:
    """Add the `evaluate` subcommand."""
    p = subparsers.add_parser(
        "evaluate", help="evaluate a trained run on a Speech Commands-layout folder",
        description="Accuracy, per-class precision/recall and confusion matrix of RUN's best "
                    "model on DIR, written to OUT (metrics.json, report.md, confusion.png, "
                    "predictions.csv). A folder without validation_list.txt/testing_list.txt is "
                    "evaluated whole (every clip, no generated silence); for the 12-class task "
                    "words outside the ten count as _unknown_. Unreadable clips are reported and "
                    "skipped (exit code 1).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by `tdnn train` or `tdnn recipe`")
    p.add_argument("--data-dir", type=Path, required=True,
                   help="Speech Commands-layout folder (or .tar.gz with --cache-dir)")
    p.add_argument("--out", type=Path, required=True, help="folder for the evaluation outputs")
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="split to score when DIR has list files (else the whole folder)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where to extract a .tar.gz corpus")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for the silence/unknown shares of a split")
    p.add_argument("--batch-size", type=int, default=256, help="clips per forward pass")
    p.set_defaults(func=run)


def select_examples(root: Path, split: str, task: int, seed: int, silence: float,
                    unknown: float) -> tuple[list, str]:
    """Examples to score and a phrase saying which: a split, or the whole list-less folder."""
    from ..data import speech_commands as sc

    if sc.has_split_lists(root):
        return (sc.load_examples(root, split, task, seed, silence, unknown),
                f"split {split!r}")
    return (sc.load_examples(root, "all", task, seed, silence_percentage=0,
                             unknown_percentage=None), "whole folder (no list files)")


def run(args) -> int:
    """Evaluate and write the outputs."""
    from ..data import speech_commands as sc
    from ..evaluate import accuracy_by, evaluate_examples, speaker_of, word_of, write_report
    from ..runs import check_report_out, load_run

    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    check_report_out(args.out)
    args.out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails before the work
    model_run = load_run(args.run)
    root = sc.open_corpus(args.data_dir, args.cache_dir)
    d = model_run.cfg.data
    examples, which = select_examples(root, args.split, d.task, args.seed,
                                      d.silence_percentage, d.unknown_percentage)
    metrics, rows, errors = evaluate_examples(model_run, examples, args.batch_size, progress=True)
    metrics.update({"run": str(args.run), "data_dir": str(args.data_dir), "selection": which,
                    "unreadable": errors,
                    "by_word": accuracy_by(rows, lambda r: word_of(r["path"] or None)),
                    "by_speaker": accuracy_by(rows, lambda r: speaker_of(r["path"] or None))})
    metrics["extra"] = {"data": f"{args.data_dir} ({which})", "unreadable clips": len(errors)}
    write_report(metrics, args.out, title=f"Evaluation of {args.run.name} on {args.data_dir.name}")
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=["path", "label", "predicted", "probability"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(args.out / "predictions.csv", buf.getvalue())
    for path, message in errors.items():
        print(f"skipped {printable(path)}: {printable(message)}", file=sys.stderr)
    acc = metrics["accuracy"]
    print(f"{args.out}: accuracy {100 * acc:.2f}% on {metrics['n']} clips ({which})"
          if acc is not None else f"{args.out}: no readable clips")
    return 1 if errors else 0
