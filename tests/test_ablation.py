"""The ablation table builder on fixed numbers, and the variant set at matched parameter count."""

import csv
import json
import math

import numpy as np
import pytest
from scipy import stats

from tdnn import ablation_table as at

REF = [0.90, 0.92, 0.91]
POOL = [0.85, 0.88, 0.84]
SAME = [0.95, 0.95, 0.95]


def _records():
    recs = []
    for variant, values in (("none", REF), ("max2", POOL), ("flat", SAME)):
        for seed, v in enumerate(values):
            recs.append({"task": "kws", "condition": "clean", "variant": variant, "seed": seed,
                         "metric": "accuracy", "value": v})
    return recs


def welch_by_hand(a, b):
    """Welch's t and Welch–Satterthwaite degrees of freedom, then the two-sided t tail."""
    a, b = np.asarray(a), np.asarray(b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return 2 * stats.t.sf(abs(t), df)


def test_summary_mean_std_p_against_hand_formula():
    rows = {r.variant: r for r in at.summarize(_records(), reference="none")}
    pool = rows["max2"]
    assert pool.n == 3
    assert pool.mean == pytest.approx(sum(POOL) / 3)
    assert pool.std == pytest.approx(math.sqrt(sum((x - sum(POOL) / 3) ** 2 for x in POOL) / 2))
    assert pool.delta == pytest.approx(sum(POOL) / 3 - sum(REF) / 3)
    assert pool.p_value == pytest.approx(welch_by_hand(POOL, REF), rel=1e-9)
    assert 0 < pool.p_value < 0.05  # a clear, consistent gap is flagged
    assert math.isnan(rows["none"].p_value)  # the reference is not tested against itself


def test_p_value_undefined_cases():
    assert math.isnan(at.welch_p([1.0], [1.0, 2.0]))       # one seed
    assert math.isnan(at.welch_p([1.0, 1.0], [2.0, 2.0]))  # both without spread
    # one side constant, the other not: still defined (Welch allows unequal variances)
    assert at.welch_p(SAME, REF) == pytest.approx(welch_by_hand(SAME, REF))


def test_write_tables_formats_agree(tmp_path):
    rows = at.summarize(_records(), reference="none")
    paths = at.write_tables(rows, tmp_path, percent_metrics=("accuracy",), meta={"seeds": 3})
    md = paths["md"].read_text()
    assert "Welch" in md
    pool_mean = 100 * sum(POOL) / 3
    assert f"{pool_mean:.2f} ± {100 * np.std(POOL, ddof=1):.2f}" in md
    with paths["csv"].open() as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == ["none", "max2", "flat"]
    assert float(table[1]["mean"]) == pytest.approx(sum(POOL) / 3)
    data = json.loads(paths["json"].read_text())
    assert data["meta"] == {"seeds": 3}
    assert data["rows"][0]["p_value"] is None           # NaN written as null
    assert data["rows"][1]["values"] == POOL
