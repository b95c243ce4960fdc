"""`tdnn evaluate`: score a trained run on a Speech Commands-layout folder (keyword runs) or a
TIMIT-layout folder (frame-head runs)."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..atomic import atomic_write_text, printable
from ..errors import UserError

# tdnn.data.speech_commands.SPLITS, named here so that `--help` needs no torch (tested equal),
# and the splits of a TIMIT-layout corpus (tdnn.data.timit.load_utterances).
SPLITS = ("train", "validation", "test", "all")
FRAME_SPLITS = ("train", "test", "core")


def register(subparsers) -> None:
    """Add the `evaluate` subcommand."""
    p = subparsers.add_parser(
        "evaluate", help="evaluate a trained run on a Speech Commands-layout folder",
        description="Accuracy, per-class precision/recall and confusion matrix of RUN's best "
                    "model on DIR, written to OUT (metrics.json, report.md, confusion.png, "
                    "predictions.csv). A folder without validation_list.txt/testing_list.txt is "
                    "evaluated whole (every clip, no generated silence); for the 12-class task "
                    "words outside the ten count as _unknown_. A frame-head run (phones) is "
                    "scored on a TIMIT-layout DIR instead (frame accuracy, phone error rate, "
                    "boundary precision/recall; --split train, test or core). Unreadable clips "
                    "are reported and skipped (exit code 1).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by `tdnn train` or `tdnn recipe`")
    p.add_argument("--data-dir", type=Path, required=True,
                   help="Speech Commands-layout folder (or .tar.gz with --cache-dir)")
    p.add_argument("--out", type=Path, required=True, help="folder for the evaluation outputs")
    p.add_argument("--split", choices=sorted(set(SPLITS + FRAME_SPLITS)), default="test",
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
    if model_run.frame_head:
        return run_frames(model_run, args)
    if args.split not in SPLITS:
        raise UserError(f"--split {args.split}: a keyword run is scored on one of "
                        f"{', '.join(SPLITS)}")
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
    write_rows(args.out / "predictions.csv", ["path", "label", "predicted", "probability"], rows, errors)
    acc = metrics["accuracy"]
    print(f"{args.out}: accuracy {100 * acc:.2f}% on {metrics['n']} clips ({which})"
          if acc is not None else f"{args.out}: no readable clips")
    return 1 if errors else 0


def run_frames(model_run, args) -> int:
    """Evaluate a frame-head run on a TIMIT-layout folder and write the outputs."""
    from ..evaluate import evaluate_frames, frame_markdown
    from ..runs import write_json

    if args.split not in FRAME_SPLITS:
        raise UserError(f"--split {args.split}: a frame-head run is scored on a TIMIT-layout "
                        f"split, one of {', '.join(FRAME_SPLITS)}")
    metrics, rows, errors = evaluate_frames(model_run, args.data_dir, args.split)
    metrics.update({"run": str(args.run), "data_dir": str(args.data_dir), "split": args.split,
                    "unreadable": errors})
    write_json(metrics, args.out / "metrics.json")
    atomic_write_text(args.out / "report.md", frame_markdown(
        metrics, f"Evaluation of {args.run.name} on {args.data_dir.name} ({args.split})"))
    write_rows(args.out / "predictions.csv", ["path", "frames", "frame_accuracy"], rows, errors)
    acc = metrics["frame_accuracy"]
    print(f"{args.out}: frame accuracy {100 * acc:.2f}%, PER {100 * metrics['per']:.2f}% on "
          f"{metrics['n_utterances']} utterances" if acc is not None
          else f"{args.out}: no readable utterances")
    return 1 if errors else 0


def write_rows(path: Path, fields: list[str], rows: list[dict], errors: dict[str, str]) -> None:
    """The per-item rows as CSV (atomically), and one stderr line per unreadable item."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    for item, message in errors.items():
        print(f"skipped {printable(item)}: {printable(message)}", file=sys.stderr)
