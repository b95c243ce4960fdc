"""The tables of docs/benchmarks.md, rendered from the committed JSON in bench/results/.

    python bench/tables.py            # rewrite the tables between the doc's bench markers
    python bench/tables.py --check    # exit 1 if the doc's tables differ from the JSON

Each table sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in the doc, so every
figure in it comes from one results file and a test (tests/test_bench_tables.py) keeps the two
equal.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"


def _load(name: str) -> dict:
    """One results file of bench/results."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; `align` holds '---' or '---:' per column."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def frontend_clips() -> str:
    """In-memory clips: rates and ratios to librosa (bench/frontend.py)."""
    rows = [[r["method"].replace("tdnn ", "tdnn `", 1).replace(" (", "` (", 1)
             if r["method"].startswith("tdnn ") else r["method"],
             f"{r['clips_per_s']:.0f}", f"{r['vs_librosa']:.2f}", f"{r['clips_per_cpu_s']:.0f}",
             f"{r['vs_librosa_cpu']:.2f}"] for r in _load("frontend")["clips"]]
    return _table(["method", "clips/s", "× librosa", "clips/CPU-s", "× librosa"],
                  ["---", "---:", "---:", "---:", "---:"], rows)


def frontend_files() -> str:
    """WAV files end to end (bench/frontend.py)."""
    rows = [[r["method"], f"{r['files_per_s']:.0f}", f"{r['vs_librosa']:.2f}",
             f"{r['files_per_cpu_s']:.0f}", f"{r['vs_librosa_cpu']:.2f}"]
            for r in _load("frontend")["files"]]
    return _table(["method", "files/s", "× librosa", "files/CPU-s", "× librosa"],
                  ["---", "---:", "---:", "---:", "---:"], rows)


def inference_throughput() -> str:
    """Eager and ONNX throughput and latency per model and thread count (bench/inference.py)."""
    rows = []
    for name, m in _load("inference")["models"].items():
        for i, (threads, t) in enumerate(m["threads"].items()):
            rows.append([name, f"{m['params']:,}" if not i else "",
                         f"{m['macs_per_second'] / 1e6:.1f} M" if not i else "", threads,
                         f"{t['eager_clips_per_s']:.0f}", f"{t['onnx_clips_per_s']:.0f}",
                         f"{t['eager_latency_ms']:.2f}", f"{t['onnx_latency_ms']:.2f}"])
    return _table(["model", "params", "MACs per s of audio", "threads", "eager clips/s",
                   "ONNX clips/s", "eager latency ms", "ONNX latency ms"],
                  ["---"] + ["---:"] * 7, rows)


def inference_stream() -> str:
    """Streaming real-time factors and latencies per model and chunk (bench/inference.py)."""
    rows = [[name, f"{s['chunk_ms']:.0f}", f"{s['rtf']:.4f}", f"{s['cpu_rtf']:.4f}",
             f"{s['lookahead_ms']:.0f}", f"{s['worst_latency_ms']:.0f}",
             f"{m['sliding_window_rtf']:.3f}"]
            for name, m in _load("inference")["models"].items() for s in m["stream"]]
    return _table(["model", "chunk ms", "RTF wall", "RTF CPU", "look-ahead ms",
                   "worst latency ms", "sliding-window RTF"], ["---"] + ["---:"] * 6, rows)


def inference_versions() -> str:
    """The library versions the inference figures were measured with."""
    d = _load("inference")
    return f"torch {d['torch']}, ONNX Runtime {d['onnxruntime']}"


def embedding_costs() -> str:
    """Per-clip costs of the speech_embedding arm's stages (bench/embedding.py)."""
    ms = _load("embedding")["ms_per_clip"]
    names = {"logmel_frontend": "log-mel frontend",
             "embedding_frontend": "speech_embedding frontend (`melspectrogram.onnx` + "
                                   "`embedding_model.onnx`)",
             "augmentation": "waveform augmentation (recipe settings, no VTLP)",
             "logmel_tdnn_step": "training step, recipe log-mel TDNN (87k parameters)",
             "embed_tdnn_step": "training step, `kws_embed` TDNN (55k) on 13 x 96 frames"}
    return _table(["per 1 s clip", "ms"], ["---", "---:"],
                  [[names[k], f"{v:.2f}"] for k, v in ms.items()])


