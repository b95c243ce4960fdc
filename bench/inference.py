"""Inference benchmark: batch throughput and single-clip latency of the KWS TDNN (symmetric and
causal) and the 2D-CNN baseline, PyTorch eager vs ONNX Runtime, on 1 and 2 CPU threads, and the
streaming real-time factor (processing time / audio time) of the chunked detector on one thread.

    python bench/inference.py [--quick] [--out bench/results/inference.json]
    python bench/inference.py --stream-frontends   # causal kws streaming: log-mel vs pcen
    python bench/inference.py --stream-widths      # causal pcen streaming: kws vs kws_wide

Every figure includes the frontend (waveform in, logits out). Weights are random: speed does
not depend on their values. Each figure is the median of `--repeats` timed runs, after warm-up;
the machine's load average is recorded because other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tdnn import export as E
from tdnn.features import Frontend, FrontendConfig
from tdnn.inference import StreamScorer
from tdnn.models import ModelConfig, build_model, summary

MODELS = {"kws": ModelConfig(preset="kws"), "kws-causal": ModelConfig(preset="kws", causal=True),
          "cnn2d": ModelConfig(preset="cnn2d")}
N_CLASSES = 12
CLIP = 16000
RTF_TARGET = 0.01


def timed(fn, repeats: int, number: int = 1) -> float:
    """Median seconds per call of `fn` over `repeats` runs of `number` calls (after one warm-up)."""
    fn()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t) / number)
    return statistics.median(runs)


def bench_clips(model, frontend, onnx_path: Path, threads: int, batch: int, repeats: int) -> dict:
    """Throughput (clips/s) at `batch` and latency (ms) at batch 1, eager and ONNX Runtime."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    waves = (0.1 * rng.standard_normal((batch, CLIP))).astype(np.float32)
    one = waves[:1]
    session = E.onnx_session(onnx_path, threads)
    out = {}
    with torch.inference_mode():
        def eager(x):
            return lambda: model(frontend(torch.from_numpy(x)))
        out["eager_clips_per_s"] = batch / timed(eager(waves), repeats)
        out["eager_latency_ms"] = 1000 * timed(eager(one), repeats, number=20)
    out["onnx_clips_per_s"] = batch / timed(lambda: E.onnx_run(session, waves), repeats)
    out["onnx_latency_ms"] = 1000 * timed(lambda: E.onnx_run(session, one), repeats, number=20)
    return out


