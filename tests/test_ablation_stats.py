"""The ablation's statistics against published and hand-computed answers, and the design
pieces (matched receptive fields, splits, anagram sets, ceilings) against independent checks."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from tdnn.experiments import stats
from tdnn.experiments import table as at

# Benjamini & Hochberg (1995), section 4: 15 p-values; at FDR 0.05 the 4 smallest are rejected.
BH_P = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
        0.5719, 0.6528, 0.7590, 1.000]
# q_i = min over j >= i of p_j * 15 / j, worked by hand for the first ten
BH_Q10 = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0298 * 15 / 7, 0.0298 * 15 / 7,
          0.0344 * 15 / 8, 0.0459 * 15 / 9, 0.486]


def test_bh_on_the_published_example():
    q = stats.bh_qvalues(BH_P)
    assert np.sum(q <= 0.05) == 4                       # the paper's 4 rejections
    assert q[:10] == pytest.approx(BH_Q10)
    assert q[-1] == pytest.approx(1.0)


def test_bh_leaves_nan_out_of_the_count():
    q = stats.bh_qvalues([0.01, float("nan"), 0.04])
    assert math.isnan(q[1])
    assert q[0] == pytest.approx(0.02) and q[2] == pytest.approx(0.04)   # m = 2, not 3


def test_tost_against_two_one_sided_t_tests_by_hand():
    d = [0.2, 0.5, -0.1, 0.3]          # mean 0.225, sd 0.25, se 0.125, df 3
    # t = (0.225 + 1) / 0.125 = 9.8 and (0.225 - 1) / 0.125 = -6.2
    assert stats.tost_t(d, 1.0) == pytest.approx(max(sps.t.sf(9.8, 3), sps.t.cdf(-6.2, 3)))
    lower = sps.ttest_1samp(d, -1.0, alternative="greater").pvalue
    upper = sps.ttest_1samp(d, 1.0, alternative="less").pvalue
    assert stats.tost_t(d, 1.0) == pytest.approx(max(lower, upper))
    assert stats.tost_t(d, 0.1) > 0.5   # a 0.1 margin is far inside the noise: not equivalent


def test_paired_t_is_scipy_ttest_rel():
    a, b = [0.9, 0.8, 0.85, 0.95], [0.85, 0.8, 0.8, 0.9]
    assert stats.paired_t(np.subtract(a, b)) == pytest.approx(sps.ttest_rel(a, b).pvalue)


def test_speaker_bootstrap_matches_the_t_test_with_many_speakers():
    """One run, 400 speakers: resampling speakers reproduces the normal-theory p and SE."""
    rng = np.random.default_rng(1)
    d = rng.normal(0.1, 1.0, 400)
    boot = stats.cluster_bootstrap([(d[None], np.ones(400))], n_boot=4000)
    assert boot.std() == pytest.approx(d.std(ddof=1) / 20, rel=0.1)
    assert stats.boot_p(boot) == pytest.approx(sps.ttest_1samp(d, 0).pvalue, abs=0.02)


def test_two_way_bootstrap_counts_run_and_speaker_variance():
    """D[s, k] = a_s + b_k: the mean's SE is sqrt(var a / runs + var b / speakers)."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 200), rng.normal(0, 1, 200)
    d = a[:, None] + b[None, :]
    boot = stats.cluster_bootstrap([(d, np.ones(200))], n_boot=3000)
    expected = math.sqrt(a.var() / 200 + b.var() / 200)
    assert boot.std() == pytest.approx(expected, rel=0.12)


def test_weighted_difference_by_hand():
    d = np.array([[1.0, 3.0], [3.0, 5.0]])      # run means per speaker: 2 and 4
    assert stats.weighted_diff([(d, np.array([1.0, 3.0]))]) == pytest.approx((2 + 12) / 4)


def test_bootstrap_tost_is_ci_inclusion():
    boot = np.random.default_rng(3).normal(0.002, 0.002, 5000)   # 90% CI ~ [-0.0013, 0.0053]
    assert stats.boot_tost(boot, 0.01) < 0.01    # well inside ±1 point: equivalent
    assert stats.boot_tost(boot, 0.004) > 0.05   # the CI crosses +0.004: not shown


