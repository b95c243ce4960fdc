"""Ablation results table: mean ± std over seeds and a Welch t-test against the reference.

Results come in long form, one record per (task, condition, variant, seed, metric, value).
`summarize` groups them over seeds; `write_tables` writes the same rows as Markdown, CSV and
JSON. The significance test is Welch's unequal-variance two-sample t-test
(`scipy.stats.ttest_ind(..., equal_var=False)`, two-sided) of each variant's per-seed values
against the reference variant's on the same task, condition and metric. With 3 seeds it only
flags large, consistent gaps; a p-value is NaN ("n/a") when either side has fewer than two
seeds or both sides have zero spread.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats

TEST_NAME = "Welch two-sample t-test (scipy.stats.ttest_ind, equal_var=False, two-sided)"


@dataclass
class Row:
    """One table line: a metric of one variant on one task/condition, summarised over seeds."""
    task: str
    condition: str
    metric: str
    variant: str
    n: int
    mean: float
    std: float           # sample standard deviation (ddof=1); NaN with one seed
    delta: float         # mean - reference mean
    p_value: float       # Welch t-test vs the reference; NaN for the reference itself
    values: list[float]


def welch_p(a: list[float], b: list[float]) -> float:
    """Two-sided Welch t-test p-value of samples a vs b; NaN when it is undefined."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return float("nan")
    with warnings.catch_warnings():  # one constant side makes scipy warn about cancellation
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def summarize(records: list[dict], reference: str = "none") -> list[Row]:
    """Group long-form records by (task, condition, metric, variant) and compare to `reference`.

    Each record needs keys task, condition, variant, seed, metric, value. Rows are sorted by
    task, then condition, metric and variant, each in the order it first appears in `records`.
    """
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        groups[(r["task"], r["condition"], r["metric"], r["variant"])].append(float(r["value"]))
    firsts = [{}, {}, {}, {}]
    for key in groups:
        for part, seen in zip(key, firsts):
            seen.setdefault(part, len(seen))
    order = sorted(groups, key=lambda k: tuple(seen[p] for p, seen in zip(k, firsts)))
    rows = []
    for task, cond, metric, variant in order:
        values = groups[(task, cond, metric, variant)]
        ref = groups.get((task, cond, metric, reference))
        mean = float(np.mean(values))
        std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        delta = mean - float(np.mean(ref)) if ref else float("nan")
        p = float("nan") if variant == reference or not ref else welch_p(values, ref)
        rows.append(Row(task, cond, metric, variant, len(values), mean, std, delta, p, values))
    return rows


def _fmt(x: float, digits: int = 2, scale: float = 1.0) -> str:
    """A number for the Markdown table; NaN as 'n/a'."""
    return "n/a" if x is None or math.isnan(x) else f"{x * scale:.{digits}f}"


def markdown(rows: list[Row], percent_metrics: tuple[str, ...] = ()) -> str:
    """A Markdown table: one line per row, metrics listed in `percent_metrics` shown in %."""
    lines = ["| task | condition | metric | variant | n | mean ± std | Δ vs ref | p (Welch) |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        scale = 100.0 if r.metric in percent_metrics else 1.0
        digits = 2 if scale == 100.0 else 3
        p = "—" if math.isnan(r.p_value) and math.isnan(r.delta) else _fmt(r.p_value, 3)
        if r.p_value == r.p_value and r.p_value < 0.05:
            p = f"**{p}**"
        lines.append(f"| {r.task} | {r.condition} | {r.metric} | {r.variant} | {r.n} | "
                     f"{_fmt(r.mean, digits, scale)} ± {_fmt(r.std, digits, scale)} | "
                     f"{_fmt(r.delta, digits, scale)} | {p} |")
    return "\n".join(lines) + "\n"


def wide_markdown(rows: list[Row], columns: list[tuple[str, str, str]],
                  percent_metrics: tuple[str, ...] = ()) -> str:
    """A compact pivot: one line per variant, one column per (task, condition, metric) with
    mean ± std and the p-value against the reference in brackets."""
    cells = {(r.task, r.condition, r.metric, r.variant): r for r in rows}
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
            p = "" if math.isnan(r.p_value) else f" (p={r.p_value:.2g})"
            out.append(f"{_fmt(r.mean, digits, scale)} ± {_fmt(r.std, digits, scale)}{p}")
        lines.append(f"| {v} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def write_tables(rows: list[Row], out_dir: str | Path, stem: str = "results",
                 percent_metrics: tuple[str, ...] = (), meta: dict | None = None) -> dict[str, Path]:
    """Write `<stem>.md`, `<stem>.csv` and `<stem>.json` into `out_dir`; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{stem}.md", "csv": out / f"{stem}.csv", "json": out / f"{stem}.json"}
    note = (f"Mean ± sample std over seeds; Δ = variant mean − reference mean; p from the {TEST_NAME}"
            f" against the reference; bold p < 0.05; n/a where undefined.\n\n")
    paths["md"].write_text(note + markdown(rows, percent_metrics))
    with paths["csv"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "condition", "metric", "variant", "n", "mean", "std", "delta",
                    "p_value", "values"])
        for r in rows:
            w.writerow([r.task, r.condition, r.metric, r.variant, r.n, r.mean, r.std, r.delta,
                        r.p_value, " ".join(f"{v:.6g}" for v in r.values)])
    payload = {"test": TEST_NAME, "meta": meta or {},
               "rows": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                         for k, v in asdict(r).items()} for r in rows]}
    paths["json"].write_text(json.dumps(payload, indent=2) + "\n")
    return paths
