"""Ensembles: the weighted geometric mean of the members' own probabilities, and clear errors."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tdnn import ensemble
from tdnn.cli import main as cli_main
from tdnn.errors import UserError
from tdnn.inference import predict_files, run_scorer, run_scores, stream_scores
from tdnn.runs import load_run

sys.path.insert(0, str(Path(__file__).parent))
from run_fixture import LABELS, make_run  # noqa: E402


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    base = tmp_path_factory.mktemp("ens")
    a = make_run(base / "logmel", seed=1)
    b = make_run(base / "mfcc", ["frontend.kind=mfcc", "frontend.n_mfcc=13"], seed=2)
    rng = np.random.default_rng(0)
    files = []
    for k in range(3):
        path = base / f"clip{k}.wav"
        sf.write(path, (0.2 * rng.standard_normal(16000)).astype(np.float32), 16000)
        files.append(path)
    return base, a, b, files


def member_probs(run_dir, files):
    """Each member scored on its own, as `tdnn predict` scores one run: [files, labels]."""
    run = load_run(run_dir)
    preds = predict_files(run, files, k=len(LABELS))
    return np.array([[dict(p.top)[lab] for lab in LABELS] for p in preds])


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.25, 0.75]])
def test_ensemble_is_the_weighted_geometric_mean_of_its_members(members, tmp_path, weights):
    base, a, b, files = members
    ensemble.write(tmp_path / "ens", [a, b], weights)
    log_mix = weights[0] * np.log(member_probs(a, files)) + weights[1] * np.log(member_probs(b, files))
    expected = np.exp(log_mix) / np.exp(log_mix).sum(1, keepdims=True)
    got = member_probs(tmp_path / "ens", files)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_predict_cli_reads_an_ensemble_folder_and_export_refuses_it(members, tmp_path, capsys):
    base, a, b, files = members
    ens = tmp_path / "ens"
    ensemble.write(ens, [a, b], [1, 1])
    assert cli_main(["predict", str(ens), str(files[0]), "--json"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["label"] in LABELS and line["path"] == str(files[0])
    assert cli_main(["export", str(ens)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "an ensemble" in err[0] and str(a) in err[0]


def test_stream_scores_of_an_ensemble_are_the_weighted_log_probs_of_its_members(members, tmp_path):
    """Whole-stream and chunked ensemble scores both equal the weighted sum of each member's
    own chunked log-softmax scores (`stream_scores` run on the member alone)."""
    base, a, b, files = members
    ensemble.write(tmp_path / "ens", [a, b], [0.25, 0.75])
    run = load_run(tmp_path / "ens")
    wave = (0.2 * np.random.default_rng(3).standard_normal(16000 * 3)).astype(np.float32)
    parts = []
    for path in (a, b):
        m = load_run(path)
        times, logits = stream_scores(m.model, m.frontend, wave, m.clip_samples)
        parts.append((times, logits - np.log(np.exp(logits).sum(1, keepdims=True))))
    expected = 0.25 * parts[0][1] + 0.75 * parts[1][1]
    times, got = run_scores(run, wave)
    np.testing.assert_allclose(times, parts[0][0])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    scorer = run_scorer(run)
    chunks = [scorer.push(wave[i:i + 1234]) for i in range(0, len(wave), 1234)] + [scorer.flush()]
    np.testing.assert_allclose(np.concatenate([t for t, _ in chunks]), parts[0][0])
    np.testing.assert_allclose(np.concatenate([s for t, s in chunks if len(t)]), expected,
                               rtol=1e-4, atol=1e-4)


def test_stream_cli_scans_with_an_ensemble_and_refuses_members_scoring_at_other_times(
        members, tmp_path, capsys):
    base, a, b, files = members
    ens = tmp_path / "ens"
    ensemble.write(ens, [a, b], [0.5, 0.5])
    assert cli_main(["stream", str(ens), str(files[0]), "--threshold", "0.01"]) == 0
    assert str(files[0]) in capsys.readouterr().out
    causal = make_run(tmp_path / "causal", ["model.causal=true"], seed=3)  # no look-ahead
    ensemble.write(tmp_path / "mixed", [a, causal], [0.5, 0.5])
    assert cli_main(["stream", str(tmp_path / "mixed"), str(files[0])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(causal) in err[0] and "other times" in err[0]


def test_members_are_stored_relative_so_the_folders_move_together(members, tmp_path):
    base, a, b, files = members
    ens = a / "ensemble_here"
    ensemble.write(ens, [a, b], [0.5, 0.5])
    assert json.loads((ens / ensemble.ENSEMBLE).read_text())["members"] == ["..", "../../mfcc"]
    assert [m.path for m in load_run(ens).members] == [a, b]


@pytest.mark.parametrize("spec, message", [
    ({"members": ["../m1"], "weights": [1]}, "at least two member runs"),
    ({"members": ["../m1", "../m2"], "weights": [1]}, "2 positive numbers"),
    ({"members": ["../m1", "../m2"], "weights": [1, -1]}, "2 positive numbers"),
    ({"members": ["../m1"]}, "not a readable ensemble file"),
    ({"members": ["../m1", "../short"], "weights": [1, 1]}, "differ in labels"),
    ({"members": ["../m1", "../nested"], "weights": [1, 1]}, "is an ensemble itself"),
    ({"members": ["../m1", "../missing"], "weights": [1, 1]}, "run folder not found"),
])
def test_bad_ensemble_files_are_one_clear_error(tmp_path, spec, message):
    make_run(tmp_path / "m1")
    make_run(tmp_path / "m2")
    make_run(tmp_path / "short", labels=LABELS[:4])
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / ensemble.ENSEMBLE).write_text("{}")
    (tmp_path / "ens").mkdir()
    (tmp_path / "ens" / ensemble.ENSEMBLE).write_text(json.dumps(spec))
    with pytest.raises(UserError, match=message):
        load_run(tmp_path / "ens")


def test_tune_ensemble_rows_are_the_members_and_the_ensemble_scored_on_dev(tmp_path):
    from recipes.speech_commands import tune_ensemble
    from sc_fixture import make_corpus
    from tdnn.data import speech_commands as sc
    from tdnn.evaluate import evaluate_examples

    corpus = make_corpus(tmp_path / "data")
    voices = make_corpus(tmp_path / "voices", speakers=6, takes=1)
    data = [f"data.root={corpus}", f"data.extra_validation=[{voices}]", "data.task=12"]
    embed = make_run(tmp_path / "a", data, labels=sc.labels_for_task(12), seed=1)
    logmel = make_run(tmp_path / "b", [*data, "frontend.kind=mfcc"], labels=sc.labels_for_task(12),
                      seed=2)
    rows = {r["weight_embedding"]: r for r in tune_ensemble.tune(embed, [logmel])["rows"]}
    fused = ensemble.write(tmp_path / "ens", [embed, logmel], [0.5, 0.5]).parent

    def accuracy(run_dir, root, whole):
        run = load_run(run_dir)
        d = run.cfg.data
        shares = (0, None) if whole else (d.silence_percentage, d.unknown_percentage)
        examples = sc.load_examples(root, "validation", 12, 0, *shares)
        return evaluate_examples(run, examples)[0]["accuracy"]

    for w, run_dir in ((1.0, embed), (0.0, logmel), (0.5, fused)):
        assert rows[w]["espeak_validation"] == pytest.approx(accuracy(run_dir, corpus, False))
        assert rows[w]["dev_voices"] == pytest.approx(accuracy(run_dir, voices, True))
    assert rows[0.5]["params"] == rows[1.0]["params"] + rows[0.0]["params"]