def train_stages() -> str:
    """Clips/s of each training stage, per clip (bench/train.py)."""
    rows = [[r["stage"], f"{r['clips_per_s']:.0f}", f"{r['ms_per_clip']:.2f}",
             f"{r['cpu_ms_per_clip']:.2f}"] for r in _load("train")["stages"]]
    return _table(["stage", "clips/s (wall)", "ms/clip (wall)", "CPU ms/clip"],
                  ["---", "---:", "---:", "---:"], rows)


def train_ratios() -> str:
    """Augmentation cost over the model step, per clip (bench/train.py)."""
    rows = [[name, f"{r['wall']:.2f}", f"{r['cpu']:.2f}"]
            for name, r in _load("train")["augmentation_over_model_step"].items()]
    return _table(["augmentation", "÷ model step (wall)", "÷ model step (CPU)"],
                  ["---", "---:", "---:"], rows)


def _point(p: dict) -> str:
    """Misses [95% interval over keywords] (streams: [interval over streams], where the JSON has
    it); false alarms per hour [95% interval] of one operating point."""
    (mlo, mhi), (flo, fhi) = p["miss_ci"], p["fa_per_hour_ci"]
    streams = ""
    if "miss_ci_streams" in p:
        slo, shi = p["miss_ci_streams"]
        streams = f" (streams: [{100 * slo:.1f}, {100 * shi:.1f}])"
    return (f"{100 * p['miss_rate']:.1f}% [{100 * mlo:.1f}, {100 * mhi:.1f}]{streams}; "
            f"{p['fa_per_hour']:.2f}/h [{flo:.2f}, {fhi:.2f}]")


def _det_miss(det: dict, fa_per_hour: float) -> str:
    """Best miss rate of one shared threshold with at most `fa_per_hour` false alarms per hour."""
    ok = [m for m, f in zip(det["miss_rate"], det["fa_per_hour"]) if f <= fa_per_hour]
    return f"{100 * min(ok):.1f}%" if ok else "—"


# The runs chosen on dev on 2026-12-07 (three training sets, 0.2 s patience): dev and test files.
X3_PATIENCE = {"ft16x3s0_window_ce_pcen": "clips + three times the streams, window_ce, 16 ep., "
                                          "pcen frontend, patience 0.2 s",
               "ft16x3s1_window_ce_pcen": "clips + three times the streams, window_ce, 16 ep., "
                                          "seed 1, pcen frontend, patience 0.2 s"}


def _fire(at: str, span: str) -> dict:
    """Labels of the X3_PATIENCE runs retrained with `data.fire` = span (ft16x3f<at>s<seed>)."""
    return {f"ft16x3f{at}s{seed}_window_ce_pcen": label.replace(
                "window_ce,", f"window_ce firing {span} s after the keyword,")
            for seed, label in enumerate(X3_PATIENCE.values())}


def _beside(kind: str, what: str, beside: str) -> dict:
    """Labels of the 0.15-0.65 s runs retrained `beside` a variant, and of the variant
    `ft16x3f15s<seed>_<kind>_...` (the same run with `what`)."""
    fired = _fire("15", "0.15-0.65")
    return ({run: f"{label}, {beside}" for run, label in fired.items()}
            | {run.replace("_window", f"_{kind}_window"): f"{label}, {what}"
               for run, label in fired.items()})


def _seed2(labels: dict) -> dict:
    """The seed-1 entries of `labels` as seed 2 (runs `...s2_...`, labels 'seed 2')."""
    return {run.replace("s1_", "s2_"): label.replace("seed 1", "seed 2")
            for run, label in labels.items() if "s1_" in run}


def _spliced(kind: str, which: str, words: str = "keywords") -> dict:
    """Labels of the 0.15-0.65 s runs whose training sets `which` splice in Kokoro `words`
    (`ft16x3f15s<seed>_<kind>_...`, `tdnn prepare kws-streams --keyword-clips`)."""
    return {run.replace("_window", f"_{kind}_window"): label.replace(
                "three times the streams", f"three times the streams ({which} with Kokoro "
                f"{words})") for run, label in _fire("15", "0.15-0.65").items()}


def _averaged(kind: str, epochs: str) -> dict:
    """Labels of the 0.15-0.65 s runs trained beside their weight averages (`tdnn average`):
    each seed's model.pt, and `ft16x3f15s<seed>_<kind>_...` the mean of its epochs `epochs`."""
    return _beside(kind, f"mean weights of epochs {epochs}", "trained beside its averages")


