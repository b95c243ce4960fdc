"""`tdnn stream`: keyword detection over long audio (files or raw PCM on stdin), and its
evaluation on streams with a reference list (hits, false alarms per hour, DET curve)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


from ..atomic import printable
from ..errors import UserError


def register(subparsers) -> None:
    """Add the `stream` subcommand."""
    p = subparsers.add_parser(
        "stream", help="detect keywords in long audio, chunk by chunk",
        description="Feed audio to the model in chunks, keeping only the left context the "
                    "network needs, and print a line per detection (time in seconds, keyword, "
                    "probability). INPUT '-' reads raw 16-bit little-endian mono PCM at the model's "
                    "rate from stdin. With --eval DIR, score the streams listed in "
                    "DIR/reference.csv (from `tdnn prepare kws-streams`): misses at 0.5/1/10 false "
                    "alarms per hour of negative audio with exact 95% intervals, a DET curve, "
                    "and thresholds.json (per-keyword thresholds for each budget, chosen on DIR) "
                    "in --out. Choose thresholds on dev streams, then pass --thresholds to "
                    "detect with them or to score test streams with them.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by `tdnn train` or `tdnn recipe`, "
                   "or an ensemble folder (ensemble.json) of runs that score at one frame rate")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="audio files, or - for stdin PCM")
    p.add_argument("--threshold", type=float, default=0.8,
                   help="keyword probability at which a detection fires")
    p.add_argument("--thresholds", type=Path, default=None, metavar="FILE",
                   help="per-keyword thresholds from `--eval DEV --out DIR` (DIR/thresholds.json) "
                        "instead of --threshold; with --eval, also scored on the eval streams")
    p.add_argument("--fa-per-hour", type=float, default=None, metavar="RATE",
                   help="false-alarm budget (all keywords together): picks the thresholds of "
                        "--thresholds FILE; with --eval, one more budget to choose thresholds "
                        "for, and the file's default (default: the file's default; 1 with --eval)")
    p.add_argument("--refractory", type=float, default=None,
                   help="seconds after a detection during which that keyword does not fire "
                        "again (default: the thresholds file's, else 1.0)")
    p.add_argument("--patience", type=float, default=None, metavar="SECONDS",
                   help="a keyword fires only once its probability has held at or above its "
                        "threshold this long (openWakeWord's patience; fewer false alarms from "
                        "brief peaks, a later detection) (default: the thresholds file's, else 0)")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="audio per processing step")
    p.add_argument("--json", action="store_true",
                   help="print JSON lines {input, time, label, probability}")
    p.add_argument("--eval", type=Path, default=None, metavar="DIR",
                   help="evaluate on DIR/reference.csv and its stream WAVs instead")
    p.add_argument("--out", type=Path, default=None,
                   help="with --eval: folder for metrics.json, det.png and detections.csv")
    p.add_argument("--tolerance", type=float, default=1.0,
                   help="with --eval: seconds after a keyword's end a detection still hits it")
    p.add_argument("--windowed", action="store_true",
                   help="with --eval: score the baseline instead, each clip-long window of audio "
                        "every 100 ms classified as an isolated clip (costs a clip per step)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Detect in each input, or evaluate with --eval."""
    from .. import inference as inf
    from ..runs import check_report_out, load_run

    if args.chunk_ms <= 0:
        raise UserError(f"--chunk-ms {args.chunk_ms}: use a positive number of milliseconds")
    if args.fa_per_hour is not None and args.fa_per_hour <= 0:
        raise UserError(f"--fa-per-hour {args.fa_per_hour}: use a positive rate")
    if not 0.0 < args.threshold <= 1.0:
        raise UserError(f"--threshold {args.threshold}: use a probability in (0, 1]")
    if args.refractory is not None and args.refractory < 0:
        raise UserError(f"--refractory {args.refractory}: use a number of seconds >= 0")
    if args.patience is not None and args.patience < 0:
        raise UserError(f"--patience {args.patience}: use a number of seconds >= 0")
    resolve_thresholds(args)
    loaded = load_run(args.run)
    lead = loaded.lead  # an ensemble's members share its framing
    args.patience_frames = inf.patience_frames(
        args.patience, inf.score_period(lead.model, lead.frontend, args.windowed))
    inf.Detector(loaded.labels, args.decide, args.refractory)  # checks the options
    if lead.frontend.cfg.normalize != "none":
        print(f"tdnn stream: note: the model normalises per utterance "
              f"(frontend.normalize={lead.frontend.cfg.normalize}); a stream normalises each "
              "frame over the clip-long window ending at it, which costs accuracy; models "
              "trained with frontend.normalize=none stream better (docs/benchmarks.md)",
              file=sys.stderr)
    if args.eval is not None:
        if args.out is None:
            raise UserError("--eval needs --out FOLDER for metrics.json and det.png")
        check_report_out(args.out)
        return evaluate(loaded, args)
    if not args.inputs:
        raise UserError("give audio files (or - for stdin PCM) to scan, or --eval DIR")
    chunk = max(1, int(loaded.sample_rate * args.chunk_ms / 1000))
    failed = 0
    for name in args.inputs:
        try:
            scan(loaded, name, chunk, args)
        except UserError as e:
            if name == "-" or len(args.inputs) == 1:
                raise
            failed += 1
            print(f"tdnn stream: skipped {printable(e)}", file=sys.stderr)
    return 1 if failed else 0


