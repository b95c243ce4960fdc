"""Second-stage verification (tdnn.verify): the windows it cuts, the score it gives a detection,
its refusals, and stream candidates re-scored at a gate."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tdnn import verify
from tdnn.errors import UserError
from tdnn.runs import Run


def test_windows_hand_cut():
    wave = np.arange(1, 101, dtype=np.float32)  # 10 s at 10 Hz: sample i holds i + 1
    a, b, c = verify.windows(wave, 2.0, 10, 10)  # ends at 1.7, 1.9, 2.1 s
    assert a.tolist() == list(range(8, 18))
    assert b.tolist() == list(range(10, 20))
    assert c.tolist() == list(range(12, 22))
    # past the start: zeros first; past the end: zeros after
    assert verify.windows(wave, 0.5, 10, 10, ends=(0.0,))[0].tolist() == [0] * 5 + [1, 2, 3, 4, 5]
    assert verify.windows(wave, 9.8, 10, 10, ends=(0.5,))[0].tolist() == list(range(94, 101)) + [0] * 3
    assert verify.windows(wave, -3.0, 10, 10, ends=(0.0,))[0].tolist() == [0] * 10


class Energy(torch.nn.Module):
    """Logits [0, sum of squares]: class 1's probability is the sigmoid of the window's energy."""

    def forward(self, x):
        return torch.stack([torch.zeros(len(x)), (x ** 2).sum(-1)], dim=-1)


def energy_verifier(rate: int = 10, clip: int = 10) -> Run:
    cfg = SimpleNamespace(data=SimpleNamespace(clip_samples=clip),
                          frontend=SimpleNamespace(sample_rate=rate))
    return Run(Energy(), torch.nn.Identity(), ["_silence_", "yes"], cfg, Path("verifier"))


def test_rescored_takes_the_best_window_of_the_keyword():
    wave = np.zeros(100, dtype=np.float32)
    wave[15:20] = 1.0  # a burst at 1.5-2.0 s
    times, scores = verify.rescored(energy_verifier(), wave, {"yes": [2.0, 6.0]}, 10)["yes"]
    assert times.tolist() == [2.0, 6.0]
    # windows ending 1.7 / 1.9 / 2.1 s hold 2 / 4 / 5 burst samples; at 6 s none
    assert scores[0] == pytest.approx(1 / (1 + math.exp(-5)), rel=1e-6)
    assert scores[1] == pytest.approx(0.5, rel=1e-6)
    assert verify.rescored(energy_verifier(), wave, {"yes": []}, 10)["yes"][1].size == 0


def test_verifier_refusals():
    wave = np.zeros(100, dtype=np.float32)
    with pytest.raises(UserError, match="--gate 0.0: use a probability"):
        verify.SecondStage(energy_verifier(), 0.0)
    with pytest.raises(UserError, match="--verify verifier: it has no class 'no'"):
        verify.rescored(energy_verifier(), wave, {"no": [2.0]}, 10)
    with pytest.raises(UserError, match="--verify verifier: it takes 10 Hz audio, the detector 16 Hz"):
        verify.rescored(energy_verifier(), wave, {"yes": [2.0]}, 16)


def test_stream_candidates_rescored_at_the_gate(tmp_path):
    """With a verifier, a stream's candidates are the detections at the gate, each scored by
    the verifier's probability of its keyword on 1 s windows cut here with numpy."""
    from data_prep import synth_streams
    from run_fixture import make_run
    from sc_fixture import make_corpus
    from tdnn import audio, streams
    from tdnn.inference import predict_waves, stream_tracks
    from tdnn.runs import load_run

    corpus = make_corpus(tmp_path / "corpus", speakers=4, takes=1)
    synth_streams.build_streams(corpus, tmp_path / "streams", streams=1, seconds=8.0)
    run = load_run(make_run(tmp_path / "run", ["model.preset=kws", "model.causal=true"]))
    verifier = load_run(make_run(tmp_path / "verifier", ["model.preset=kws"], seed=1))
    _, plain, _ = stream_tracks(run, tmp_path / "streams")
    _, cands, _ = stream_tracks(run, tmp_path / "streams", second=verify.SecondStage(verifier, 0.2))
    (name,) = plain
    fired = streams.detections_at(plain, dict.fromkeys(plain[name], 0.2), 1.0)[name]
    assert fired, "the random detector should fire somewhere at 0.2"
    wave = audio.load(tmp_path / "streams" / name, run.sample_rate)
    for label, (times, scores) in cands[name].items():
        mine = [d.time for d in fired if d.label == label]
        assert times.tolist() == mine
        k = verifier.labels.index(label)
        for t, s in zip(mine, scores):
            cuts = []
            for end in (-0.3, -0.1, 0.1):
                stop = int(round((t + end) * 16000))
                padded = np.concatenate([np.zeros(16000), wave, np.zeros(16000)])
                cuts.append(padded[stop:stop + 16000].astype(np.float32))
            probs = predict_waves(verifier.model, verifier.frontend, cuts, 16000)
            assert s == pytest.approx(probs[:, k].max(), rel=1e-5)
