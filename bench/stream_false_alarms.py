"""What a detector's false alarms on streams fired on: each false alarm is put down to what was
said where it fired -- another keyword (inside that keyword's window `[start, end +
tolerance]`), a look-alike word (its span from the stream's sidecar, `tdnn prepare kws-streams`
marks the ones eSpeak said and those another engine said, spliced or in Kokoro's whole
utterances, told apart) or neither (sentences, carrier words, noise). Two sets per run: the
false alarms at the per-keyword thresholds chosen on these streams for `--budget` FA/h, and the
ones that set each keyword's threshold for 1 FA/h (those at the next lower grid threshold),
which decide the misses at 1 FA/h.

    python bench/stream_false_alarms.py --streams DEV --patience 0.2 RUN [RUN ...]

Writes bench/results/stream_false_alarms.json (see --out).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from data_prep.words import HARD_NEGATIVES
from tdnn import streams
from tdnn.inference import stream_tracks
from tdnn.runs import load_run

RESULTS = Path(__file__).parent / "results"
TOLERANCE = 1.0  # seconds after a word's end that still count as on it (as stream_eval.py)


def lookalike_spans(folder: Path
                    ) -> tuple[dict[str, list[tuple[str, float, float, bool]]], float]:
    """Per stream file, (word, start, end, spliced) of the look-alike words its sidecar marks
    (spliced: another engine said it, `--lookalike-clips` or `--kokoro-share`); and the
    seconds of all the streams."""
    spans, seconds = {}, 0.0
    for path in sorted(folder.glob("stream_*.json")):
        side = json.loads(path.read_text())
        if "lookalikes" not in side:
            raise SystemExit(f"{path}: no look-alike spans; rebuild the streams with this "
                             "version of `tdnn prepare kws-streams`")
        other = {tuple(x) for x in side.get("spliced", [])}
        spans[path.with_suffix(".wav").name] = [(*x, tuple(x) in other)
                                                for x in side["lookalikes"]]
        seconds += side["seconds"]
    return spans, seconds


def lookalike_cover(spans: dict, seconds: float, tolerance: float) -> dict:
    """How many look-alikes (and how many another engine said), their seconds, and the share
    of the audio their windows `[start, end + tolerance]` cover (overlaps counted twice)."""
    said = [end - start for words in spans.values() for _, start, end, _ in words]
    return {"words": len(said), "spliced": sum(x[3] for ws in spans.values() for x in ws),
            "seconds": sum(said), "window_share": (sum(said) + tolerance * len(said)) / seconds}


def said_at(fa: streams.Detection, events: list[streams.Event], lookalikes: list,
            tolerance: float) -> tuple[str, str]:
    """(kind, word) of what was said where a false alarm fired: 'keyword', 'same keyword'
    (a second detection of a word already found), 'look-alike' (eSpeak's), 'spliced look-alike'
    (another engine's) or 'other'."""
    for e in events:
        if e.start <= fa.time <= e.end + tolerance:
            return ("same keyword" if e.label == fa.label else "keyword"), e.label
    for word, start, end, spliced in lookalikes:
        if start <= fa.time <= end + tolerance:
            return ("spliced look-alike" if spliced else "look-alike"), word
    return "other", ""


def false_alarms(cands, events, thresholds: dict[str, float], refractory: float,
                 tolerance: float) -> list[tuple[str, streams.Detection]]:
    """(stream file, detection) of each false alarm at per-keyword `thresholds`."""
    by_file = streams.events_by_file(events)
    out = []
    for name, dets in streams.detections_at(cands, thresholds, refractory).items():
        out += [(name, d) for d in streams.assign(dets, by_file.get(name, []), tolerance)[1]]
    return out


def summarise(fas: list, events: list[streams.Event], spans: dict, tolerance: float) -> dict:
    """Counts of what the false alarms fired on, with the words of each kind."""
    by_file = streams.events_by_file(events)
    said = [(d.label, *said_at(d, by_file.get(name, []), spans.get(name, []), tolerance))
            for name, d in fas]
    own = sum(kind.endswith("look-alike") and word in HARD_NEGATIVES[label]
              for label, kind, word in said)
    return {"false_alarms": len(said), "by_kind": dict(Counter(k for _, k, _ in said)),
            "lookalike_of_the_detected_keyword": own,
            "detected_on": dict(Counter(f"{label}<-{word or kind}" for label, kind, word in said
                                        ).most_common(15))}


def analyse(run, folder: Path, patience: float, budget: float, refractory: float = 1.0,
            tolerance: float = TOLERANCE) -> dict:
    """False alarms at `budget` and the ones that set each keyword's 1 FA/h threshold."""
    spans, _ = lookalike_spans(folder)
    events, cands, durations = stream_tracks(run, folder, patience=patience)
    negative_s = streams.negative_seconds(events, durations, tolerance)
    at_budget = streams.choose_thresholds(cands, events, negative_s, budget, refractory, tolerance)
    at_one = streams.choose_thresholds(cands, events, negative_s, 1.0, refractory, tolerance)
    grid = streams.THRESHOLDS
    below = {lab: float(grid[max(0, int(np.searchsorted(grid, th)) - 1)])
             for lab, th in at_one.items()}
    setters = false_alarms(cands, events, below, refractory, tolerance)
    return {"negative_hours": negative_s / 3600.0, "thresholds_1": at_one,
            f"at_{budget:g}_fa_per_hour": summarise(
                false_alarms(cands, events, at_budget, refractory, tolerance), events, spans,
                tolerance),
            "setting_the_1_fa_per_hour_thresholds": summarise(setters, events, spans, tolerance)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--streams", type=Path, required=True,
                   help="streams whose sidecars mark the look-alike words")
    p.add_argument("--patience", type=float, default=0.0, help="seconds (as stream_eval.py)")
    p.add_argument("--budget", type=float, default=10.0, help="false alarms per hour")
    p.add_argument("--out", type=Path, default=RESULTS / "stream_false_alarms.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = {"command": " ".join(["python bench/stream_false_alarms.py", *sys.argv[1:]]),
               "streams": str(args.streams), "patience": args.patience,
               "lookalikes": lookalike_cover(*lookalike_spans(args.streams), TOLERANCE),
               "runs": {}}
    for run_dir in args.runs:
        results["runs"][run_dir.name] = r = analyse(load_run(run_dir), args.streams,
                                                    args.patience, args.budget)
        print(run_dir.name, json.dumps({k: v for k, v in r.items() if k != "thresholds_1"}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
