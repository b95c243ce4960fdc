"""The pooling ablation README's tables, generated from a results.json (never typed by hand).

    python -m tdnn.experiments.report recipes/pooling_ablation/results/results.json \
        recipes/pooling_ablation/README.md

rewrites the block between `<!-- tables:begin -->` and `<!-- tables:end -->` in the README;
`tests/test_ablation_readme.py` checks that the committed README matches its JSON.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"

PAIRS_METRICS = [("clean", "accuracy"), ("clean", "set_accuracy"), ("snr10", "accuracy"),
                 ("clean", "jitter_changed@2"), ("clean", "jitter_accuracy@2")]
KEY_METRICS = {
    "pairs": PAIRS_METRICS, "pairs-fewvoices": PAIRS_METRICS, "pairs-shortctx": PAIRS_METRICS,
    "pairs-kokoro": PAIRS_METRICS,
    "kws12": [("clean", "accuracy"), ("snr10", "accuracy"), ("snr5", "accuracy"),
              ("clean", "jitter_changed@2"), ("clean", "jitter_accuracy@2")],
    "bdg": [("clean", "accuracy"), ("clean", "jitter_changed@2"), ("clean", "jitter_accuracy@2")],
    "phones": [("clean", "frame_accuracy"), ("clean", "ceiling_frame_accuracy"),
               ("clean", "frame_accuracy_short"), ("clean", "boundary_f1@1"),
               ("clean", "ceiling_boundary_f1@1"), ("clean", "per_smooth"),
               ("clean", "jitter_follow@2"), ("clean", "blur_transition_short")],
}
COMPARE_METRICS = {"pairs": ["accuracy", "set_accuracy"], "bdg": ["accuracy"],
                   "pairs-fewvoices": ["accuracy", "set_accuracy"],
                   "pairs-shortctx": ["accuracy", "set_accuracy"],
                   "pairs-kokoro": ["accuracy", "set_accuracy"], "kws12": ["accuracy"],
                   "phones": ["frame_accuracy", "frame_accuracy_short", "boundary_f1@1"]}
PERCENT = ("accuracy", "set_accuracy", "frame_accuracy", "frame_accuracy_short", "per_smooth",
           "boundary_f1@1", "ceiling_frame_accuracy", "ceiling_boundary_f1@1",
           "jitter_changed@2", "jitter_accuracy@2", "jitter_follow@2")


def _num(x, digits: int = 1, scale: float = 100.0) -> str:
    """A number in a table ('' for None/NaN)."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * scale:.{digits}f}"


def _p(x) -> str:
    """A p-, q- or TOST value with two significant digits ('' when undefined)."""
    return "" if x is None else f"{x:.2g}"


def task_table(rows: list[dict], task: str, models: dict) -> str:
    """Variants x key metrics: mean ± std over runs, BH q against none in brackets."""
    cols = [(c, m) for c, m in KEY_METRICS.get(task, [])
            if any(r["task"] == task and r["condition"] == c and r["metric"] == m for r in rows)]
    cells = {(r["condition"], r["metric"], r["variant"]): r for r in rows
             if r["task"] == task and r["baseline"] in ("", "none")}
    variants = list(dict.fromkeys(r["variant"] for r in rows if r["task"] == task))
    head = ["variant", "field", "stride", "n"] + [m if c == "clean" else f"{m} ({c})"
                                                  for c, m in cols]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for v in variants:
        info = models.get(v, {})
        out = [v, str(info.get("receptive_field_frames", "")),
               str(info.get("output_stride_frames", ""))]
        n = ""
        for c, m in cols:
            r = cells.get((c, m, v))
            if r is None:
                out.append("")
                continue
            n = str(r["n"])
            q = f" (q={_p(r['q_value'])})" if r["q_value"] is not None else ""
            scale, digits = (100.0, 1) if m in PERCENT else (1.0, 2)  # blur: frames
            out.append(f"{_num(r['mean'], digits, scale)} ± {_num(r['std'], digits, scale)}{q}")
        lines.append("| " + " | ".join(out[:3] + [n] + out[3:]) + " |")
    return "\n".join(lines) + "\n"


def comparison_table(rows: list[dict], task: str) -> str:
    """Every comparison on the task's main metrics: Δ (points), p, BH q and TOST p at ±1 point."""
    keep = [r for r in rows if r["task"] == task and r["condition"] == "clean" and r["baseline"]
            and r["metric"] in COMPARE_METRICS.get(task, [])]
    lines = ["| variant | vs | metric | n | Δ (points) | p | q | TOST p (±1) | test |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in keep:
        q = _p(r["q_value"])
        if r["q_value"] is not None and r["q_value"] < 0.05:
            q = f"**{q}**"
        lines.append(f"| {r['variant']} | {r['baseline']} | {r['metric']} | {r['n']} | "
                     f"{_num(r['delta'], 2)} | {_p(r['p_value'])} | {q} | "
                     f"{_p(r['tost_p'])} | {r['test']} |")
    return "\n".join(lines) + "\n"


def readme_tables(results: dict) -> str:
    """The README's results block: per task the variant table, then its comparison table."""
    rows, meta = results["rows"], results["meta"]
    parts = [f"{len(rows)} table rows; {meta['seconds'] / 60:.0f} min of the longest part.\n"]
    for task in dict.fromkeys(r["task"] for r in rows):
        models = meta.get("models", {}).get(task, {})
        info = meta["tasks"].get(task, {})
        seeds = (f"training seeds {info.get('seeds', meta['seeds'])} x corpus seeds "
                 f"{info.get('data_seeds', meta.get('data_seeds', [0]))}")
        parts.append(f"#### {task}\n\n{seeds}\n\n{task_table(rows, task, models)}\n"
                     f"Comparisons ({task}):\n\n{comparison_table(rows, task)}")
    return "\n".join(parts)


def update_readme(results_path: str | Path, readme_path: str | Path) -> bool:
    """Rewrite the README's tables block from the JSON; True when it changed."""
    readme = Path(readme_path)
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme}: no {BEGIN} ... {END} block to fill")
    block = readme_tables(json.loads(Path(results_path).read_text()))
    head, rest = text.split(BEGIN, 1)
    new = f"{head}{BEGIN}\n{block}{END}{rest.split(END, 1)[1]}"
    readme.write_text(new)
    return new != text


if __name__ == "__main__":
    changed = update_readme(sys.argv[1], sys.argv[2])
    print(f"{sys.argv[2]}: tables {'updated' if changed else 'already current'}")
