"""`tdnn predict`: top-k keywords with probabilities for any audio files, one line per file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..atomic import printable
from ..errors import UserError


def register(subparsers) -> None:
    """Add the `predict` subcommand."""
    p = subparsers.add_parser(
        "predict", help="classify audio files with a trained run",
        description="Print one line per file: the top-k labels with probabilities. Folders are "
                    "searched for audio files (recursively). Files of any rate/channels are "
                    "resampled; clips shorter than the training clip are zero-padded, longer ones "
                    "are scored on their loudest window of that length. Unreadable files are "
                    "reported on stderr and skipped (exit code 1). In the text output, "
                    "backslashes, tabs and newlines in file names are escaped (\\\\ \\t "
                    "\\n), so every line is one file. A frame-head run (phones) labels the whole "
                    "file instead: one 'start-end label' segment per run of equal frame labels.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by `tdnn train` or `tdnn recipe`")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="audio files (WAV, FLAC, ...) or folders holding them")
    p.add_argument("--top-k", type=int, default=3, help="labels to print per file")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per line: {path, label, probability, top} "
                        "(or {path, error} for an unreadable file)")
    p.add_argument("--batch-size", type=int, default=64, help="files scored together")
    p.set_defaults(func=run)


def run(args) -> int:
    """Load the run, score the files batch by batch, print the lines."""
    from ..inference import expand_paths, predict_files
    from ..runs import load_run

    if args.top_k < 1:
        raise UserError("--top-k must be >= 1")
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    model_run = load_run(args.run)
    skipped = []
    files = expand_paths(args.paths, skipped)
    for path, why in skipped:
        print(f"tdnn predict: skipped {printable(path)}: {why}", file=sys.stderr)
    failed = 0
    for i in range(0, len(files), args.batch_size):
        for pred in predict_files(model_run, files[i:i + args.batch_size], args.top_k):
            if pred.error is not None:
                failed += 1
                print(f"tdnn predict: skipped {printable(pred.error)}", file=sys.stderr)
                if args.json:
                    print(json.dumps({"path": str(pred.path), "error": pred.error}), flush=True)
            elif pred.segments is not None:
                print(_segments_line(pred, args.json), flush=True)
            elif args.json:
                (label, prob), top = pred.top[0], pred.top
                print(json.dumps({"path": str(pred.path), "label": label, "probability": prob,
                                  "top": [{"label": lab, "probability": p} for lab, p in top]}),
                      flush=True)
            else:
                print(f"{printable(pred.path)}\t"
                      + "  ".join(f"{lab} {p:.3f}" for lab, p in pred.top),
                      flush=True)
    return 1 if failed else 0


def _segments_line(pred, as_json: bool) -> str:
    """A frame-head run's output for one file: its labelled segments, as text or JSON."""
    if as_json:
        return json.dumps({"path": str(pred.path), "segments": [
            {"start": a, "end": b, "label": lab, "probability": p}
            for a, b, lab, p in pred.segments]})
    return (f"{printable(pred.path)}\t"
            + "  ".join(f"{a:.2f}-{b:.2f} {lab}" for a, b, lab, _ in pred.segments))
