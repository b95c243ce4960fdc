"""`tdnn predict`: top-k keywords with probabilities for any audio files, one line per file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError


def register(subparsers) -> None:
    """Add the `predict` subcommand."""
    p = subparsers.add_parser(
        "predict", help="classify audio files with a trained run",
        description="Print one line per file: the top-k labels with probabilities. Files of any "
                    "rate/channels are resampled; clips shorter than the training clip are "
                    "zero-padded, longer ones are scored on their loudest window of that length. "
                    "Unreadable files are reported on stderr and skipped (exit code 1).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by `tdnn train` or `tdnn recipe`")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="audio files (WAV, FLAC, ...)")
    p.add_argument("--top-k", type=int, default=3, help="labels to print per file")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per line: {path, label, probability, top} "
                        "(or {path, error} for an unreadable file)")
    p.set_defaults(func=run)


def loudest_window(wave: np.ndarray, n: int) -> np.ndarray:
    """The `n`-sample window of highest energy, or the wave zero-padded at the end to `n`."""
    if len(wave) <= n:
        return np.pad(wave, (0, n - len(wave)))
    energy = np.concatenate([[0.0], np.cumsum(np.square(wave, dtype=np.float64))])
    start = int(np.argmax(energy[n:] - energy[:-n]))
    return wave[start:start + n]


@torch.no_grad()
def run(args) -> int:
    """Load the run, score each file, print the lines."""
    from .. import audio
    from ..runs import load_run

    if args.top_k < 1:
        raise UserError("--top-k must be >= 1")
    model_run = load_run(args.run)
    k = min(args.top_k, len(model_run.labels))
    failed = 0
    for path in args.paths:
        try:
            wave = audio.load(path, model_run.sample_rate)
        except UserError as e:
            failed += 1
            print(f"tdnn predict: skipped {e}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": str(path), "error": str(e)}), flush=True)
            continue
        clip = torch.from_numpy(loudest_window(wave, model_run.clip_samples))[None]
        probs = torch.softmax(model_run.model(model_run.frontend(clip)), dim=-1)[0]
        top = torch.topk(probs, k)
        pairs = [(model_run.labels[i], float(p)) for p, i in zip(top.values, top.indices)]
        if args.json:
            print(json.dumps({"path": str(path), "label": pairs[0][0], "probability": pairs[0][1],
                              "top": [{"label": lab, "probability": p} for lab, p in pairs]}),
                  flush=True)
        else:
            print(f"{path}\t" + "  ".join(f"{lab} {p:.3f}" for lab, p in pairs), flush=True)
    return 1 if failed else 0