def _both_seeds(kind: str, what: str) -> dict:
    """Label of `ft16x3f15_<kind>_...`: both seeds of the 0.15-0.65 s runs combined by `what`."""
    label = _fire("15", "0.15-0.65")["ft16x3f15s0_window_ce_pcen"]
    return {f"ft16x3f15_{kind}_window_ce_pcen": f"{label}, {what}"}


# The 0.15-0.65 s runs with VTLP on their features (augment.mel_vtlp_prob) and beside them
MELVTLP = _beside("melvtlp", "VTLP on the features (p 0.5, 0.9-1.1)",
                  "trained beside VTLP on the features")
# Kokoro keywords (and look-alike words, and filler words) in the third training set; beside them
KOKOROLA2 = _spliced("kokorola2", "third with Kokoro keywords and look-alikes, second",
                     "look-alikes")
KOKOROLA = (_fire("15", "0.15-0.65") | _spliced("kokoro", "third")
            | _spliced("kokorola", "third", "keywords and look-alikes")
            | _spliced("kokorolaf", "third", "keywords, look-alikes and filler words")
            | KOKOROLA2)
# ... and Kokoro's whole utterances (kws-streams --kokoro-share 0.5): a fourth training set of
# 24 keyword streams (kokoroku), two such sets (kokoroku2; kokoroku2l: the second with half its
# utterances look-alikes; kokoroku2k: and the rebuilt first set as a sixth; kokoroku2n: and 3 h
# of negative streams all Kokoro's as a sixth), or the first set rebuilt with them (kokoroutt)
KOKOROKU = KOKOROLA2 | {run.replace("kokorola2", kind): label.replace(
                            "three times the streams (", what, 1)
                        for run, label in KOKOROLA2.items()
                        for kind, what in (
                            ("kokoroku", "24 keyword streams half spoken whole by Kokoro + "
                                         "three times the streams ("),
                            ("kokoroku2", "48 keyword streams half spoken whole by Kokoro + "
                                          "three times the streams ("),
                            ("kokoroku2l", "48 keyword streams half spoken whole by Kokoro "
                                           "(the second 24 half look-alikes) + three times "
                                           "the streams ("),
                            ("kokoroku2k", "48 keyword streams half spoken whole by Kokoro "
                                           "+ a half-Kokoro set of 48 keyword streams and 3 h "
                                           "of negatives + three times the streams ("),
                            ("kokoroku2n", "48 keyword streams half spoken whole by Kokoro "
                                           "+ 3 h of negatives all Kokoro's + three times the "
                                           "streams ("),
                            ("kokoroutt", "three times the streams (first with half its "
                                          "utterances spoken whole by Kokoro, "))}


def _verified(gate: str) -> dict:
    """Labels of the kokoroku2 runs as a first stage whose detections at `gate` a
    speech_embedding clip run re-scores (bench/stream_eval.py --verify)."""
    return {run: f"{label}, each detection at {gate} re-scored by a speech_embedding clip run"
            for run, label in KOKOROKU.items() if "_kokoroku2_" in run}


# Dev stream sets other than data/streams_dev (eSpeak's dev voices), by the JSON's "dev"
DEV_STREAMS = {"data/streams_dev_engines": "dev with Kokoro/Piper words",
               "data/streams_dev_kokoro5": "dev with Kokoro utterances, 5 h of negatives"}
