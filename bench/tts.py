"""Speech-engine benchmark: rendered words per second on one CPU thread, per engine and setting.

    OMP_NUM_THREADS=1 python bench/tts.py [--words 32] [--out bench/results/tts.json]

Times `engine.render` (synthesis, cutting, resampling to 16 kHz, trimming) over the first
`--words` Speech Commands words for two voices, after a warm-up call; model loading is timed
apart. Kokoro is run with 1, 4, 8 and 16 words per call (cut at the predicted durations) to
show what speaking several words per call buys; the mean word length of each setting is
recorded (words said in a list come out shorter than alone), and for 8 words per call the
level at the cuts between words: where `word_spans` cuts vs the plain middle of the predicted
pause. Needs the kokoro and piper extras for those engines (a missing one is skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from data_prep import engines
from data_prep.words import COMMANDS_35

CONFIGS = [("espeak", {}, ["en-us", "en-gb-x-rp+m3"],
            {"rate": 175, "pitch": 50, "pitch_range": 50}),
           *[("kokoro", {"words_per_call": k}, ["af_heart", "bm_george"], {"speed": 1.0})
             for k in (1, 4, 8, 16)],
           ("piper", {}, ["joe"], {"length_scale": 1.0, "noise_scale": 0.667,
                                   "noise_w_scale": 0.8})]


CUT_VOICES = ["af_heart", "am_michael", "bf_emma", "bm_george"]


def bench(name: str, options: dict, voices: list[str], settings: dict, words: list[str]) -> dict:
    """Load time, words/s and mean word length of one engine setting."""
    t = time.perf_counter()
    engine = engines.load(name, **options)
    load_s = time.perf_counter() - t
    size = engine.words_per_call
    engine.render(words[:size], voices[0], settings)  # warm-up
    lengths, t = [], time.perf_counter()
    for voice in voices:
        for i in range(0, len(words), size):
            lengths += [len(w) for w in engine.render(words[i:i + size], voice, settings)]
    seconds = time.perf_counter() - t
    return {"engine": name, "options": options, "voices": voices, "words": len(lengths),
            "load_s": round(load_s, 2), "seconds": round(seconds, 2),
            "words_per_s": round(len(lengths) / seconds, 2),
            "s_per_word": round(seconds / len(lengths), 3),
            "mean_word_s": round(float(np.mean(lengths)) / engines.SAMPLE_RATE, 3)}


def level_db(audio: np.ndarray, at: int, peak: float, half: int = 150) -> float:
    """RMS level (dB under `peak`) of a 12.5 ms window (at 24 kHz) centred on sample `at`."""
    window = audio[max(0, at - half):at + half]
    return float(20 * np.log10(np.sqrt(np.mean(window ** 2)) / peak + 1e-9))


def cut_levels(voices: list[str], words: list[str]) -> dict:
    """Median and 90th-percentile level at the cuts between neighbouring Kokoro words."""
    from data_prep.engines.kokoro import FRAME, word_spans
    engine = engines.load("kokoro", words_per_call=8)
    middle, cut = [], []
    for voice in voices:
        for i in range(0, len(words), 8):
            audio, durations, spans = engine.speak(words[i:i + 8], voice, {"speed": 1.0})
            ends = np.cumsum(durations) * FRAME
            starts = ends - durations * FRAME
            peak = float(np.max(np.abs(audio)))
            middle += [level_db(audio, (ends[b - 1] + starts[a]) // 2, peak)
                       for (_, b), (a, _) in zip(spans, spans[1:])]
            cut += [level_db(audio, s, peak) for s, _ in word_spans(audio, durations, spans)[1:]]
    return {"boundaries": len(cut), "voices": voices, "at_middle": _stats(middle),
            "at_cut": _stats(cut)}


def _stats(levels: list[float]) -> dict:
    """Median and 90th percentile of levels in dB."""
    return {"median_db": round(float(np.median(levels)), 1),
            "p90_db": round(float(np.percentile(levels, 90)), 1)}


def main(argv=None) -> int:
    """Run every configuration, print the table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--words", type=int, default=32, help="how many Speech Commands words")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tts.json")
    p.add_argument("--kokoro-model", type=Path, action="append", default=[],
                   help="another Kokoro ONNX file to time (e.g. an fp32 one) at 1 and 8 words "
                        "per call; repeatable")
    args = p.parse_args(argv)
    words = list(COMMANDS_35[:args.words])
    rows, skipped = [], []
    extra = [("kokoro", {"words_per_call": k, "model": str(m)}, ["af_heart", "bm_george"],
              {"speed": 1.0}) for m in args.kokoro_model for k in (1, 8)]
    for name, options, voices, settings in CONFIGS + extra:
        try:
            rows.append(bench(name, options, voices, settings, words))
        except Exception as e:  # noqa: BLE001 - a missing extra skips that engine, says why
            skipped.append(f"{name} {options}: {e}")
    print(f"{'engine':8s} {'options':28s} {'words':>5s} {'load s':>7s} {'words/s':>8s} "
          f"{'s/word':>7s} {'word s':>7s}")
    for r in rows:
        options = {k: Path(v).name if k == "model" else v for k, v in r["options"].items()}
        print(f"{r['engine']:8s} {json.dumps(options):28s} {r['words']:5d} {r['load_s']:7.2f} "
              f"{r['words_per_s']:8.2f} {r['s_per_word']:7.3f} {r['mean_word_s']:7.3f}")
    for s in skipped:
        print(f"skipped: {s}")
    cuts = None
    if any(r["engine"] == "kokoro" for r in rows):
        cuts = cut_levels(CUT_VOICES, words)
        print(f"Kokoro cuts ({cuts['boundaries']} word boundaries, dB under the peak): plain "
              f"middle of the pause median {cuts['at_middle']['median_db']} / p90 "
              f"{cuts['at_middle']['p90_db']}; word_spans cut median "
              f"{cuts['at_cut']['median_db']} / p90 {cuts['at_cut']['p90_db']}")
    results = {"rows": rows, "kokoro_cuts": cuts, "skipped": skipped,
               "threads": os.environ.get("OMP_NUM_THREADS"),
               "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "load_average": os.getloadavg(), "command": "OMP_NUM_THREADS=1 python bench/tts.py"
               + (f" --words {args.words}" if args.words != 32 else "")
               + "".join(f" --kokoro-model {m}" for m in args.kokoro_model)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