def _spk_records():
    """Two variants, 2 corpus seeds x 3 seeds, 6 speakers per corpus; max2 is 5 points better."""
    rng = np.random.default_rng(0)
    recs = []
    for ds in (0, 1):
        for seed in range(3):
            for variant, shift in (("none", 0.0), ("max2", 0.05)):
                spk = {f"s{ds}{k}": [0.7 + shift + 0.01 * rng.normal(), 10] for k in range(6)}
                recs.append({"task": "t", "condition": "clean", "metric": "accuracy",
                             "variant": variant, "data_seed": ds, "seed": seed,
                             "value": float(np.mean([v for v, _ in spk.values()])),
                             "speakers": spk})
    return recs


def test_summarize_uses_the_speaker_bootstrap_and_tost():
    rows = {r.variant: r for r in at.summarize(_spk_records(), "none",
                                               margins={"accuracy": 0.01})}
    r = rows["max2"]
    assert r.test == "bootstrap" and r.n == 6
    assert r.delta == pytest.approx(0.05, abs=0.01)
    assert r.p_value < 0.01 and r.q_value < 0.01
    assert r.tost_p > 0.5          # a 5-point gap is not equivalence at ±1 point


# ---------------------------------------------------------------- design

from tdnn.experiments import ablation, probes  # noqa: E402
from tdnn.models import build_model, summary  # noqa: E402

CONTEXTS = [[-2, -1, 0, 1, 2], [-2, 0, 2], [-3, 0, 3], [0]]


@pytest.mark.parametrize("field", [15, 17, 21, 29, 37, 40, 79])
def test_matched_control_has_the_field_models_summary_reports(field):
    cfg = ablation.model_config(ablation.parse_variant(f"none-rf{field}"), "clip", 40, 5, 8,
                                CONTEXTS, [0, 1], [2, 3])
    assert summary(build_model(cfg, 40, 5), 40)["receptive_field_frames"] == field


def test_every_pooled_variant_gets_its_matched_control():
    cfg = ablation.AblationConfig(variants=["none", "max4-early", "max2-early-dec",
                                            "stride2-early", "max2-early-dec-rep"])
    names = ablation.variants_for("pairs", cfg)
    assert "max2-early-dec-rep" not in names     # the repeat head is a frame-task variant
    fields = {n: ablation.field_of_variant(n, CONTEXTS, cfg) for n in names}
    for n in ("max4-early", "max2-early-dec", "stride2-early"):
        assert f"none-rf{fields[n]}" in names
        assert fields[f"none-rf{fields[n]}"] == fields[n]


def test_bag_model_is_blind_to_frame_order():
    import torch
    cfg = ablation.model_config(ablation.parse_variant("bag"), "clip", 6, 3, 8, CONTEXTS,
                                [0, 1], [2, 3])
    model = build_model(cfg, 6, 3).eval()
    x = torch.randn(2, 6, 30)
    perm = torch.randperm(30)
    with torch.no_grad():
        assert torch.allclose(model(x), model(x[..., perm]), atol=1e-5)


def test_block_majority_and_short_phones_by_hand():
    lab = np.array([1, 1, 1, 2, 2, 3, 3, 3, 3, 3])
    assert probes.block_majority(lab, 4).tolist() == [1, 1, 1, 1, 3, 3, 3, 3, 3, 3]
    assert probes.short_phone_mask(lab, 3).tolist() == [True] * 5 + [False] * 5
    # the repeat-head ceiling: blocks [1 1 1 2] [2 3 3 3] [3 3] lose one frame each of the
    # first two: 8 of 10 right with stride 4; every frame with stride 1
    ceil = ablation.ceiling_scores([lab], 4)
    assert ceil["ceiling_frame_accuracy"] == pytest.approx(0.8)
    assert ablation.ceiling_scores([lab], 1)["ceiling_frame_accuracy"] == 1.0


