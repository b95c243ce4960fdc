"""Keyword spotting on long streams for several trained runs: per-keyword thresholds chosen on
dev streams for 0.5 / 1 / 10 false alarms per hour, then the test streams scored once with
those thresholds; misses with Clopper-Pearson 95% intervals, false alarms per hour of negative
audio with exact Poisson intervals, and one DET plot (operating points marked).

    tdnn prepare kws-streams --out DEV --voices dev --seed 0
    tdnn prepare kws-streams --out TEST --voices test --seed 1
    python bench/stream_eval.py --dev DEV --test TEST RUN [RUN ...]

With --verify CLIP_RUN --gate G each run is a first stage: its detections at the shared
threshold G are re-scored by the clip run (`tdnn.verify`), and thresholds chosen on those scores.

Writes bench/results/stream.json and its DET plot beside it, stream_det.png (--out; --plot
puts the plot elsewhere; by default it is named after --out, so a run never overwrites the
plot of another file).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import torch

from tdnn.errors import UserError
from tdnn.inference import BUDGETS, evaluate_streams
from tdnn.runs import load_run
from tdnn.streams import THRESHOLDS, plot_det
from tdnn.verify import SecondStage

RESULTS = Path(__file__).parent / "results"


def pct(p: dict) -> str:
    """Miss rate of an operating point with its interval, e.g. '12.0% [9.1, 15.5]'."""
    lo, hi = p["miss_ci"]
    return f"{100 * p['miss_rate']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def rate(p: dict) -> str:
    """False alarms per hour of an operating point with its interval."""
    lo, hi = p["fa_per_hour_ci"]
    return f"{p['fa_per_hour']:.2f} [{lo:.2f}, {hi:.2f}]"


def row(name: str, split: str, m: dict, points: dict) -> str:
    """One markdown table row: misses and false alarms at each budget."""
    cells = [f"{pct(points[f'{b:g}'])} / {rate(points[f'{b:g}'])}" for b in BUDGETS]
    return (f"| {name} | {split} | {m['negative_hours']:.2f} | {m['keywords']} | "
            + " | ".join(cells) + " |")


def voices(folder: Path) -> str:
    """The voice set a streams folder was built with (its manifest's `voices` column)."""
    with open(folder / "manifest.csv") as f:
        return ",".join(sorted({r["voices"] for r in csv.DictReader(f)}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders to compare")
    p.add_argument("--dev", type=Path, required=True, help="dev streams (thresholds chosen here)")
    p.add_argument("--test", type=Path, default=None, help="test streams (scored once)")
    p.add_argument("--refractory", type=float, default=1.0, help="seconds, per keyword")
    p.add_argument("--tolerance", type=float, default=1.0, help="seconds after a word's end")
    p.add_argument("--patience", type=float, default=0.0,
                   help="seconds a keyword must hold its threshold before it fires")
    p.add_argument("--verify", type=Path, default=None, metavar="RUN",
                   help="a clip run that re-scores each detection at --gate (tdnn.verify)")
    p.add_argument("--gate", type=float, default=0.5,
                   help="with --verify: the first stage's shared threshold")
    p.add_argument("--out", type=Path, default=RESULTS / "stream.json")
    p.add_argument("--plot", type=Path, default=None, help="DET plot (default: OUT_det.png, "
                   "beside --out, with .json dropped)")
    args = p.parse_args(argv)
    args.plot = args.plot or args.out.with_name(args.out.stem + "_det.png")
    try:
        second = (SecondStage(load_run(args.verify), args.gate, args.refractory) if args.verify
                  else None)
    except UserError as e:
        p.error(str(e))
    torch.set_num_threads(1)
    results = {"command": " ".join(["python bench/stream_eval.py", *sys.argv[1:]]),
               "dev": str(args.dev), "test": str(args.test) if args.test else None,
               "test_voices": voices(args.test) if args.test else None,
               "budgets_fa_per_hour": list(BUDGETS), "patience": args.patience,
               **({"verify": str(args.verify), "gate": args.gate} if second else {}),
               # widest step of the thresholds tried (files without this key: 0.02)
               "threshold_grid_step": float(round(max(THRESHOLDS[1:] - THRESHOLDS[:-1]), 9)),
               "runs": {}}
    curves, marks = {}, {}
    print("| run | streams | negative h | keywords | "
          + " | ".join(f"miss / FA/h @ {b:g} FA/h" for b in BUDGETS) + " |")
    print("|---|---|---:|---:|" + "---|" * len(BUDGETS))
    for run_dir in args.runs:
        run = load_run(run_dir)
        dev, _ = evaluate_streams(run, args.dev, 0.8, args.refractory, args.tolerance,
                                  patience=args.patience, second=second)
        entry = {"dev": dev}
        curves[f"{run_dir.name} dev"] = dev["det"]
        print(row(run_dir.name, "dev (thresholds chosen here)", dev, dev["operating_points"]))
        if args.test is not None:
            given = {b: pt["thresholds"] for b, pt in dev["operating_points"].items()}
            test, _ = evaluate_streams(run, args.test, 0.8, args.refractory, args.tolerance,
                                       given=given, patience=args.patience,
                                       second=second)
            entry["test"] = test
            curves[f"{run_dir.name} test"] = test["det"]
            for b, pt in test["given_thresholds"].items():
                marks[f"{run_dir.name} {b}/h"] = (pt["fa_per_hour"], pt["miss_rate"])
            print(row(run_dir.name, "test (dev thresholds)", test, test["given_thresholds"]))
        results["runs"][run_dir.name] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    plot_det(curves, args.plot, title="DET on keyword streams (o: test, dev thresholds)",
             points=marks)
    print(f"\nwrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
