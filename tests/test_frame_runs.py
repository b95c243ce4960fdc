"""A frame-head (phone) run through the one trainer: resumes exactly, and `tdnn predict`,
`tdnn evaluate` and `tdnn export` read its run folder like a keyword run's."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tdnn.cli import main as cli_main
from tdnn.config import FrontendConfig, LayerSpec, ModelConfig, features_config
from tdnn.experiments import tasks
from tdnn.models import build_model
from tdnn.runs import load_checkpoint, load_run
from tdnn.train import fit
from tdnn.train_data import FeatureData, predict_features

sys.path.insert(0, str(Path(__file__).parent))
from test_timit import write_phn, write_sphere  # noqa: E402

SR = 16000
FE = FrontendConfig(n_mels=20, normalize="meanvar")


def utterance(rng) -> tuple[np.ndarray, list]:
    """Silence, a 300 Hz vowel 'aa', white-noise 's', 'aa' again, silence: random lengths."""
    spans = [("h#", 0.1), ("aa", 0.3), ("s", 0.25), ("aa", 0.3), ("h#", 0.1)]
    pieces, segments, start = [], [], 0
    for phone, seconds in spans:
        n = int(SR * seconds * rng.uniform(0.7, 1.3))
        t = np.arange(n) / SR
        piece = {"h#": 0.003 * rng.standard_normal(n),
                 "aa": 0.3 * np.sin(2 * np.pi * 300 * t) + 0.1 * np.sin(2 * np.pi * 900 * t),
                 "s": 0.1 * rng.standard_normal(n)}[phone]
        pieces.append(piece)
        segments.append((start, start + n, phone))
        start += n
    return np.concatenate(pieces), segments


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("timit")
    rng = np.random.default_rng(0)
    for split, speakers in (("TRAIN", 6), ("TEST", 2)):
        for s in range(speakers):
            for u in range(3):
                wave, segments = utterance(rng)
                stem = root / split / "DR1" / f"{split[:2]}SPK{s}" / f"SX{u}"
                write_sphere(stem.with_suffix(".WAV"), np.round(wave * 32767).astype(np.int16))
                write_phn(stem.with_suffix(".PHN"), segments)
    return root


class Killed(Exception):
    """Stands in for a killed process."""


def train_run(task, run_dir, epochs, resume=False, on_step=None):
    cfg = features_config(epochs, batch_size=4, lr=0.01, frontend=FE, threads=1,
                          model=ModelConfig(layers=[LayerSpec(16, [-2, 0, 2]),
                                                    LayerSpec(16, [-2, 0, 2])], head="frame"))
    torch.manual_seed(0)
    model = build_model(cfg.model, task.in_dim, len(task.labels))
    data = FeatureData(task.x_train, task.y_train, task.labels, cfg.data.crop_frames, seed=0)
    fit(model, data, cfg, run_dir, resume=resume, on_step=on_step)
    return model


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    task = tasks.frame_task("phones", corpus, FE)
    run_dir = tmp_path_factory.mktemp("runs") / "phones"
    return task, train_run(task, run_dir, 6), run_dir


def test_stopped_frame_run_resumes_to_the_same_weights(trained, tmp_path):
    task, _, run_dir = trained
    def kill(step):
        if step == 23:  # mid-way through epoch 5 (5 steps an epoch); last.pt holds epoch 4
            raise Killed

    with pytest.raises(Killed):
        train_run(task, tmp_path / "r", 6, on_step=kill)
    train_run(task, tmp_path / "r", 6, resume=True)
    whole, resumed = (load_checkpoint(d / "model.pt")["state_dict"] for d in (run_dir, tmp_path / "r"))
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_evaluate_scores_the_run_as_the_trainer_saw_it(trained, corpus, tmp_path):
    task, model, run_dir = trained
    logits = predict_features(model, task.x_test)
    expected = np.mean(np.concatenate([lg.argmax(0) == y.numpy()
                                       for lg, y in zip(logits, task.y_test)]))
    assert expected > 0.9  # three acoustically distinct phones are easy
    code = cli_main(["evaluate", str(run_dir), "--data-dir", str(corpus),
                     "--out", str(tmp_path / "eval")])
    assert code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    # the waveform path (torch frontend on each file) and the cached-feature path agree
    assert metrics["frame_accuracy"] == pytest.approx(expected, abs=0.01)
    assert metrics["n_utterances"] == 6 and set(metrics["boundary"]) == {"pm1", "pm2", "pm3"}
    assert "frame accuracy" in (tmp_path / "eval" / "report.md").read_text()


def test_predict_labels_segments_at_the_phone_boundaries(trained, corpus, capsys):
    _, _, run_dir = trained
    wav = corpus / "TEST" / "DR1" / "TESPK0" / "SX0.WAV"
    phn = [line.split() for line in wav.with_suffix(".PHN").read_text().splitlines()]
    assert cli_main(["predict", str(run_dir), str(wav), "--json"]) == 0
    segments = json.loads(capsys.readouterr().out)["segments"]
    labels = [s["label"] for s in segments if s["end"] - s["start"] > 0.03]
    assert labels == ["sil", "aa", "s", "aa", "sil"]
    # every reference boundary has a predicted one within 2 frames (20 ms)
    predicted = np.array([s["start"] for s in segments[1:]])
    for _, end, _ in phn[:-1]:
        assert np.min(np.abs(predicted - int(end) / SR)) <= 0.02


def test_export_keeps_the_frame_axis(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    _, _, run_dir = trained
    code = cli_main(["export", str(run_dir), "--out", str(tmp_path / "phones.onnx")])
    assert code == 0
    sidecar = json.loads((tmp_path / "phones.json").read_text())
    assert sidecar["output_shape"] == ["batch", "classes", "frames"]
    from tdnn.export import onnx_run, onnx_session
    run = load_run(run_dir)
    wave = torch.from_numpy(np.random.default_rng(1).standard_normal((1, 24000)).astype("f4") * 0.1)
    got = onnx_run(onnx_session(tmp_path / "phones.onnx"), wave)
    with torch.no_grad():
        want = run.model(run.frontend(wave)).numpy()
    assert got.shape == want.shape == (1, len(run.labels), 151)
    assert np.abs(got - want).max() < 1e-3
