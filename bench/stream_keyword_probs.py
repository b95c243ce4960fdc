"""Why keywords are missed on streams: for each reference keyword, the highest probability the
run gives its label between the keyword's start and 1 s after its end, whether another keyword
scores higher there, and whether `_unknown_` holds most of the window; the own-label peaks are
also split by the stream's condition (room or none, speech-to-noise ratio, noise kind) from the
stream's JSON sidecar (streams without one, such as `data_prep.synth_streams`, are not split),
to tell recognition in noise and rooms from recognition of the voices.

    python bench/stream_keyword_probs.py --streams DEV RUN [RUN ...]

Writes bench/results/stream_keyword_probs.json (see --out).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from tdnn import audio, streams
from tdnn.data.speech_commands import UNKNOWN
from tdnn.inference import offline_scores, softmax
from tdnn.runs import load_run

RESULTS = Path(__file__).parent / "results"


def keyword_probs(run, folder: Path, tolerance: float = 1.0) -> dict:
    """Own-label peak probability per keyword, confusions and unknown-held windows."""
    events = streams.read_reference(folder / streams.REFERENCE)
    keywords = [i for i, lab in enumerate(run.labels) if lab in {e.label for e in events}]
    own, conditions, confused, unknown = [], [], Counter(), 0
    for name in sorted({e.file for e in events}):
        sidecar = (folder / name).with_suffix(".json")  # none for `data_prep.synth_streams`
        groups = condition_names(json.loads(sidecar.read_text())) if sidecar.exists() else []
        times, logits = offline_scores(run.model, run.frontend,
                                       audio.load(folder / name, run.sample_rate), run.clip_samples)
        probs = softmax(logits)
        for e in (e for e in events if e.file == name):
            win = probs[(times >= e.start) & (times <= e.end + tolerance)]
            own.append(float(win[:, run.labels.index(e.label)].max()))
            conditions.append(groups)
            top = run.labels[keywords[int(win[:, keywords].max(0).argmax())]]
            confused[f"{e.label}->{top}"] += top != e.label
            unknown += bool(win[:, run.labels.index(UNKNOWN)].mean() > 0.5)
    own = np.array(own)
    return {"keywords": len(own), "own_peak_at_least_0.5": float((own >= 0.5).mean()),
            "own_peak_at_least_0.9": float((own >= 0.9).mean()),
            "own_peak_median": float(np.median(own)),
            "another_keyword_higher": int(sum(confused.values())),
            "top_confusions": dict(Counter({k: v for k, v in confused.items() if v}).most_common(6)),
            "unknown_holds_window": unknown, "by_condition": by_condition(own, conditions)}


SNR_BANDS = ((None, 10.0, "snr < 10 dB"), (10.0, 20.0, "snr 10-20 dB"),
             (20.0, None, "snr >= 20 dB"))


def condition_names(sidecar: dict) -> list[str]:
    """The groups a stream falls in: room or none, its SNR band, its noise kind."""
    snr = sidecar["snr_db"]
    band = next(name for lo, hi, name in SNR_BANDS
                if (lo is None or snr >= lo) and (hi is None or snr < hi))
    return ["room" if sidecar["rt60"] > 0 else "no room", band, f"noise {sidecar['noise']}"]


def by_condition(own: np.ndarray, conditions: list[list[str]]) -> dict:
    """Per condition group: keywords, share whose own-label peak reaches 0.5, median peak."""
    groups = {}
    for name in sorted({c for names in conditions for c in names}):
        peaks = own[[name in names for names in conditions]]
        groups[name] = {"keywords": len(peaks),
                        "own_peak_at_least_0.5": float((peaks >= 0.5).mean()),
                        "own_peak_median": float(np.median(peaks))}
    return groups


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders")
    p.add_argument("--streams", type=Path, required=True, help="folder with reference.csv")
    p.add_argument("--out", type=Path, default=RESULTS / "stream_keyword_probs.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = {"command": " ".join(["python bench/stream_keyword_probs.py", *sys.argv[1:]]),
               "runs": {r.name: keyword_probs(load_run(r), args.streams) for r in args.runs}}
    for name, r in results["runs"].items():
        print(name, json.dumps(r))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