# Dev stream sets read at another dev set's thresholds, by the JSON's "test"
SECOND_DEV = {"data/streams_dev_kokoro": "dev with Kokoro utterances"}
# Detection-loss runs (2026-12-03) and the pcen frontend (2026-12-06), named by what they add
# to `clips` (8 epochs at lr 1e-3, or 16 / 32 ep. at 3e-3); reruns of `clips` are named apart;
# a file of several runs maps each.
DETLOSS_RUNS = {"stream_detloss_clips_dev": "clips (rerun)",
                "stream_detloss_maxpool_dev": "clips + streams, maxpool",
                "stream_detloss_window_ce_dev": "clips + streams, window_ce",
                "stream_detloss16_maxpool_dev": "clips + streams, maxpool, 16 ep.",
                "stream_detloss16_window_ce_test": "clips + streams, window_ce, 16 ep.",
                "stream_detloss32_maxpool_dev": "clips + streams, maxpool, 32 ep.",
                "stream_detloss32_window_ce_dev": "clips + streams, window_ce, 32 ep.",
                "stream_detloss16s1_maxpool_dev": "clips + streams, maxpool, 16 ep., seed 1",
                "stream_detloss16s1_window_ce_dev": "clips + streams, window_ce, 16 ep., seed 1",
                "stream_detloss16hn_window_ce_dev":
                    "clips + streams + hard negatives, window_ce, 16 ep.",
                "stream_detloss16hns1_window_ce_dev":
                    "clips + streams + hard negatives, window_ce, 16 ep., seed 1",
                "stream_detloss16w12800_maxpool_dev":
                    "clips + streams, maxpool, 16 ep., 0.8 s window",
                "stream_detloss16w9600_maxpool_dev":
                    "clips + streams, maxpool, 16 ep., 0.6 s window",
                "stream_detloss16wide_window_ce_dev": {
                    "clips_wide": "clips, 2x wide (313k)",
                    "ft16wide_window_ce": "clips + streams, window_ce, 16 ep., 2x wide (313k)"},
                "stream_detloss16embc_window_ce_dev": {
                    "embc_clips": "embed_clips, causal",
                    "ft16embc_window_ce": "embed_clips, causal + streams, window_ce, 16 ep."},
                "stream_detloss16x2_window_ce_dev":
                    "clips + twice the streams, window_ce, 16 ep.",
                "stream_detloss16x2s1_window_ce_dev":
                    "clips + twice the streams, window_ce, 16 ep., seed 1",
                "stream_detloss16x3lo_window_ce_dev":
                    "clips + three times the streams (third at 0-15 dB), window_ce, 16 ep.",
                "stream_detloss16x3los1_window_ce_dev":
                    "clips + three times the streams (third at 0-15 dB), window_ce, 16 ep., "
                    "seed 1",
                "stream_detloss16x3clips_window_ce_dev":
                    "clips + three times the streams (third with Kokoro/Piper keywords), "
                    "window_ce, 16 ep.",
                "stream_detloss16x3clipss1_window_ce_dev":
                    "clips + three times the streams (third with Kokoro/Piper keywords), "
                    "window_ce, 16 ep., seed 1",
                "stream_pcen_dev": {"clips": "clips (rerun 2026-12-06)",
                                    "clips_pcen": "clips, pcen frontend"},
                "stream_pcen16_window_ce_dev": {
                    "ft16_window_ce": "clips + streams, window_ce, 16 ep. (rerun 2026-12-06)",
                    "ft16_window_ce_pcen": "clips + streams, window_ce, 16 ep., pcen frontend"},
                "stream_pcens1_dev": {"clips_s1": "clips, seed 1 (2026-12-06)",
                                      "clips_pcen_s1": "clips, pcen frontend, seed 1"},
                "stream_pcen16s1_window_ce_dev": {
                    "ft16s1_window_ce": "clips + streams, window_ce, 16 ep., seed 1 (2026-12-06)",
                    "ft16s1_window_ce_pcen":
                        "clips + streams, window_ce, 16 ep., seed 1, pcen frontend"},
                "stream_detloss16_window_ce_test_flite": {
                    "clips": "clips", "ft16_window_ce": "clips + streams, window_ce, 16 ep."},
                "stream_detloss16_window_ce_test_festival": {
                    "clips": "clips", "ft16_window_ce": "clips + streams, window_ce, 16 ep."},
                "stream_pcen16x2_window_ce_dev": {
                    "ft16x2s0_window_ce_pcen":
                        "clips + twice the streams, window_ce, 16 ep., pcen frontend",
                    "ft16x2s1_window_ce_pcen":
                        "clips + twice the streams, window_ce, 16 ep., seed 1, pcen frontend"},
                "stream_pcen16x3lo_window_ce_dev": {
                    "ft16x3los0_window_ce_pcen": "clips + three times the streams (third at "
                                                 "0-15 dB), window_ce, 16 ep., pcen frontend",
                    "ft16x3los1_window_ce_pcen": "clips + three times the streams (third at "
                                                 "0-15 dB), window_ce, 16 ep., seed 1, pcen "
                                                 "frontend"},
                "stream_pcen16x3_window_ce_dev": {
                    "ft16x3s0_window_ce_pcen":
                        "clips + three times the streams, window_ce, 16 ep., pcen frontend",
                    "ft16x3s1_window_ce_pcen":
                        "clips + three times the streams, window_ce, 16 ep., seed 1, pcen "
                        "frontend"},
                "stream_pcen16x3_patience0.2_dev": X3_PATIENCE,
                "stream_pcen16x3_patience0.2_grid001_dev": {
                    run: f"{label}, thresholds by 0.001" for run, label in X3_PATIENCE.items()},
                "stream_pcen16x3wide_patience0.2_dev": {
                    f"{run}_wide": label.replace("pcen frontend,",
                                                 "pcen frontend, 128 wide (294k),")
                    for run, label in X3_PATIENCE.items()},
                "stream_pcen16x3la_patience0.2_dev": {
                    f"ft16x3las{seed}_window_ce_pcen": label.replace(
                        "three times the streams", "three times the streams (third with "
                        "look-alike share 0.5)")
                    for seed, label in enumerate(X3_PATIENCE.values())},
                **{f"stream_pcen16x3f{at}_patience0.2_dev": _fire(at, span)
                   for at, span in (("15", "0.15-0.65"), ("30", "0.3-0.8"))},
                "stream_pcen16x4_window_ce_dev": {
                    "ft16x4s0_window_ce_pcen":
                        "clips + four times the streams, window_ce, 16 ep., pcen frontend",
                    "ft16x4s1_window_ce_pcen":
                        "clips + four times the streams, window_ce, 16 ep., seed 1, pcen "
                        "frontend"},
                "stream_pcen16x4_patience0.2_dev": {
                    "ft16x4s0_window_ce_pcen": "clips + four times the streams, window_ce, "
                                               "16 ep., pcen frontend, patience 0.2 s",
                    "ft16x4s1_window_ce_pcen": "clips + four times the streams, window_ce, "
                                               "16 ep., seed 1, pcen frontend, patience 0.2 s"},
                **{f"stream_pcen16x2_window_ce_test{engine}":
                   "clips + twice the streams, window_ce, 16 ep., pcen frontend"
                   for engine in ("", "_flite", "_festival")},
                **{f"stream_pcen16x3_patience0.2_test{engine}": X3_PATIENCE
                   for engine in ("", "_flite", "_festival")},
                **{f"stream_pcen16x3f15_patience0.2_test{engine}": _fire("15", "0.15-0.65")
                   for engine in ("", "_flite")},
                # Both fire spans retrained side by side from rebuilt data (same commands, seeds)
                "stream_pcen16x3_patience0.2_rebuilt_dev": {
                    f"{run}_rebuilt": label.replace("window_ce,", "window_ce firing -0.05-0.5 s "
                                                    "after the keyword,") + ", rebuilt"
                    for run, label in X3_PATIENCE.items()},
                "stream_pcen16x3f15_patience0.2_test_festival": {
                    run: f"{label}, rebuilt" for run, label in _fire("15", "0.15-0.65").items()},
                # Weight averages (tdnn average) beside the runs they average (2026-12-07)
                "stream_pcen16x3f15avg4_patience0.2_dev": _averaged("avg4", "13-16"),
                "stream_pcen16x3f15avg8soup_patience0.2_dev":
                    _averaged("avg8", "9-16") | _both_seeds("soup", "mean weights of seeds 0 and 1")
                    | _both_seeds("soup_avg4", "mean weights of epochs 13-16 of seeds 0 and 1"),
                "stream_pcen16x3f15ens_patience0.2_dev": _both_seeds(
                    "ens", "ensemble of seeds 0 and 1 (geometric mean of probabilities)"),
                # VTLP on the stream features (augment.mel_vtlp_prob, 2026-12-07)
                "stream_pcen16x3f15melvtlp_patience0.2_dev": MELVTLP,
                "stream_pcen16x3f15melvtlp_s2_patience0.2_dev": _seed2(MELVTLP),
                # Kokoro keywords spliced into the training streams of the pcen detector
                "stream_pcen16x3f15kokoro_patience0.2_dev": _spliced("kokoro", "third"),
                "stream_pcen16x3f15kokoro2_patience0.2_dev": _spliced("kokoro2",
                                                                      "second and third"),
                "stream_pcen16x3f15kokoroclips_patience0.2_dev": {
                    run: label.replace("clips +", "clips with Kokoro voices +", 1)
                    for run, label in _spliced("kokoroclips", "third").items()},
                **{f"stream_pcen16x3f15kokoro_patience0.2_test_{engine}":
                   MELVTLP | _spliced("kokoro", "third") for engine in ("flite", "festival")},
                # ... and Kokoro look-alike words too; dev streams with Kokoro/Piper words
                "stream_pcen16x3f15kokoro_patience0.2_dev_engines": KOKOROLA,
                "stream_pcen16x3f15kokorola_patience0.2_dev": KOKOROLA,
                "stream_pcen16x3f15kokorola_patience0.2_dev_engines": KOKOROLA,
                **{f"stream_pcen16x3f15kokorola_patience0.2_test_{engine}": KOKOROLA
                   for engine in ("flite", "festival")},
                "stream_pcen16x3f15kokorola_s2_patience0.2_dev": _seed2(KOKOROLA),
                "stream_pcen16x3f15kokorola_s2_patience0.2_dev_engines": _seed2(KOKOROLA),
                "stream_pcen16x3f15kokorolaf_patience0.2_dev": KOKOROLA,
                "stream_pcen16x3f15kokorolaf_patience0.2_dev_engines": KOKOROLA,
                "stream_pcen16x3f15kokorola2_patience0.2_dev": KOKOROLA,
                "stream_pcen16x3f15kokorola2_patience0.2_dev_engines": KOKOROLA,
                **{f"stream_pcen16x3f15kokorola2_patience0.2_test_{engine}": KOKOROLA
                   for engine in ("flite", "festival")},
                # ... and Kokoro's whole utterances, with a dev set where Kokoro speaks whole
                **{f"stream_pcen16x3f15{kind}_patience0.2_{dev}": KOKOROKU
                   for kind in ("kokoroku", "kokoroku2", "kokoroutt", "kokoroku2k")
                   for dev in ("dev", "dev_engines")},
                "stream_pcen16x3f15kokoroku2n_patience0.2_dev_engines": KOKOROKU,
                "stream_pcen16x3f15kokoroku2l_patience0.2_dev_engines": KOKOROKU,
                **{f"stream_pcen16x3f15{kind}_patience0.2_dev_kokoro5": KOKOROKU
                   for kind in ("kokoroku", "kokoroku2", "kokoroku2n")},
                **{f"stream_pcen16x3f15kokoroku2_verify_gate{g}_patience0.2_dev_engines":
                   _verified(g) for g in ("0.2", "0.5")},
                **{f"stream_pcen16x3f15{kind}_patience0.2_test_{engine}": KOKOROKU
                   for kind in ("kokoroku", "kokoroku2") for engine in ("flite", "festival")}}