def bench_stream(model, frontend, seconds: float, chunk_ms: float, repeats: int) -> dict:
    """Real-time factor of StreamScorer on one thread over `seconds` of audio in chunks:
    wall-clock and CPU time (the CPU figure is what one core costs when other processes
    compete for the cores; wall time then includes waiting for a core)."""
    torch.set_num_threads(1)
    wave = (0.1 * np.random.default_rng(1).standard_normal(int(seconds * 16000))).astype(np.float32)
    chunk = int(16000 * chunk_ms / 1000)

    def run():
        scorer = StreamScorer(model, frontend, CLIP)
        for i in range(0, len(wave), chunk):
            scorer.push(wave[i:i + chunk])
        scorer.flush()

    cpu = []

    def run_cpu():
        t = time.process_time()
        run()
        cpu.append(time.process_time() - t)

    rtf = timed(run_cpu, repeats) / seconds
    cpu_rtf = statistics.median(cpu[1:]) / seconds
    look_ms = summary(model, frontend.dim, frontend.frame_rate)["lookahead_ms"]
    half_window_ms = 1000 * (frontend.n_fft // 2) / 16000
    # worst case from a sound to its score: fill the chunk, wait for look-ahead, compute
    latency = chunk_ms + look_ms + half_window_ms + rtf * chunk_ms
    return {"chunk_ms": chunk_ms, "rtf": rtf, "cpu_rtf": cpu_rtf, "ms_per_chunk": rtf * chunk_ms,
            "lookahead_ms": look_ms, "worst_latency_ms": latency}


STREAM_FRONTENDS = {"logmel": ("logmel", "kws"), "pcen": ("pcen", "kws")}
STREAM_WIDTHS = {"kws": ("pcen", "kws"), "kws_wide": ("pcen", "kws_wide")}


def stream_compare(variants: dict[str, tuple[str, str]], seconds: float, repeats: int,
                   out: Path, command: str) -> int:
    """Streaming RTF of causal detectors, each (frontend kind, model preset), measured side by
    side in one run: `--stream-frontends` (log-mel vs pcen, which adds a recurrent filter per
    chunk) and `--stream-widths` (the 64- vs 128-wide TDNN on pcen)."""
    results = {"command": command, "torch": torch.__version__,
               "load_average_start": os.getloadavg()[0], "stream_seconds": seconds,
               "repeats": max(2, repeats // 2), "params": {}, "frontends": {}}
    for name, (kind, preset) in variants.items():
        frontend = Frontend(FrontendConfig(kind=kind)).eval()
        torch.manual_seed(0)
        model = build_model(ModelConfig(preset=preset, causal=True), frontend.dim,
                            N_CLASSES).eval()
        results["frontends"][name] = [bench_stream(model, frontend, seconds, chunk_ms,
                                                   results["repeats"]) for chunk_ms in (100.0, 250.0)]
        results["params"][name] = summary(model, frontend.dim)["params"]
    results["load_average_end"] = os.getloadavg()[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| variant | chunk ms | RTF wall | RTF CPU |\n|---|---:|---:|---:|")
    for name, rows in results["frontends"].items():
        for r in rows:
            print(f"| {name} | {r['chunk_ms']:.0f} | {r['rtf']:.4f} | {r['cpu_rtf']:.4f} |")
    print(f"\nwrote {out}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None,
                   help="default bench/results/inference.json (with --stream-frontends or "
                        "--stream-widths: bench/results/inference_stream_<frontends|widths>.json)")
    p.add_argument("--batch", type=int, default=64, help="clips per batch for throughput")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per figure (median)")
    p.add_argument("--stream-seconds", type=float, default=30.0, help="audio per streaming run")
    p.add_argument("--quick", action="store_true", help="fewer repeats, shorter audio (smoke run)")
    p.add_argument("--stream-frontends", action="store_true",
                   help="only the causal kws detector's streaming RTF, log-mel vs pcen")
    p.add_argument("--stream-widths", action="store_true",
                   help="only the causal pcen detector's streaming RTF, kws vs kws_wide")
    args = p.parse_args(argv)
    results_dir = Path(__file__).parent / "results"
    for flag, variants in (("frontends", STREAM_FRONTENDS), ("widths", STREAM_WIDTHS)):
        if getattr(args, f"stream_{flag}"):
            out = args.out or results_dir / f"inference_stream_{flag}.json"
            return stream_compare(variants, args.stream_seconds, args.repeats, out,
                                  f"python bench/inference.py --stream-{flag}")
    args.out = args.out or results_dir / "inference.json"
    if args.quick:
        args.repeats, args.stream_seconds, args.batch = 2, 5.0, 16
    frontend = Frontend(FrontendConfig()).eval()
    results = {"command": "python bench/inference.py" + (" --quick" if args.quick else ""),
               "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__,
               "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "load_average_start": os.getloadavg()[0], "batch": args.batch,
               "repeats": args.repeats, "clip_seconds": CLIP / 16000, "models": {}}
    tmp = Path(tempfile.mkdtemp(prefix="tdnn-bench-"))
    rows = []
    for name, cfg in MODELS.items():
        torch.manual_seed(0)
        model = build_model(cfg, frontend.dim, N_CLASSES).eval()
        info = summary(model, frontend.dim, frontend.frame_rate)
        onnx_path = E.export_onnx(model, frontend, tmp / f"{name}.onnx")
        entry = {"params": info["params"], "macs_per_second": info["macs_per_second"],
                 "lookahead_ms": info["lookahead_ms"], "threads": {}, "stream": []}
        for threads in (1, 2):
            entry["threads"][threads] = r = bench_clips(model, frontend, onnx_path, threads,
                                                        args.batch, args.repeats)
            rows.append((name, threads, r))
        for chunk_ms in (100.0, 250.0):
            entry["stream"].append(bench_stream(model, frontend, args.stream_seconds, chunk_ms,
                                                max(2, args.repeats // 2)))
        # re-scoring a whole clip window at every 10 ms hop, for comparison
        entry["sliding_window_rtf"] = entry["threads"][1]["eager_latency_ms"] / 10.0
        results["models"][name] = entry
    results["load_average_end"] = os.getloadavg()[0]
    results["stream_rtf_target"] = RTF_TARGET
    kws = results["models"]["kws"]["stream"][0]
    results["kws_stream_rtf_meets_target"] = {"wall": kws["rtf"] <= RTF_TARGET,
                                              "cpu": kws["cpu_rtf"] <= RTF_TARGET}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results, rows)
    print(f"\nwrote {args.out}")
    return 0


def print_tables(results: dict, rows: list) -> None:
    """Markdown tables of the clip and streaming figures."""
    print(f"load average {results['load_average_start']:.1f} -> {results['load_average_end']:.1f}"
          f" on {results['cores']} cores; batch {results['batch']}, median of {results['repeats']}")
    print("\n| model | params | threads | eager clips/s | ONNX clips/s | eager latency ms | "
          "ONNX latency ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, threads, r in rows:
        m = results["models"][name]
        print(f"| {name} | {m['params']:,} | {threads} | {r['eager_clips_per_s']:.0f} | "
              f"{r['onnx_clips_per_s']:.0f} | {r['eager_latency_ms']:.2f} | "
              f"{r['onnx_latency_ms']:.2f} |")
    print("\n| model | chunk ms | streaming RTF wall | streaming RTF CPU | look-ahead ms | "
          "worst latency ms | sliding-window RTF |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, m in results["models"].items():
        for s in m["stream"]:
            print(f"| {name} | {s['chunk_ms']:.0f} | {s['rtf']:.4f} | {s['cpu_rtf']:.4f} | "
                  f"{s['lookahead_ms']:.0f} | {s['worst_latency_ms']:.0f} | "
                  f"{m['sliding_window_rtf']:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
