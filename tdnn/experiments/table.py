"""Ablation results table: mean ± std over runs and a paired test of each comparison.

Results come in long form, one record per (task, condition, variant, data_seed, seed, metric,
value), optionally with `speakers` ({speaker: [value, weight]}: the metric on each test
speaker's items). `summarize` groups them over runs and tests every comparison (a variant
against a baseline, `comparisons(task, variants)`), pairing runs by (data_seed, seed):
a two-way cluster bootstrap over test speakers and runs where per-speaker values exist
(clips of one speaker are correlated), else a paired t-test over runs; TOST equivalence at
±`margin`; Benjamini–Hochberg q-values over every comparison in the table
(`tdnn.experiments.stats`). `write_tables` writes the rows as Markdown, CSV and JSON.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import stats

TEST_NAME = ("paired by (data_seed, seed): two-way cluster bootstrap over test speakers and runs "
             f"({stats.N_BOOT} resamples) where per-speaker values exist, else paired t-test "
             "over runs; TOST at ±margin; Benjamini–Hochberg q over every comparison")
NAN = float("nan")


@dataclass
class Row:
    """One table line: a metric of one variant on one task/condition, summarised over runs, and
    its comparison with `baseline` ('' for a line without a comparison)."""
    task: str
    condition: str
    metric: str
    variant: str
    baseline: str
    n: int
    mean: float
    std: float           # sample standard deviation over runs (ddof=1)
    delta: float         # mean - baseline mean over the paired runs
    p_value: float
    q_value: float       # Benjamini–Hochberg over every p_value of the table
    tost_p: float        # equivalence within ±margin; NaN where no margin applies
    test: str            # 'bootstrap' or 't'
    values: list[float]


def summarize(records: list[dict], reference: str = "none", comparisons=None,
              margins: dict[str, float] | None = None, untested=()) -> list[Row]:
    """Group long-form records by (task, condition, metric, variant), test each comparison.

    `comparisons(task, variants)` returns (variant, baseline) pairs (default: each variant
    against `reference`). `margins[metric]` is the TOST equivalence margin; metrics in
    `untested` (e.g. bounds) get no comparison. Rows are sorted by task, condition, metric and
    variant, each in the order it first appears in `records`.
    """
    margins = margins or {}
    runs: dict[tuple, dict[tuple, dict]] = defaultdict(dict)
    for r in records:
        key = (r["task"], r["condition"], r["metric"], r["variant"])
        runs[key][(r.get("data_seed", 0), r["seed"])] = r
    firsts = [{}, {}, {}, {}]
    for key in runs:
        for part, seen in zip(key, firsts):
            seen.setdefault(part, len(seen))
    order = sorted(runs, key=lambda k: tuple(seen[p] for p, seen in zip(k, firsts)))
    by_task = defaultdict(list)
    for task, _, _, variant in order:
        if variant not in by_task[task]:
            by_task[task].append(variant)
    pairs = {t: (comparisons(t, vs) if comparisons else
                 [(v, reference) for v in vs if v != reference]) for t, vs in by_task.items()}
    rows = []
    for task, cond, metric, variant in order:
        mine = runs[(task, cond, metric, variant)]
        values = [float(r["value"]) for r in mine.values()]
        mean = float(np.mean(values))
        std = float(np.std(values, ddof=1)) if len(values) > 1 else NAN
        bases = [b for v, b in pairs[task] if v == variant and (task, cond, metric, b) in runs
                 and metric not in untested]
        if not bases:
            rows.append(Row(task, cond, metric, variant, "", len(values), mean, std, NAN, NAN,
                            NAN, NAN, "", values))
        for base in bases:
            delta, p, tost, test = compare(mine, runs[(task, cond, metric, base)],
                                           margins.get(metric))
            rows.append(Row(task, cond, metric, variant, base, len(values), mean, std, delta,
                            p, NAN, tost, test, values))
    for row, q in zip(rows, stats.bh_qvalues([r.p_value for r in rows])):
        row.q_value = float(q)
    return rows


def compare(mine: dict, base: dict, margin: float | None) -> tuple[float, float, float, str]:
    """(delta, p, TOST p, test name) of runs `mine` against `base` (dicts keyed by run)."""
    keys = sorted(set(mine) & set(base))
    if not keys:
        return NAN, NAN, NAN, ""
    diffs = [d for d in (float(mine[k]["value"]) - float(base[k]["value"]) for k in keys)
             if d == d]
    if not diffs:
        return NAN, NAN, NAN, ""
    blocks = speaker_blocks(mine, base, keys)
    if blocks:
        boot = stats.cluster_bootstrap(blocks)
        tost = stats.boot_tost(boot, margin) if margin else NAN
        return float(np.mean(diffs)), stats.boot_p(boot), tost, "bootstrap"
    tost = stats.tost_t(diffs, margin) if margin else NAN
    return float(np.mean(diffs)), stats.paired_t(diffs), tost, "t"


def speaker_blocks(mine: dict, base: dict, keys: list) -> list:
    """Per corpus seed, (D [runs, speakers] of paired per-speaker differences, weights), or []
    when some run lacks per-speaker values or a corpus seed has fewer than 2 speakers."""
    if not all("speakers" in mine[k] and "speakers" in base[k] for k in keys):
        return []
    blocks = []
    for data_seed in sorted({k[0] for k in keys}):
        ks = [k for k in keys if k[0] == data_seed]
        spk = sorted(set.intersection(*(set(mine[k]["speakers"]) & set(base[k]["speakers"])
                                        for k in ks)))
        d = np.array([[mine[k]["speakers"][s][0] - base[k]["speakers"][s][0] for s in spk]
                      for k in ks], float)
        keep = ~np.isnan(d).any(0)
        if keep.sum() < 2:
            return []
        w = np.array([base[ks[0]]["speakers"][s][1] for s in spk], float)
        blocks.append((d[:, keep], w[keep]))
    return blocks


def _fmt(x: float, digits: int = 2, scale: float = 1.0) -> str:
    """A number for the Markdown table; NaN as 'n/a'."""
    return "n/a" if x is None or math.isnan(x) else f"{x * scale:.{digits}f}"


def _p(x: float) -> str:
    """A p- or q-value for a table ('' when undefined)."""
    return "" if x is None or math.isnan(x) else f"{x:.2g}"


def markdown(rows: list[Row], percent_metrics: tuple[str, ...] = ()) -> str:
    """A Markdown table: one line per row, metrics listed in `percent_metrics` shown in %."""
    lines = ["| task | condition | metric | variant | vs | n | mean ± std | Δ | p | q | TOST p |",
             "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        scale = 100.0 if r.metric in percent_metrics else 1.0
        digits = 2 if scale == 100.0 else 3
        q = _p(r.q_value)
        if r.q_value == r.q_value and r.q_value < 0.05:
            q = f"**{q}**"
        lines.append(f"| {r.task} | {r.condition} | {r.metric} | {r.variant} | {r.baseline} | "
                     f"{r.n} | {_fmt(r.mean, digits, scale)} ± {_fmt(r.std, digits, scale)} | "
                     f"{_fmt(r.delta, digits, scale)} | {_p(r.p_value)} | {q} | "
                     f"{_p(r.tost_p)} |")
    return "\n".join(lines) + "\n"


def wide_markdown(rows: list[Row], columns: list[tuple[str, str, str]],
                  percent_metrics: tuple[str, ...] = (), baseline: str = "none") -> str:
    """A compact pivot: one line per variant, one column per (task, condition, metric) with
    mean ± std and, against `baseline`, the BH q-value in brackets."""
    cells = {}
    for r in rows:
        if r.baseline in ("", baseline):
            cells[(r.task, r.condition, r.metric, r.variant)] = r
    variants = list(dict.fromkeys(r.variant for r in rows))
    head = "| variant | " + " | ".join(m if c == "clean" else f"{m} ({c})"
                                      for _, c, m in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for v in variants:
        out = []
        for t, c, m in columns:
            r = cells.get((t, c, m, v))
            if r is None:
                out.append("")
                continue
            scale = 100.0 if m in percent_metrics else 1.0
            digits = 1 if scale == 100.0 else 2
            q = "" if math.isnan(r.q_value) else f" (q={r.q_value:.2g})"
            out.append(f"{_fmt(r.mean, digits, scale)} ± {_fmt(r.std, digits, scale)}{q}")
        lines.append(f"| {v} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("task", "condition", "metric", "variant", "baseline", "n", "mean", "std", "delta",
              "p_value", "q_value", "tost_p", "test", "values")


def write_tables(rows: list[Row], out_dir: str | Path, stem: str = "results",
                 percent_metrics: tuple[str, ...] = (), meta: dict | None = None) -> dict[str, Path]:
    """Write `<stem>.md`, `<stem>.csv` and `<stem>.json` into `out_dir`; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{stem}.md", "csv": out / f"{stem}.csv", "json": out / f"{stem}.json"}
    note = (f"Mean ± sample std over runs; Δ = mean paired difference against the variant in "
            f"'vs'; tests: {TEST_NAME}; bold q < 0.05; blank where undefined.\n\n")
    paths["md"].write_text(note + markdown(rows, percent_metrics))
    with paths["csv"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for r in rows:
            d = asdict(r)
            d["values"] = " ".join(f"{v:.6g}" for v in r.values)
            w.writerow([d[k] for k in CSV_FIELDS])
    payload = {"test": TEST_NAME, "meta": meta or {},
               "rows": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                         for k, v in asdict(r).items()} for r in rows]}
    paths["json"].write_text(json.dumps(payload, indent=2) + "\n")
    return paths
