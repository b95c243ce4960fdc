"""Compare the recipe's main model with a baseline over several seeds: mean, std, paired t-test.

    python recipes/speech_commands/compare_seeds.py RUN_SEED0 RUN_SEED1 RUN_SEED2 \
        --baseline cnn2d --out recipes/speech_commands/results/cnn2d_seeds.json

Each RUN is a `tdnn recipe speech-commands` folder trained with `--baseline NAME` (one seed
each, same corpus); runs are paired by seed. Prints a Markdown table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from tdnn.atomic import atomic_write_text

# (key in the JSON, label, getter of one model's metrics.json section)
METRICS = [
    ("validation", "eSpeak validation (best epoch)", lambda m: m["best"]["val_accuracy"]),
    ("test", "eSpeak test", lambda m: m["test"]["accuracy"]),
    ("heldout_ten", "Flite/Festival, ten keywords",
     lambda m: m["heldout"]["heldout_tts"]["ten_word_accuracy"]),
    ("heldout_all", "Flite/Festival, all words", lambda m: m["heldout"]["heldout_tts"]["accuracy"]),
]


def collect(runs: list[Path], baseline: str) -> dict:
    """Per model ('main', baseline) and metric: the values of every run, in run order."""
    out = {"main": {k: [] for k, _, _ in METRICS}, baseline: {k: [] for k, _, _ in METRICS},
           "seeds": [], "params": {}, "epochs": {}}
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        if baseline not in metrics.get("baselines", {}):
            raise SystemExit(f"{run}: no baseline {baseline!r} in metrics.json; train it with "
                             f"--baseline {baseline}")
        out["seeds"].append(metrics["seed"])
        for name, section in (("main", metrics), (baseline, metrics["baselines"][baseline])):
            for key, _, get in METRICS:
                out[name][key].append(get(section))
            out["params"][name] = section["params"]
            out["epochs"].setdefault(name, []).append(section["epochs_run"])
    if len(set(out["seeds"])) != len(runs):
        raise SystemExit("two runs have the same seed; give one run per seed")
    return out


def compare(values: dict, baseline: str) -> list[dict]:
    """Per metric: mean and sample std of both models, the mean paired difference (points) and
    the paired t-test's p over seeds."""
    rows = []
    for key, label, _ in METRICS:
        a, b = np.asarray(values["main"][key]), np.asarray(values[baseline][key])
        p = float(stats.ttest_rel(a, b).pvalue) if len(a) > 1 else float("nan")
        rows.append({"metric": key, "label": label, "main_mean": float(a.mean()),
                     "main_std": float(a.std(ddof=1)) if len(a) > 1 else float("nan"),
                     "baseline_mean": float(b.mean()),
                     "baseline_std": float(b.std(ddof=1)) if len(b) > 1 else float("nan"),
                     "delta_points": float(100 * (a - b).mean()), "p_value": p})
    return rows


def markdown(rows: list[dict], baseline: str, n: int) -> str:
    """The comparison as a Markdown table (percent, mean ± std over n seeds)."""
    lines = [f"| metric (mean ± std over {n} seeds) | log-mel TDNN | {baseline} | Δ (points) | "
             "paired t-test p |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['label']} | {100 * r['main_mean']:.2f} ± {100 * r['main_std']:.2f} | "
                     f"{100 * r['baseline_mean']:.2f} ± {100 * r['baseline_std']:.2f} | "
                     f"{r['delta_points']:+.2f} | {r['p_value']:.2g} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="recipe run folders, one per seed")
    p.add_argument("--baseline", default="cnn2d", help="baseline name in metrics.json")
    p.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = p.parse_args(argv)
    values = collect(args.runs, args.baseline)
    rows = compare(values, args.baseline)
    table = markdown(rows, args.baseline, len(args.runs))
    atomic_write_text(args.out, json.dumps({"runs": [str(r) for r in args.runs], "values": values,
                                     "rows": rows, "markdown": table}, indent=1) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
