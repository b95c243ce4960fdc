"""The speech_embedding TDNN averaged with log-mel TDNNs, scored on the two dev sets: which
log-mel model and which weight the recipe's ensemble uses.

    python recipes/speech_commands/tune_ensemble.py --run RUN --logmel LOGMEL [LOGMEL ...] \
        --out results/tune_ensemble.json

RUN is a `tdnn recipe speech-commands --engines ...` folder (its speech_embedding model, corpus
and dev voices); each LOGMEL a log-mel run trained on the same data. Every member is scored
once on the eSpeak validation speakers (the run's silence/unknown shares) and on the dev voices
(their validation split, all words), then the ensemble's class scores, w x log p(embedding) +
(1 - w) x log p(log-mel) for w in WEIGHTS (what `tdnn.ensemble` computes), give its accuracy on
each. The test split and the Flite/Festival voices are not touched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from recipes.speech_commands.tune_embedding import validation_probs
from tdnn import runs

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # of the speech_embedding model


def log_probs(run, root: str, whole: bool) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities and targets of a loaded run on a dev set (`validation_probs`)."""
    probs, targets = validation_probs(run, root, whole)
    return np.log(np.clip(probs, 1e-12, None)), targets


def tune(run_dir: Path, logmel_dirs: list[Path]) -> dict:
    """Dev accuracy of each member and of each (log-mel run, weight) ensemble."""
    embed = runs.load_run(run_dir)
    d = embed.cfg.data
    sets = {"espeak_validation": (d.root, False), "dev_voices": (d.extra_validation[0], True)}
    members = {"speech_embedding": embed, **{str(p): runs.load_run(p) for p in logmel_dirs}}
    scored = {name: {s: log_probs(r, root, whole) for s, (root, whole) in sets.items()}
              for name, r in members.items()}
    params = {name: sum(p.numel() for p in r.model.parameters()) for name, r in members.items()}
    rows = []
    for name in logmel_dirs:
        for w in WEIGHTS:
            row = {"logmel": str(name), "weight_embedding": w,
                   "params": params["speech_embedding"] * (w > 0) + params[str(name)] * (w < 1)}
            for s in sets:
                (a, targets), (b, _) = scored["speech_embedding"][s], scored[str(name)][s]
                row[s] = float(((w * a + (1 - w) * b).argmax(1) == targets).mean())
            row["mean"] = (row["espeak_validation"] + row["dev_voices"]) / 2
            rows.append(row)
    return {"command": "python " + " ".join(sys.argv), "run": str(run_dir), "params": params,
            "sets": {s: str(root) for s, (root, _) in sets.items()}, "rows": rows}


def markdown(result: dict) -> str:
    """The dev table, one row per (log-mel run, weight)."""
    lines = ["| log-mel run | weight of speech_embedding | TDNN params | eSpeak validation | "
             "dev voices | mean |", "|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['logmel']} | {r['weight_embedding']} | {r['params']:,} | "
                     f"{100 * r['espeak_validation']:.2f}% | {100 * r['dev_voices']:.2f}% | "
                     f"{100 * r['mean']:.2f}% |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="finished speech_embedding recipe run")
    p.add_argument("--logmel", type=Path, nargs="+", required=True, help="log-mel runs")
    p.add_argument("--out", type=Path, required=True, help="JSON file for the table")
    args = p.parse_args(argv)
    result = tune(args.run, args.logmel)
    runs.write_json(result, args.out)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
