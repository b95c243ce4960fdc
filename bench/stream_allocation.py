"""How well per-keyword thresholds chosen on streams carry to other streams, for two ways of
sharing a false-alarm budget among the keywords: an equal share each (`choose_thresholds`, what
`tdnn stream --eval` writes) or the budget pooled (`pooled_thresholds`, the most hits on the
streams it is chosen on). Two-fold: thresholds chosen on half the streams (every other keyword
stream and every other negative stream) are scored on the other half and the counts of both
halves added; beside it, chosen and scored on all the streams (what a dev table reports).

    python bench/stream_allocation.py --streams DEV RUN [RUN ...]

Writes bench/results/stream_allocation.json (see --out).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import torch

from tdnn import streams
from tdnn.inference import stream_tracks
from tdnn.runs import load_run

RESULTS = Path(__file__).parent / "results"
RULES = {"equal": streams.choose_thresholds, "pooled": streams.pooled_thresholds}
BUDGETS = (1.0, 10.0, 100.0)


def halves(folder: Path, files: list[str]) -> tuple[list[str], list[str]]:
    """Every other keyword stream and every other negative stream, and the rest."""
    kinds = {r["file"]: r["kind"] for r in csv.DictReader(open(folder / "manifest.csv"))}
    a, b = [], []
    for kind in ("keyword", "negative"):
        of_kind = sorted(f for f in files if kinds[f] == kind)
        a += of_kind[0::2]
        b += of_kind[1::2]
    return a, b


def part(tracks: tuple, files: list[str]) -> tuple:
    """(candidates, events, negative seconds) of some of the streams: a rule's arguments."""
    events, cands, durations = tracks
    keep = set(files)
    ev = [e for e in events if e.file in keep]
    return {f: cands[f] for f in keep}, ev, streams.negative_seconds(
        ev, {f: durations[f] for f in keep})


def scored(tracks: tuple, files: list[str], thresholds: dict[str, float]) -> streams.Score:
    """Hits, misses and false alarms of these thresholds on some of the streams."""
    cands, ev, neg = part(tracks, files)
    return streams.score(streams.detections_at(cands, thresholds, 1.0), ev, neg)


def carried(tracks: tuple, a: list[str], b: list[str], rule, budget: float) -> dict:
    """Misses and false alarms per hour when thresholds chosen on one half score the other."""
    hits = keywords = fas = 0
    negative = 0.0  # hours
    for chosen_on, scored_on in ((a, b), (b, a)):
        s = scored(tracks, scored_on, rule(*part(tracks, chosen_on), budget))
        hits, keywords = hits + s.hits, keywords + s.hits + s.misses
        fas, negative = fas + s.false_alarms, negative + s.hours
    return {"miss_rate": 1 - hits / keywords, "fa_per_hour": fas / negative,
            "false_alarms": fas, "negative_hours": negative}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders")
    p.add_argument("--streams", type=Path, required=True, help="dev streams (kws-streams)")
    p.add_argument("--out", type=Path, default=RESULTS / "stream_allocation.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = {"command": " ".join(["python bench/stream_allocation.py", *sys.argv[1:]]),
               "streams": str(args.streams), "runs": {}}
    print("| run | budget FA/h | rule | two-fold: misses / FA/h | all streams: misses / FA/h |")
    print("|---|---:|---|---:|---:|")
    for run_dir in args.runs:
        tracks = stream_tracks(load_run(run_dir), args.streams, False)
        a, b = halves(args.streams, sorted(tracks[1]))
        entry = {}
        for budget in BUDGETS:
            for name, rule in RULES.items():
                s = scored(tracks, a + b, rule(*part(tracks, a + b), budget))
                two = carried(tracks, a, b, rule, budget)
                entry[f"{name}@{budget:g}"] = {"two_fold": two, "all": {
                    "miss_rate": s.miss_rate, "fa_per_hour": s.fa_per_hour}}
                print(f"| {run_dir.name} | {budget:g} | {name} | {100 * two['miss_rate']:.1f}% / "
                      f"{two['fa_per_hour']:.2f} | {100 * s.miss_rate:.1f}% / "
                      f"{s.fa_per_hour:.2f} |", flush=True)
        results["runs"][run_dir.name] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
