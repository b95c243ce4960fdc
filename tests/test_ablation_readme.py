"""The pooling ablation's committed results: the README's tables are the ones its JSON gives,
every row has n >= 5 runs, q-values are Benjamini-Hochberg over every p-value, and every
matched control in variants.md has its variant's receptive field."""

import csv
import json
import math
from pathlib import Path

import pytest
from scipy import stats

from tdnn.experiments import report

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "pooling_ablation"
RESULTS = RECIPE / "results"


def test_readme_tables_are_generated_from_the_committed_json():
    text = (RECIPE / "README.md").read_text()
    block = text.split(report.BEGIN)[1].split(report.END)[0]
    expected = report.readme_tables(json.loads((RESULTS / "results.json").read_text()))
    assert block.strip() == expected.strip()


def test_every_row_has_five_runs_and_bh_q_values():
    with (RESULTS / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and min(int(r["n"]) for r in rows) >= 5
    tested = [r for r in rows if r["p_value"] != "nan"]
    q = stats.false_discovery_control([float(r["p_value"]) for r in tested], method="bh")
    assert [float(r["q_value"]) for r in tested] == pytest.approx(list(q))
    assert all(r["q_value"] == "nan" for r in rows if r["p_value"] == "nan")


def test_matched_controls_have_their_variants_field():
    lines = [ln for ln in (RESULTS / "variants.md").read_text().splitlines()[2:] if ln.strip()]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    field = {(c[0], c[1]): int(c[3]) for c in cells}
    matched = [c for c in cells if c[5]]
    assert matched
    for task, variant, _, rf, _, control, control_rf, _ in matched:
        assert int(rf) == int(control_rf) == field[(task, control)]
        assert math.isfinite(int(rf))
