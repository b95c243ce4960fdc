"""Evaluation: metrics against hand-computed confusion matrices; evaluate/predict on folders/files."""

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tdnn import audio, config
from tdnn.cli import main as cli_main
from tdnn.inference import loudest_window
from tdnn.data import speech_commands as sc
from tdnn.evaluate import clip_metrics, markdown_report, metrics_from_confusion
from tdnn.runs import load_run
from tdnn.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).parent))
from sc_fixture import make_corpus  # noqa: E402
from test_train import TINY  # noqa: E402


def test_metrics_match_a_hand_computed_confusion_matrix():
    labels = ["a", "b", "c"]
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0, 0]
    m = clip_metrics(y_true, y_pred, labels)
    assert m["confusion"] == [[1, 1, 0], [1, 2, 0], [1, 0, 0]]
    assert m["accuracy"] == pytest.approx(3 / 6) and m["n"] == 6 and m["correct"] == 3
    a, b, c = (m["per_class"][k] for k in labels)
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(1 / 3), 0.5, 2)
    assert (b["precision"], b["recall"], b["support"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert c["precision"] is None and c["recall"] == 0.0  # never predicted: precision undefined
    assert m["macro_recall"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)


def test_absent_class_has_undefined_recall_and_report_shows_it():
    m = metrics_from_confusion(np.array([[2, 0], [0, 0]]), ["x", "y"])
    assert m["per_class"]["y"] == {"precision": None, "recall": None, "support": 0}
    assert m["accuracy"] == 1.0 and m["macro_recall"] == 1.0
    report = markdown_report(m, "T")
    assert "| y | – | – | 0 |" in report and "| **x** | 2 | 0 |" in report


def test_loudest_window_picks_the_word_and_pads_short_clips():
    wave = np.zeros(40000, np.float32)
    wave[25000:27000] = 1.0
    clip = loudest_window(wave, 16000)
    assert len(clip) == 16000 and clip.sum() == 2000
    short = loudest_window(np.ones(100, np.float32), 16000)
    assert len(short) == 16000 and short[:100].all() and not short[100:].any()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    corpus = make_corpus(base / "data")
    cfg = config.load(TrainConfig, None, [f"data.root={corpus}", *TINY, "epochs=4"])
    train(cfg, base / "run")
    return base / "run", corpus


def read_predictions(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_evaluate_test_split_of_a_corpus(trained, tmp_path):
    run, corpus = trained
    assert cli_main(["evaluate", str(run), "--data-dir", str(corpus), "--out",
                     str(tmp_path / "ev")]) == 0
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    expected = sc.load_examples(corpus, "test", 12, 0)
    assert m["n"] == len(expected) and m["selection"] == "split 'test'"
    rows = read_predictions(tmp_path / "ev" / "predictions.csv")
    assert m["accuracy"] == pytest.approx(np.mean([r["label"] == r["predicted"] for r in rows]))
    cm = np.array(m["confusion"])
    assert cm.sum() == m["n"] and np.trace(cm) == m["correct"]
    for name in ("report.md", "confusion.png"):
        assert (tmp_path / "ev" / name).is_file()


def test_evaluate_a_partial_folder_without_lists(trained, tmp_path):
    run, corpus = trained
    part = tmp_path / "part"
    for word in ("yes", "cat"):  # one keyword and one word outside the ten
        shutil.copytree(corpus / word, part / word)
    (part / "yes" / "broken_nohash_0.wav").write_bytes(b"RIFF not really audio")
    out = tmp_path / "ev"
    code = cli_main(["evaluate", str(run), "--data-dir", str(part), "--out", str(out)])
    assert code == 1  # the broken clip is reported, the rest is scored
    m = json.loads((out / "metrics.json").read_text())
    n_files = len(list(part.glob("*/*.wav")))
    assert m["selection"] == "whole folder (no list files)"
    assert m["n"] == n_files - 1 and list(m["unreadable"]) == [str(part / "yes" / "broken_nohash_0.wav")]
    rows = read_predictions(out / "predictions.csv")
    assert {r["label"] for r in rows if "/cat/" in r["path"]} == {"_unknown_"}
    assert {r["label"] for r in rows if "/yes/" in r["path"]} == {"yes"}
    assert m["per_class"]["_unknown_"]["support"] == len(list((part / "cat").glob("*.wav")))
    assert m["by_word"]["cat"]["n"] == m["per_class"]["_unknown_"]["support"]
    assert m["accuracy"] == pytest.approx(np.mean([r["label"] == r["predicted"] for r in rows]))


def test_evaluate_missing_folder_is_a_one_line_error(trained, tmp_path, capsys):
    run, _ = trained
    code = cli_main(["evaluate", str(run), "--data-dir", str(tmp_path / "nope"), "--out",
                     str(tmp_path / "ev")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nope" in err[0]
    code = cli_main(["evaluate", str(tmp_path), "--data-dir", str(tmp_path), "--out",
                     str(tmp_path / "ev")])
    assert code == 2 and "model.pt" in capsys.readouterr().err


def test_predict_prints_one_line_per_file(trained, tmp_path, capsys):
    run, corpus = trained
    files = sorted((corpus / "no").glob("*.wav"))[:3]
    assert cli_main(["predict", str(run), *map(str, files), "--json", "--top-k", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    model = load_run(run)
    for line, path in zip(lines, files):
        item = json.loads(line)
        wave = torch.from_numpy(audio.load(path))[None]
        with torch.no_grad():  # the model applied directly to the clip
            ref = torch.softmax(model.model(model.frontend(wave)), -1)[0].numpy()
        order = np.argsort(-ref)[:4]
        assert item["path"] == str(path)
        assert [t["label"] for t in item["top"]] == [model.labels[i] for i in order]
        np.testing.assert_allclose([t["probability"] for t in item["top"]], ref[order], atol=1e-5)
        assert item["label"] == item["top"][0]["label"]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    assert cli_main(["predict", str(run), str(files[0]), str(bad)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 1 and str(files[0]) in captured.out
    assert "bad.wav" in captured.err and "empty" in captured.err
