"""Keyword spotting on long synthetic streams for several trained runs: hits and false alarms per
hour at a threshold, miss rates at fixed false-alarm rates, and one DET plot with every run.
Each run is scored twice: 'stream' (the chunked detector: trunk run once over the stream, head
over the last clip-long window) and 'window' (baseline: each clip-long window of audio every
100 ms classified as an isolated training clip).

    python -m data_prep.synth_streams --corpus DATA --out STREAMS
    python bench/stream_eval.py --streams STREAMS RUN [RUN ...]

Writes bench/results/stream.json and bench/results/stream_det.png (see --out, --plot).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from tdnn.inference import evaluate_streams
from tdnn.models import summary
from tdnn.runs import load_run
from tdnn.streams import plot_det

RESULTS = Path(__file__).parent / "results"


def miss_at(det: dict, fa_per_hour: float) -> float | None:
    """Lowest miss rate over the thresholds whose false alarms per hour are <= `fa_per_hour`."""
    ok = [m for m, f in zip(det["miss_rate"], det["fa_per_hour"]) if f <= fa_per_hour]
    return min(ok) if ok else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders to compare")
    p.add_argument("--streams", type=Path, required=True, help="folder with reference.csv")
    p.add_argument("--threshold", type=float, default=0.8, help="operating threshold")
    p.add_argument("--refractory", type=float, default=1.0, help="seconds, per keyword")
    p.add_argument("--tolerance", type=float, default=1.0, help="seconds after a word's end")
    p.add_argument("--out", type=Path, default=RESULTS / "stream.json")
    p.add_argument("--plot", type=Path, default=RESULTS / "stream_det.png")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results, curves = {"command": " ".join(["python bench/stream_eval.py", *sys.argv[1:]]),
                       "streams": str(args.streams), "runs": {}}, {}
    print("| run | scoring | causal | look-ahead ms | val acc | hits | FA/h | miss @ 100 FA/h | "
          "miss @ 10 FA/h | miss @ 1 FA/h |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for run_dir, windowed in ((r, w) for r in args.runs for w in (False, True)):
        run = load_run(run_dir)
        metrics, _ = evaluate_streams(run, args.streams, args.threshold, args.refractory,
                                      args.tolerance, windowed)
        info = summary(run.model, run.frontend.dim, run.frontend.frame_rate)
        best = json.loads((run_dir / "metrics.json").read_text()).get("best") or {}
        mode = "window" if windowed else "stream"
        row = {"scoring": mode, "causal": run.model.config.causal,
               "lookahead_ms": info["lookahead_ms"], "val_accuracy": best.get("val_accuracy"),
               **metrics, "miss_at_100_fa_per_hour": miss_at(metrics["det"], 100.0),
               "miss_at_10_fa_per_hour": miss_at(metrics["det"], 10.0),
               "miss_at_1_fa_per_hour": miss_at(metrics["det"], 1.0)}
        name = f"{run_dir.name} ({mode})"
        results["runs"][name] = row
        curves[name] = metrics["det"]

        def pct(x):
            return "-" if x is None else f"{100 * x:.1f}%"
        print(f"| {run_dir.name} | {mode} | {row['causal']} | {row['lookahead_ms']:.0f} | "
              f"{pct(row['val_accuracy'])} | {row['hits']}/{row['keywords']} | "
              f"{row['fa_per_hour']:.1f} | {pct(row['miss_at_100_fa_per_hour'])} | "
              f"{pct(row['miss_at_10_fa_per_hour'])} | "
              f"{pct(row['miss_at_1_fa_per_hour'])} |")
    hours = next(iter(results["runs"].values()))["hours"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    plot_det(curves, args.plot, title=f"{hours * 60:.0f} min of streams, "
                                      f"{next(iter(results['runs'].values()))['keywords']} keywords")
    print(f"\nwrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
