"""Clip prediction: top-k, the loudest-window rule, batch predictions against the model, and
`tdnn predict` over files and folders with bad files reported and skipped."""

import json

import numpy as np
import pytest
import torch

from run_fixture import LABELS, make_run
from tdnn import audio
from tdnn import inference as inf
from tdnn.cli import main
from tdnn.runs import load_run


def test_top_k_hand_case():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    assert inf.top_k(probs, ["a", "b", "c"], 2) == [[("b", 0.6), ("c", 0.3)],
                                                    [("a", 0.5), ("b", 0.25)]]  # tie: first
    assert len(inf.top_k(probs, ["a", "b", "c"], 10)[0]) == 3


def test_loudest_window():
    wave = np.zeros(100, dtype=np.float32)
    wave[60:70] = 1.0
    np.testing.assert_array_equal(inf.loudest_window(wave, 20), wave[50:70])
    short = inf.loudest_window(wave[:30], 40)
    assert len(short) == 40 and not short[30:].any()


def test_predict_waves_is_softmax_of_model(tmp_path):
    run = load_run(make_run(tmp_path / "run"))
    rng = np.random.default_rng(0)
    waves = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (16000, 16000, 9000)]
    probs = inf.predict_waves(run.model, run.frontend, waves, 16000, batch_size=2)
    batch = torch.from_numpy(np.stack([waves[0], waves[1], np.pad(waves[2], (0, 7000))]))
    with torch.no_grad():
        ref = torch.softmax(run.model(run.frontend(batch)), -1).numpy()
    np.testing.assert_allclose(probs, ref, atol=1e-5)


@pytest.fixture
def audio_tree(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "clips"
    for rel in ("a.wav", "sub/b.wav", "sub/deeper/c.flac"):
        audio.save(root / rel, 0.1 * rng.standard_normal(16000).astype(np.float32))
    (root / "bad.wav").write_bytes(b"RIFF not really audio")
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_expand_paths_recurses_and_keeps_empty_folders(audio_tree):
    found = inf.expand_paths([audio_tree / "clips", audio_tree / "empty", audio_tree / "x.wav"])
    names = [p.relative_to(audio_tree).as_posix() for p in found]
    assert names == ["clips/a.wav", "clips/bad.wav", "clips/sub/b.wav",
                     "clips/sub/deeper/c.flac", "empty", "x.wav"]


def test_cli_predict_json_folders_and_bad_files(audio_tree, capsys):
    run_dir = make_run(audio_tree / "run")
    code = main(["predict", str(run_dir), str(audio_tree / "clips"), str(audio_tree / "empty"),
                 "--json", "--top-k", "2", "--batch-size", "2"])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1  # some files failed, the good ones were still scored
    by_name = {row["path"].split("/")[-1]: row for row in rows}
    assert set(by_name) == {"a.wav", "bad.wav", "b.wav", "c.flac", "empty"}
    assert "error" in by_name["bad.wav"] and "no audio files" in by_name["empty"]["error"]
    assert "skipped" in captured.err
    run = load_run(run_dir)
    wave = audio.load(audio_tree / "clips" / "a.wav")
    with torch.no_grad():  # the model applied directly to the one-second clip
        probs = torch.softmax(run.model(run.frontend(torch.from_numpy(wave)[None])), -1)[0].numpy()
    good = by_name["a.wav"]
    assert [t["label"] for t in good["top"]] == [LABELS[i] for i in np.argsort(-probs)[:2]]
    assert good["probability"] == pytest.approx(probs.max(), abs=1e-6)


def test_cli_predict_table_and_errors(audio_tree, capsys):
    run_dir = make_run(audio_tree / "run")
    assert main(["predict", str(run_dir), str(audio_tree / "clips" / "a.wav")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(audio_tree / "clips" / "a.wav") + "\t") and len(line.split("  ")) == 3
    assert main(["predict", str(run_dir), str(audio_tree / "clips"), "--top-k", "0"]) == 2
    assert main(["predict", str(audio_tree / "nope"), str(audio_tree / "clips")]) == 2