# Files scored on a second test set: their dev rows repeat rows above and are left out.
TEST_ONLY = {"stream_detloss16_window_ce_test_flite", "stream_detloss16_window_ce_test_festival",
             "stream_pcen16x2_window_ce_test", "stream_pcen16x2_window_ce_test_flite",
             "stream_pcen16x2_window_ce_test_festival", "stream_pcen16x3_patience0.2_test",
             "stream_pcen16x3_patience0.2_test_flite", "stream_pcen16x3_patience0.2_test_festival",
             "stream_pcen16x3f15_patience0.2_test", "stream_pcen16x3f15_patience0.2_test_flite",
             "stream_pcen16x3f15kokoro_patience0.2_test_flite",
             "stream_pcen16x3f15kokoro_patience0.2_test_festival",
             "stream_pcen16x3f15kokorola_patience0.2_test_flite",
             "stream_pcen16x3f15kokorola_patience0.2_test_festival",
             "stream_pcen16x3f15kokorola2_patience0.2_test_flite",
             "stream_pcen16x3f15kokorola2_patience0.2_test_festival",
             "stream_pcen16x3f15kokoroku_patience0.2_test_flite",
             "stream_pcen16x3f15kokoroku_patience0.2_test_festival",
             "stream_pcen16x3f15kokoroku2_patience0.2_test_flite",
             "stream_pcen16x3f15kokoroku2_patience0.2_test_festival"}
