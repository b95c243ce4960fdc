"""Do two detectors miss the same keywords? For each run, the keywords of the streams it misses
at the per-keyword thresholds chosen on these streams for `--budget` false alarms per hour (as
bench/stream_eval.py chooses them); for each pair of runs, how many keywords both miss, only one
misses, neither misses, against the count expected if their misses were independent.

    python bench/stream_shared_misses.py --streams DEV --patience 0.2 RUN_A RUN_B [RUN ...]

Writes bench/results/stream_shared_misses.json (see --out).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

from tdnn import streams
from tdnn.inference import stream_tracks
from tdnn.runs import load_run, write_json

RESULTS = Path(__file__).parent / "results"
TOLERANCE, REFRACTORY = 1.0, 1.0  # seconds, as bench/stream_eval.py


def missed(run_dir: Path, folder: Path, budget: float, patience: float) -> list[bool]:
    """Per reference event (file order, then reference order): missed at the budget's
    thresholds chosen on `folder`."""
    events, cands, durations = stream_tracks(load_run(run_dir), folder, patience=patience)
    negative_s = streams.negative_seconds(events, durations, TOLERANCE)
    ths = streams.choose_thresholds(cands, events, negative_s, budget, REFRACTORY, TOLERANCE)
    dets = streams.detections_at(cands, ths, REFRACTORY)
    out = []
    for name, evs in sorted(streams.events_by_file(events).items()):
        hit, _ = streams.assign(dets.get(name, []), evs, TOLERANCE)
        out += [h is None for h in hit]
    return out


def pair(a: list[bool], b: list[bool]) -> dict:
    """Counts of a pair's misses, and both-missed expected if independent."""
    n = len(a)
    both = sum(x and y for x, y in zip(a, b))
    return {"keywords": n, "both_missed": both,
            "only_first": sum(x and not y for x, y in zip(a, b)),
            "only_second": sum(y and not x for x, y in zip(a, b)),
            "neither": sum(not x and not y for x, y in zip(a, b)),
            "both_missed_if_independent": sum(a) * sum(b) / n}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders (two or more)")
    p.add_argument("--streams", type=Path, required=True, help="streams (thresholds chosen here)")
    p.add_argument("--budget", type=float, default=1.0, help="false alarms per hour")
    p.add_argument("--patience", type=float, default=0.0, help="seconds (tdnn stream --patience)")
    p.add_argument("--out", type=Path, default=RESULTS / "stream_shared_misses.json")
    args = p.parse_args(argv)
    if len(args.runs) < 2:
        p.error("give two or more runs")
    torch.set_num_threads(1)
    misses = {str(r): missed(r, args.streams, args.budget, args.patience) for r in args.runs}
    pairs = {f"{a} | {b}": pair(misses[a], misses[b]) for a, b in itertools.combinations(misses, 2)}
    result = {"streams": str(args.streams), "budget_fa_per_hour": args.budget,
              "patience": args.patience, "missed": {r: sum(m) for r, m in misses.items()},
              "pairs": pairs}
    write_json(result, args.out)
    for name, c in pairs.items():
        print(f"{name}: {c['keywords']} keywords; both missed {c['both_missed']} "
              f"({c['both_missed_if_independent']:.0f} if independent), only the first "
              f"{c['only_first']}, only the second {c['only_second']}, neither {c['neither']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