def resolve_thresholds(args) -> None:
    """Set args.decide (a threshold or {keyword: threshold}), args.given (the file's budgets, for
    --eval), args.refractory and args.patience from --threshold, --thresholds and
    --fa-per-hour (an option given overrides the file's)."""
    from ..streams import read_thresholds

    args.given = None
    if args.thresholds is None:
        if args.fa_per_hour is not None and args.eval is None:
            raise UserError("--fa-per-hour needs --thresholds FILE (written by `tdnn stream RUN "
                            "--eval DEV --out DIR` as DIR/thresholds.json)")
        args.decide = args.threshold
        args.refractory = 1.0 if args.refractory is None else args.refractory
        args.patience = 0.0 if args.patience is None else args.patience
        return
    try:
        budgets, use, refractory, patience = read_thresholds(args.thresholds)
    except UserError as e:  # the library names the file; add the flag
        raise UserError(f"--thresholds {e}") from None
    if args.eval is None and args.fa_per_hour is not None:
        use = f"{args.fa_per_hour:g}"
        if use not in budgets:
            raise UserError(f"--fa-per-hour {use}: {args.thresholds} has thresholds for "
                            f"{', '.join(budgets)} false alarms per hour only")
    args.decide = budgets[use]
    args.given = {float(b): ths for b, ths in budgets.items()}
    args.refractory = refractory if args.refractory is None else args.refractory
    args.patience = patience if args.patience is None else args.patience


def pcm_chunks(stream, n: int):
    """float32 chunks of `n` samples from raw 16-bit little-endian PCM (last one shorter)."""
    import numpy as np

    while True:
        data = stream.read(2 * n)
        if not data:
            return
        if len(data) % 2:
            data = data[:-1]
        yield np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def scan(loaded, name: str, chunk: int, args) -> None:
    """Stream one input through the scorer and detector, printing detections as they fire."""
    from .. import audio
    from ..inference import Detector, run_scorer, softmax

    scorer = run_scorer(loaded)
    detector = Detector(loaded.labels, args.decide, args.refractory, args.patience_frames)
    if name == "-":
        chunks = pcm_chunks(sys.stdin.buffer, chunk)
    else:
        wave = audio.load(name, loaded.sample_rate)
        chunks = (wave[i:i + chunk] for i in range(0, len(wave), chunk))

    def report(times, logits):
        for d in detector(times, softmax(logits)) if len(times) else []:
            if args.json:
                print(json.dumps({"input": name, "time": round(d.time, 3), "label": d.label,
                                  "probability": round(d.score, 4)}), flush=True)
            else:
                print(f"{printable(name)}\t{d.time:.2f}\t{d.label}\t{d.score:.3f}", flush=True)

    for samples in chunks:
        report(*scorer.push(samples))
    report(*scorer.flush())


def evaluate(loaded, args) -> int:
    """Score every stream of the reference list; write metrics.json, det.png, detections.csv and
    thresholds.json (per-keyword thresholds for each budget, chosen on these streams)."""
    from .. import streams
    from ..inference import BUDGETS, evaluate_streams
    from ..runs import write_json

    default = 1.0 if args.fa_per_hour is None else args.fa_per_hour
    budgets = tuple(sorted(set(BUDGETS) | {default}))
    metrics, chosen = evaluate_streams(loaded, args.eval, args.threshold, args.refractory,
                                       args.tolerance, args.windowed, budgets, args.given,
                                       args.patience)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(metrics, args.out / "metrics.json")
    points = metrics["operating_points"]
    streams.write_thresholds(args.out / "thresholds.json",
                             {b: p["thresholds"] for b, p in points.items()}, args.refractory,
                             f"{default:g}", str(args.eval), metrics["negative_hours"],
                             args.patience)
    shown = metrics.get("given_thresholds", points)
    streams.plot_det({loaded.path.name: metrics["det"]}, args.out / "det.png",
                     title=f"{metrics['keywords']} keywords, "
                           f"{metrics['negative_hours']:.2f} h of negative audio",
                     points={f"{b}/h": (p["fa_per_hour"], p["miss_rate"]) for b, p in shown.items()})
    with open(args.out / "detections.csv", "w") as f:
        f.write("file,time,label,probability\n")
        for n in sorted(chosen):
            f.writelines(f"{n},{d.time:.3f},{d.label},{d.score:.4f}\n" for d in chosen[n])
    print(f"{args.out}: {metrics['keywords']} keywords in {metrics['streams']} streams, "
          f"{metrics['hours']:.2f} h of audio, {metrics['negative_hours']:.2f} h of it negative")
    for title, table in (("thresholds chosen on these streams", points),
                         (f"thresholds from {args.thresholds}", metrics.get("given_thresholds"))):
        if table:
            print(f"{title}:")
            for b, p in table.items():
                print("  " + describe(b, p))
    print(f"DET curve in {args.out / 'det.png'}, thresholds in {args.out / 'thresholds.json'}")
    return 0


def describe(budget: str, p: dict) -> str:
    """One line for an operating point: misses (95% intervals over keywords and over streams),
    false alarms with their 95% interval, and how late the hits come."""
    lo, hi = p["miss_ci"]
    slo, shi = p["miss_ci_streams"]
    flo, fhi = p["fa_per_hour_ci"]
    wait = p["latency_s"]
    late = (f", hits {wait['median']:.2f} s after the keyword's end (90%: within "
            f"{wait['p90']:.2f} s)" if wait else "")
    return (f"budget {budget} FA/h: misses {p['misses']}/{p['keywords']} = "
            f"{100 * p['miss_rate']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] "
            f"(over streams [{100 * slo:.1f}, {100 * shi:.1f}]), false alarms "
            f"{p['false_alarms']} = {p['fa_per_hour']:.2f}/h [{flo:.2f}, {fhi:.2f}] over "
            f"{p['negative_hours']:.2f} h{late}")
