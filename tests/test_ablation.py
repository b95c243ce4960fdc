"""The ablation table builder on fixed numbers, and the variant set at matched parameter count."""

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

from tdnn.experiments import table as at

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


def test_summary_mean_std_and_paired_t_against_scipy():
    """Without per-speaker values the test is a paired t-test over runs paired by seed."""
    rows = {r.variant: r for r in at.summarize(_records(), reference="none")}
    pool = rows["max2"]
    assert pool.n == 3 and pool.baseline == "none" and pool.test == "t"
    assert pool.mean == pytest.approx(sum(POOL) / 3)
    assert pool.std == pytest.approx(math.sqrt(sum((x - sum(POOL) / 3) ** 2 for x in POOL) / 2))
    assert pool.delta == pytest.approx(sum(POOL) / 3 - sum(REF) / 3)
    assert pool.p_value == pytest.approx(stats.ttest_rel(POOL, REF).pvalue, rel=1e-9)
    assert math.isnan(rows["none"].p_value) and rows["none"].baseline == ""
    # q-values: Benjamini-Hochberg over the two tested rows, by hand (m = 2)
    ps = sorted([rows["max2"].p_value, rows["flat"].p_value])
    q_small = min(ps[0] * 2, ps[1])
    assert min(rows["max2"].q_value, rows["flat"].q_value) == pytest.approx(q_small)
    assert max(rows["max2"].q_value, rows["flat"].q_value) == pytest.approx(ps[1])


def test_write_tables_formats_agree(tmp_path):
    rows = at.summarize(_records(), reference="none")
    paths = at.write_tables(rows, tmp_path, percent_metrics=("accuracy",), meta={"seeds": 3})
    md = paths["md"].read_text()
    assert "Benjamini" in md
    pool_mean = 100 * sum(POOL) / 3
    assert f"{pool_mean:.2f} ± {100 * np.std(POOL, ddof=1):.2f}" in md
    with paths["csv"].open() as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == ["none", "max2", "flat"]
    assert "q_value" in table[0] and "tost_p" in table[0]
    assert float(table[1]["mean"]) == pytest.approx(sum(POOL) / 3)
    data = json.loads(paths["json"].read_text())
    assert data["meta"] == {"seeds": 3}
    assert data["rows"][0]["p_value"] is None           # NaN written as null
    assert data["rows"][1]["values"] == POOL


# ---------------------------------------------------------------- variants

from tdnn.experiments import ablation  # noqa: E402
from tdnn.errors import ConfigError  # noqa: E402

CONTEXTS = [[-2, -1, 0, 1, 2], [-2, 0, 2], [-3, 0, 3], [0]]


def test_parse_variant_names():
    v = ablation.parse_variant("max3-late-dec")
    assert (v.pool, v.width, v.where, v.decimate) == ("max", 3, "late", True)
    assert ablation.parse_variant("stride2-early").stride == 2
    assert ablation.parse_variant("cnn2d").arch == "cnn2d"
    assert ablation.parse_variant("none") == ablation.Variant("none")
    assert ablation.parse_variant("none-rf21").field == 21
    assert ablation.parse_variant("bag").arch == "bag"
    assert ablation.parse_variant("max2-early-dec-rep").upsample == "repeat"
    assert ablation.parse_variant("max2-early-dec").upsample == "learned"
    for bad in ("max1-early", "max3-middle", "pool", "stride1-early", "none-rf", "bag-rf3"):
        with pytest.raises(ConfigError):
            ablation.parse_variant(bad)


def test_pooling_goes_after_the_named_layers():
    layers = ablation.tdnn_layers(ablation.parse_variant("avg2-early-dec"), 8, CONTEXTS, [0, 1],
                                  [2, 3])
    assert [(s.pool, s.pool_width, s.pool_stride) for s in layers] == [
        ("avg", 2, 2), ("avg", 2, 2), (None, 2, 1), (None, 2, 1)]
    layers = ablation.tdnn_layers(ablation.parse_variant("stride2-early"), 8, CONTEXTS, [0], [3])
    assert [s.stride for s in layers] == [2, 1, 1, 1] and all(s.pool is None for s in layers)


@pytest.mark.parametrize("head", ["clip", "frame"])
def test_variants_match_the_reference_parameter_count(head):
    def params(name):
        cfg = ablation.model_config(ablation.parse_variant(name), head, 40, 31, 24, CONTEXTS,
                                    [0, 1], [2, 3])
        return ablation.n_params(cfg, 40, 31)
    ref = params("none")
    for name in ("max2-early", "avg3-early", "none-rf40", "none-rf79", "max4-late-dec-rep",
                 "stride2-early-rep"):
        assert params(name) == ref
    # decimating by S: the learned frame head has S outputs of 31 classes per 24-unit frame
    for name, s in (("max4-late-dec", 16), ("stride2-early", 4)):
        assert params(name) == ref + (head == "frame") * (s - 1) * 31 * (24 + 1)
    # channel scaling is coarse at 24 units, most with a learned head 8x as wide as none's
    assert abs(params("cnn2d") - ref) / ref < (0.1 if head == "clip" else 0.15)