def test_set_correct_by_hand():
    logits = np.array([[2.0, 1.0, 9.0], [0.0, 1.0, 0.0], [5.0, 0.0, 1.0]])
    got = probes.set_correct(logits, [1, 1, 2], [[0, 1]])
    assert got[0] == 0.0 and got[1] == 1.0 and math.isnan(got[2])


def test_holdout_keeps_accents_and_variants_out_of_training():
    from tdnn.experiments.tasks import Holdout
    rows = [{"accent": a, "variant": v} for a in ("en", "en-029") for v in ("f1", "m3", "none")]
    train, test = Holdout(("en-029",), ("m3",)).split(rows)
    assert [(r["accent"], r["variant"]) for r in train] == [("en", "f1"), ("en", "none")]
    assert len(test) == 4
    assert not {r["accent"] for r in train} & {"en-029"}


def test_order_probe_sets_are_anagrams_in_espeak_phonemes():
    from data_prep import espeak

    from tdnn.errors import ConfigError
    from tdnn.experiments import anagrams
    anagrams.check(anagrams.ANAGRAM_SETS, espeak.ENGLISH_ACCENTS)
    # the old sets were not: 'post' has [oU] where 'stop' has [0]; 'tens' ends in [z]
    assert "oU" in anagrams.phonemes("post", "en") and "z" in anagrams.phonemes("tens", "en")
    bad = {g for _, g, _ in anagrams.broken_sets([("stop", "post"), ("nets", "tens")], ["en"])}
    assert bad == {("stop", "post"), ("nets", "tens")}
    with pytest.raises(ConfigError, match="tens"):
        anagrams.check([("nets", "tens")], ["en"])


def _manifest_corpus(root, speakers: dict[str, str], words=("yes", "no", "up")):
    """Tone-word clips of each speaker (`{id: accent}`) with the manifest clip_task reads."""
    import csv

    import soundfile as sf

    from sc_fixture import SR, tone_word
    rows = []
    for k, (spk, accent) in enumerate(speakers.items()):
        for word in words:
            (root / word).mkdir(parents=True, exist_ok=True)
            rel = f"{word}/{spk}_nohash_0.wav"
            sf.write(root / rel, tone_word(word, k, 0), SR, subtype="PCM_16")
            rows.append({"file": rel, "word": word, "speaker": spk, "accent": accent,
                         "variant": "none", "split": "training"})
    with (root / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_clip_task_tests_on_another_corpus_and_trains_on_the_holdout_split(tmp_path):
    """pairs-kokoro: training clips are the eSpeak corpus's training accents only; the test set
    is every clip of the other corpus (its voices, its labels), none of the held-out accent."""
    import soundfile as sf
    import torch

    from tdnn.experiments.tasks import Holdout, clip_task
    from tdnn.features import Frontend, FrontendConfig
    words = ["yes", "no", "up"]
    train_rows = _manifest_corpus(tmp_path / "espeak", {"a": "en", "b": "en", "c": "en-029"})
    other = _manifest_corpus(tmp_path / "kokoro", {"kokoro-x": "", "kokoro-y": ""})
    task = clip_task("t", tmp_path / "espeak", words, FrontendConfig(n_mels=20),
                     probe_phones=False, holdout=Holdout(("en-029",)),
                     test_root=tmp_path / "kokoro")
    assert task.info == {"train_clips": 6, "test_clips": 6, "train_speakers": 2,
                         "test_speakers": 2}
    assert task.test_speakers == [r["speaker"] for r in other]
    assert task.y_test.tolist() == [words.index(r["word"]) for r in other]
    assert task.y_train.tolist() == [words.index(r["word"]) for r in train_rows[:6]]
    # the test inputs are the other corpus's files (speaker kokoro-y says 'up' last)
    wave, _ = sf.read(tmp_path / "kokoro" / other[-1]["file"], dtype="float32")
    want = Frontend(FrontendConfig(n_mels=20))(torch.from_numpy(wave)[None])[0]
    assert torch.allclose(task.x_test[-1], want, atol=1e-5)