ENGINES = {"flite": "Flite", "festival": "Festival"}  # test streams of other engines' voices


def stream_misses() -> str:
    """Misses at 0.5 / 1 / 10 FA/h with per-keyword thresholds chosen on dev, dev and test
    (bench/stream_eval.py: the log-mel runs, then the speech_embedding runs)."""
    rows = []
    for name in ("stream_base_dev", "stream", "stream_embed_dev", "stream_embed_clips_dev",
                 *DETLOSS_RUNS):
        d = _load(name)
        budgets = [f"{b:g}" for b in d["budgets_fa_per_hour"]]
        for run, splits in d["runs"].items():
            names = DETLOSS_RUNS.get(name, run)
            run = names[run] if isinstance(names, dict) else names
            for split, m in splits.items():
                if split == "dev" and name in TEST_ONLY:
                    continue
                points = m["given_thresholds"] if split == "test" else m["operating_points"]
                engine = ENGINES.get(d.get("test_voices"))
                voices = f" ({engine} voices)" if engine else ""
                dev = DEV_STREAMS.get(d.get("dev"))
                if split == "test" and d["test"] in SECOND_DEV:
                    where = f"{SECOND_DEV[d['test']]} (thresholds of the {dev})"
                elif split == "test":
                    chosen = f"thresholds of the {dev}" if dev else "dev thresholds"
                    where = f"**test{voices}** ({chosen}, scored once)"
                else:
                    where = f"{dev} (chosen on it)" if dev else "dev (chosen on dev)"
                cells = [run, where, str(m["keywords"]), f"{m['negative_hours']:.2f}",
                         *[_point(points[b]) for b in budgets], _det_miss(m["det"], 100)]
                if cells not in rows:  # a file may score runs another file has scored
                    rows.append(cells)
    return _table(["run", "streams (thresholds)", "keywords", "negative h",
                   "misses @ 0.5 FA/h", "misses @ 1 FA/h", "misses @ 10 FA/h",
                   "miss @ 100 FA/h, shared threshold"],
                  ["---", "---", "---:", "---:", "---", "---", "---", "---:"], rows)