@pytest.mark.slow
def test_quick_ablation_end_to_end(tmp_path):
    """`tdnn ablate --quick`: corpora, training, probes, tables and plots (about a minute)."""
    from tdnn.cli import main
    out = tmp_path / "abl"
    assert main(["ablate", "--quick", "--out", str(out), "--tasks", "pairs,phones",
                 "--variants", "none,max3-early"]) == 0
    data = json.loads((out / "results.json").read_text())
    rows = {(r["task"], r["condition"], r["metric"], r["variant"], r["baseline"]): r
            for r in data["rows"]}
    acc = rows[("pairs", "clean", "accuracy", "max3-early", "none")]
    assert acc["n"] == 2 and acc["q_value"] is not None
    assert acc["mean"] == pytest.approx(np.mean(acc["values"]))
    assert ("pairs", "clean", "accuracy", "max3-early", "none-rf19") in rows  # matched control
    assert ("phones", "clean", "boundary_f1@2", "max3-early", "none") in rows
    assert rows[("phones", "clean", "ceiling_frame_accuracy", "max3-early", "")]["mean"] == 1
    assert ("phones", "clean", "blur_transition_short", "max3-early", "none") in rows
    # a jitter of 0 never appears as a metric, but the probe curve has it and it is exactly 0
    probes_json = json.loads((out / "probes.json").read_text())
    assert probes_json["pairs"]["none"]["jitter_changed"]["0"] == 0.0
    for name in ("results.md", "results.csv", "summary.md", "variants.md",
                 "plots/accuracy_vs_width.png", "plots/phones_boundary_posteriors.png"):
        assert (out / name).is_file(), name


def test_bad_variant_is_a_user_error(tmp_path, capsys):
    from tdnn.cli import main
    assert main(["ablate", "--quick", "--out", str(tmp_path), "--variants", "none,max9"]) == 2
    assert "max9" in capsys.readouterr().err


def _part(folder, cfg, task, values, first_seed=0, curves=None, corpus=None):
    """A finished ablation folder: `values[variant]` = accuracy per seed from `first_seed`."""
    recs = [{"task": task, "condition": "clean", "variant": v, "seed": first_seed + s,
             "data_seed": 0, "metric": "accuracy", "value": x}
            for v, xs in values.items() for s, x in enumerate(xs)]
    models = {task: {v: {"params": 10, "receptive_field_frames": 15,
                         "output_stride_frames": 1, "macs_per_second": 1.0,
                         "train_seconds": 1.0} for v in values}}
    info = {task: {"seconds": 1.0, "data_seed 0": corpus or {"train_clips": 8}}}
    cfg = dataclasses.replace(cfg, seeds=list(range(first_seed, first_seed + 3)))
    ablation.write_all(folder, cfg, recs, curves or {}, models, info, 5.0)
    return folder


def test_combine_merges_disjoint_task_folders(tmp_path):
    from tdnn import config
    cfg = config.from_dict(ablation.AblationConfig, {"tasks": ["a", "b"], "variants": ["none"]})
    a = _part(tmp_path / "a", cfg, "a", {"none": REF, "max2-early": POOL})
    b = _part(tmp_path / "b", cfg, "b", {"none": POOL, "max2-early": REF})
    result = ablation.combine([b, a], tmp_path / "all", cfg)
    rows = {(r.task, r.variant): r for r in result["rows"]}
    assert [r.task for r in result["rows"]] == ["a", "a", "b", "b"]  # config's task order
    assert rows[("a", "max2-early")].p_value == pytest.approx(stats.ttest_rel(POOL, REF).pvalue)
    assert rows[("b", "max2-early")].values == REF
    with pytest.raises(ConfigError, match="corpus seed 0 seed 0 is in more than one"):
        ablation.combine([a, a], tmp_path / "twice", cfg)
    # DIR:TASKS takes only those tasks from DIR: task a from `a` once, task b from `b`
    rows = ablation.combine([a, f"{a}:b", f"{b}:b"], tmp_path / "some", cfg)["rows"]
    assert [(r.task, r.values) for r in rows if r.variant == "max2-early"] == [("a", POOL), ("b", REF)]


def test_combine_unions_more_seeds_of_the_same_variants(tmp_path):
    """Seeds 0-2 in one folder and 3-4 in another are one table of five paired runs; probe
    curves average over all five runs, minimal-pair confusions add up."""
    from tdnn import config
    cfg = config.from_dict(ablation.AblationConfig, {"tasks": ["a"], "variants": ["none"]})
    ref2, pool2 = [0.93, 0.89], [0.80, 0.86]
    curve = lambda x, conf: {"none": {"jitter_changed": {"2": x}, "set_confusions": [conf]}}
    a = _part(tmp_path / "a", cfg, "a", {"none": REF, "max2-early": POOL},
              curves={"a": curve(0.1, [[2, 1], [0, 3]])})
    b = _part(tmp_path / "b", cfg, "a", {"none": ref2, "max2-early": pool2}, first_seed=3,
              curves={"a": curve(0.6, [[1, 0], [1, 1]])})
    result = ablation.combine([a, b], tmp_path / "all", cfg)
    pool = next(r for r in result["rows"] if r.variant == "max2-early")
    assert pool.values == POOL + pool2 and pool.n == 5
    assert pool.p_value == pytest.approx(stats.ttest_rel(POOL + pool2, REF + ref2).pvalue)
    probes = json.loads((tmp_path / "all" / "probes.json").read_text())["a"]["none"]
    assert probes["jitter_changed"]["2"] == pytest.approx((3 * 0.1 + 2 * 0.6) / 5)
    assert probes["set_confusions"] == [[[3, 1], [1, 4]]]
    meta = json.loads((tmp_path / "all" / "results.json").read_text())["meta"]
    assert meta["tasks"]["a"]["seeds"] == [0, 1, 2, 3, 4] and meta["tasks"]["a"]["seconds"] == 2.0
    other = _part(tmp_path / "c", cfg, "a", {"none": ref2}, first_seed=3,
                  corpus={"train_clips": 9})
    with pytest.raises(ConfigError, match="corpus seed 0 is a different corpus"):
        ablation.combine([a, other], tmp_path / "mixed", cfg)