# Patience (2026-12-07): the pcen runs with twice the training streams, a keyword firing only
# once it has held its threshold this many seconds (0: the committed run without patience).
PATIENCE = (0.0, 0.2, 0.4, 0.6, 0.8)
PATIENCE_SEEDS = {"ft16x2s0_window_ce_pcen": "0", "ft16x2s1_window_ce_pcen": "1"}


def stream_patience() -> str:
    """Dev misses of the pcen runs at each patience (bench/stream_eval.py --patience)."""
    rows = []
    for seconds in PATIENCE:
        name = (f"stream_pcen16x2_patience{seconds:g}_dev" if seconds
                else "stream_pcen16x2_window_ce_dev")
        for run, splits in _load(name)["runs"].items():
            m = splits["dev"]
            points = m["operating_points"]
            rows.append([f"{seconds:g}", PATIENCE_SEEDS[run], _point(points["1"]),
                         _point(points["10"]), _det_miss(m["det"], 100)])
    return _table(["patience (s)", "seed", "misses @ 1 FA/h", "misses @ 10 FA/h",
                   "miss @ 100 FA/h, shared threshold"],
                  ["---:", "---:", "---", "---", "---:"], rows)


TABLES = {"frontend-clips": frontend_clips, "frontend-files": frontend_files,
          "inference-throughput": inference_throughput, "inference-stream": inference_stream,
          "inference-versions": inference_versions, "embedding-costs": embedding_costs,
          "train-stages": train_stages, "train-ratios": train_ratios,
          "stream-misses": stream_misses, "stream-patience": stream_patience}


def marked(name: str) -> re.Pattern:
    """The doc's block for table `name`, markers included."""
    return re.compile(rf"<!-- bench:{name} -->\n(.*?)\n<!-- /bench:{name} -->", re.S)


def render(doc: str) -> str:
    """`doc` with every marked block replaced by its table rendered from the JSON."""
    for name, make in TABLES.items():
        if not marked(name).search(doc):
            raise SystemExit(f"{DOC}: no <!-- bench:{name} --> block; add the markers")
        block = f"<!-- bench:{name} -->\n{make()}\n<!-- /bench:{name} -->"
        doc = marked(name).sub(lambda _: block, doc)
    return doc


def main(argv: list[str] | None = None) -> int:
    """Rewrite the doc's tables, or with --check report whether they match the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    args = parser.parse_args(argv)
    doc = DOC.read_text()
    new = render(doc)
    if args.check:
        if new != doc:
            print(f"{DOC}: tables differ from bench/results; run python bench/tables.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != doc:
        DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
