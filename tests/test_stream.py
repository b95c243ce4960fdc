"""Streaming detection: chunked scores equal one offline pass, causality, the detector's
threshold and refractory period, stream scoring (hits, false alarms) and stream synthesis."""

import csv
import dataclasses

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from tdnn import inference as inf
from tdnn import streams
from tdnn.errors import UserError
from tdnn.features import Frontend, FrontendConfig
from tdnn.models import LayerSpec, ModelConfig, build_model, preset_config
from tdnn.streams import Detection, Event

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def random_model(cfg: ModelConfig, frontend: Frontend, seed: int = 0):
    """An untrained model with random weights and batch-norm statistics (eval mode)."""
    torch.manual_seed(seed)
    model = build_model(cfg, frontend.dim, len(LABELS))
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_wave(seconds: float = 2.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t * (1 + t)) + 0.05 * rng.standard_normal(len(t))
            ).astype(np.float32)


test_wave.__test__ = False

CASES = {
    "kws": (ModelConfig(preset="kws"), FrontendConfig()),
    "kws-causal-fbank-deltas": (ModelConfig(preset="kws", causal=True),
                                FrontendConfig(kind="fbank", deltas=2)),
    "strided-pooled-mfcc": (ModelConfig(layers=[
        LayerSpec(16, [-1, 0, 1], stride=2, pool="max", pool_width=3, pool_stride=2),
        LayerSpec(16, [-2, 0, 1]), LayerSpec(16, [0], pool="avg", pool_width=2)],
        stats="mean"), FrontendConfig(kind="mfcc", deltas=1)),
    "cnn2d": (ModelConfig(preset="cnn2d"), FrontendConfig(n_mels=24)),
    "attention": (ModelConfig(layers=[LayerSpec(16, [-2, 0, 2]), LayerSpec(16, [0])],
                              stats="attention", causal=True), FrontendConfig()),
    "kws-meanvar": (ModelConfig(preset="kws", causal=True), FrontendConfig(normalize="meanvar")),
    "kws-causal-pcen": (ModelConfig(preset="kws", causal=True), FrontendConfig(kind="pcen")),
    "mean-deltas": (ModelConfig(layers=[LayerSpec(16, [-2, 0, 2])]),
                    FrontendConfig(normalize="mean", deltas=1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_chunked_equals_offline(case):
    mcfg, fcfg = CASES[case]
    frontend = Frontend(fcfg)
    model = random_model(mcfg, frontend)
    wave = test_wave()
    t_ref, s_ref = inf.offline_scores(model, frontend, wave, 16000)
    n_frames = -(-frontend.num_frames(len(wave)) // model.stride)
    assert s_ref.shape == (n_frames, len(LABELS))
    for chunk in (777, 4000):
        t, s = inf.stream_scores(model, frontend, wave, 16000, chunk)
        np.testing.assert_array_equal(t, t_ref)
        np.testing.assert_allclose(s, s_ref, atol=2e-5, rtol=1e-5)


def test_offline_matches_model_on_one_clip():
    """On a 1 s clip, the last score is the model's own clip output (same frames, same head)."""
    frontend = Frontend(FrontendConfig())
    model = random_model(ModelConfig(preset="kws", causal=True), frontend)
    wave = test_wave(1.0)
    _, s = inf.offline_scores(model, frontend, wave, 16000)
    with torch.no_grad():
        ref = model(frontend(torch.from_numpy(wave)[None]))[0].numpy()
    np.testing.assert_allclose(s[-1], ref, atol=1e-5)


def test_window_scores_classify_isolated_clips():
    frontend = Frontend(FrontendConfig(normalize="meanvar"))
    model = random_model(ModelConfig(preset="kws"), frontend)
    wave = test_wave(2.5)
    times, logits = inf.window_scores(model, frontend, wave, 16000, hop_samples=1600)
    assert len(times) == 25 and times[0] == pytest.approx(0.1)
    with torch.no_grad():  # the window ending at 2.0 s is samples 16000..32000 as one clip
        ref = model(frontend(torch.from_numpy(wave[16000:32000])[None]))[0].numpy()
        first = model(frontend(torch.from_numpy(np.pad(wave[:1600], (14400, 0)))[None]))[0]
    np.testing.assert_allclose(logits[19], ref, atol=1e-5)
    np.testing.assert_allclose(logits[0], first.numpy(), atol=1e-5)


def test_causal_scores_ignore_the_future():
    """With a causal model a score never changes when audio after its time changes (beyond the
    frontend's half window)."""
    frontend = Frontend(FrontendConfig())
    model = random_model(ModelConfig(preset="kws", causal=True), frontend)
    wave = test_wave(2.0)
    other = wave.copy()
    cut = 16000
    other[cut:] = test_wave(1.0, seed=5)
    t, a = inf.offline_scores(model, frontend, wave, 16000)
    _, b = inf.offline_scores(model, frontend, other, 16000)
    safe = t * 16000 + frontend.n_fft // 2 <= cut
    assert safe.sum() > 90
    np.testing.assert_allclose(a[safe], b[safe], atol=1e-5)
    assert np.abs(a[~safe] - b[~safe]).max() > 1e-3


def test_symmetric_model_scores_wait_for_lookahead():
    frontend = Frontend(FrontendConfig())
    model = random_model(ModelConfig(preset="kws"), frontend)
    scorer = inf.StreamScorer(model, frontend, 16000)
    times, _ = scorer.push(test_wave(1.0))
    # the kws preset reads 25 future frames: a score is out only when its look-ahead is in
    assert len(times) and times[-1] <= 1.0 + 1e-9
    assert times[0] == pytest.approx(0.25)


def test_trailing_normalize_against_numpy():
    x = torch.randn(3, 30, dtype=torch.float64) * 5 + 40
    got = inf.trailing_normalize(x, 8, "meanvar", lo=2, hi=20)
    ref = np.stack([(x[:, t] - x[:, max(0, t - 7):t + 1].mean(1))
                    / x[:, max(0, t - 7):t + 1].std(1, unbiased=False).clamp(min=1e-5)
                    for t in range(2, 21)], axis=1)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-4)
    # a clip-long window at the clip's end is the frontend's own per-utterance normalisation
    fe = Frontend(FrontendConfig(normalize="meanvar"))
    wave = torch.from_numpy(test_wave(1.0))
    utt = fe(wave[None])[0]
    raw = inf.raw_frontend(fe)(wave[None])[0]
    last = inf.trailing_normalize(raw, raw.shape[-1], "meanvar", raw.shape[-1] - 1)
    np.testing.assert_allclose(last[:, 0].numpy(), utt[:, -1].numpy(), atol=1e-4)


def test_unstreamable_configs_are_user_errors():
    frontend = Frontend(FrontendConfig())
    kaldi = dataclasses.replace(preset_config("kaldi"), layers=[LayerSpec(8, [-1, 0, 1])])
    frame = random_model(kaldi, frontend)
    with pytest.raises(UserError, match="clip"):
        inf.StreamScorer(frame, frontend, 16000)


def probs_track(peaks: dict[int, tuple[int, float]], n: int = 100) -> np.ndarray:
    """Probabilities [n, 4]: mostly silence, with class `c` at probability `p` at frame i."""
    probs = np.zeros((n, len(LABELS)))
    probs[:, 0] = 1.0
    for i, (c, p) in peaks.items():
        probs[i] = (1 - p) / (len(LABELS) - 1)
        probs[i, c] = p
    return probs


def test_detector_threshold_and_refractory():
    times = np.arange(100) * 0.1
    # yes at 1.0 s (0.9), again at 1.5 s (inside 1 s refractory), no at 2.5 s (0.7: below 0.8),
    # no at 3.0 s (0.95), unknown at 5.0 s (never a keyword)
    probs = probs_track({10: (2, 0.9), 15: (2, 0.99), 25: (3, 0.7), 30: (3, 0.95), 50: (1, 1.0)})
    dets = inf.detect(LABELS, times, probs, threshold=0.8, refractory=1.0)
    assert [(d.time, d.label) for d in dets] == [(1.0, "yes"), (3.0, "no")]
    assert dets[0].score == pytest.approx(0.9)
    lower = inf.detect(LABELS, times, probs, threshold=0.6, refractory=0.4)
    assert [d.time for d in lower] == [1.0, 1.5, 2.5, 3.0]
    # the refractory period is per keyword: 'no' right after 'yes' still fires
    both = probs_track({10: (2, 0.9), 12: (3, 0.9), 14: (2, 0.9)})
    assert [(round(d.time, 6), d.label) for d in inf.detect(LABELS, times, both, 0.8, 1.0)] == [
        (1.0, "yes"), (1.2, "no")]
    # fed in pieces, the detector fires exactly as on the whole track
    det = inf.Detector(LABELS, 0.8, 1.0)
    pieces = [det(times[i:i + 7], probs[i:i + 7]) for i in range(0, 100, 7)]
    assert sum(pieces, []) == dets


def test_detector_rejects_bad_options():
    with pytest.raises(UserError):
        inf.Detector(LABELS, threshold=1.5)
    with pytest.raises(UserError):
        inf.Detector(LABELS, refractory=-1)
    with pytest.raises(UserError):
        inf.Detector(["_silence_", "_unknown_"])


def test_match_and_score_hand_counted():
    events = [Event("a.wav", "yes", 1.0, 1.5), Event("a.wav", "no", 4.0, 4.4),
              Event("a.wav", "yes", 8.0, 8.5), Event("b.wav", "no", 2.0, 2.5)]
    dets = {"a.wav": [Detection(1.8, "yes", 0.9),   # hit (within end + 1 s)
                      Detection(2.0, "yes", 0.9),   # repeat on a hit event: false alarm
                      Detection(4.2, "yes", 0.9),   # wrong word: false alarm
                      Detection(9.8, "yes", 0.9)],  # too late (8.5 + 1.0 < 9.8): false alarm
            "b.wav": [Detection(2.1, "no", 0.9)]}   # hit
    s = streams.score(dets, events, seconds=1800, tolerance=1.0)
    assert (s.hits, s.misses, s.false_alarms) == (2, 2, 3)
    assert s.miss_rate == 0.5 and s.fa_per_hour == pytest.approx(6.0)
    assert streams.match([Detection(0.9, "yes", 1.0)], events[:1]) == (0, 1)  # before start
    # the same, detection by detection: which events are hit, which detections are false alarms
    a_events = [e for e in events if e.file == "a.wav"]
    assert streams.assign(dets["a.wav"], a_events) == ([dets["a.wav"][0], None, None],
                                                       dets["a.wav"][1:])
    # the hits come 1.8 - 1.5 s after their keyword's end, and 2.1 - 2.5 s (before it)
    assert streams.latencies(dets, events) == pytest.approx([0.3, -0.4])
    point = streams.operating_point(dets, events, negative_s=1800)
    assert point["latency_s"]["median"] == pytest.approx(-0.05)
    assert point["latency_s"]["p90"] == pytest.approx(-0.4 + 0.9 * 0.7)  # numpy's linear rule


def test_reference_round_trip_and_det_plot(tmp_path):
    events = [Event("s.wav", "yes", 1.25, 1.75), Event("s.wav", "go", 3.0, 3.5)]
    streams.write_reference(events, tmp_path / "ref.csv")
    assert streams.read_reference(tmp_path / "ref.csv") == events
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError):
        streams.read_reference(tmp_path / "bad.csv")
    pts = {"threshold": [0.5, 0.9], "miss_rate": [0.1, 0.4], "fa_per_hour": [12.0, 1.0]}
    streams.plot_det({"a": pts, "b": pts}, tmp_path / "det.png")
    assert (tmp_path / "det.png").read_bytes()[:4] == b"\x89PNG"


def test_synth_streams_places_words_at_reference_times(tmp_path):
    from data_prep import synth_streams
    from sc_fixture import make_corpus
    from tdnn import audio

    corpus = make_corpus(tmp_path / "corpus", speakers=4, takes=1)
    events = synth_streams.build_streams(corpus, tmp_path / "streams", streams=2, seconds=12.0,
                                         snr_db=(30.0, 30.0), seed=1)
    assert events and {e.file for e in events} <= {"stream_000.wav", "stream_001.wav"}
    assert streams.read_reference(tmp_path / "streams" / "reference.csv") == [
        Event(e.file, e.label, round(e.start, 4), round(e.end, 4)) for e in events]
    assert {e.label for e in events} <= {"yes", "no", "up", "down", "left"}  # 'cat' is no keyword
    wave = audio.load(tmp_path / "streams" / "stream_000.wav")
    assert len(wave) == 12 * 16000

    def rms(a, b):
        return np.sqrt(np.mean(wave[int(a * 16000):int(b * 16000)] ** 2))

    for e in (e for e in events if e.file == "stream_000.wav"):
        assert rms(e.start, e.end) > 5 * rms(e.start - 0.15, e.start - 0.05) or e.start < 0.2


def test_cli_stream_file_and_stdin_equal_offline(tmp_path, capsys, monkeypatch):
    import io
    import json
    import sys

    from run_fixture import make_run
    from tdnn import audio
    from tdnn.cli import main
    from tdnn.runs import load_run

    run_dir = make_run(tmp_path / "run", ["model.preset=kws", "model.causal=true"])
    wave = test_wave(3.0)
    audio.save(tmp_path / "a.wav", wave)
    wave = audio.load(tmp_path / "a.wav")  # as written (16-bit)
    loaded = load_run(run_dir)
    times, logits = inf.offline_scores(loaded.model, loaded.frontend, wave, 16000)
    probs = inf.softmax(logits)
    threshold = float(np.quantile(probs[:, 2:].max(1), 0.7))  # fires a few times on noise
    expected = inf.detect(loaded.labels, times, probs, threshold, 0.5)
    assert expected
    opts = ["--threshold", str(threshold), "--refractory", "0.5", "--json"]
    assert main(["stream", str(run_dir), str(tmp_path / "a.wav"), "--chunk-ms", "70"] + opts) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(g["time"], g["label"]) for g in got] == [(round(d.time, 3), d.label) for d in expected]
    pcm = (np.round(wave * 32768).clip(-32768, 32767).astype("<i2")).tobytes()
    monkeypatch.setattr(sys, "stdin", type("S", (), {"buffer": io.BytesIO(pcm)})())
    assert main(["stream", str(run_dir), "-"] + opts) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(g["time"], g["label"]) for g in got] == [(round(d.time, 3), d.label) for d in expected]


def test_cli_stream_eval_writes_metrics_and_det(tmp_path, capsys):
    import json

    from data_prep import synth_streams
    from run_fixture import make_run
    from sc_fixture import make_corpus
    from tdnn.cli import main

    corpus = make_corpus(tmp_path / "corpus", speakers=4, takes=1)
    events = synth_streams.build_streams(corpus, tmp_path / "streams", streams=1, seconds=8.0)
    run_dir = make_run(tmp_path / "run", ["model.preset=kws", "model.causal=true"])
    out = tmp_path / "eval"
    assert main(["stream", str(run_dir), "--eval", str(tmp_path / "streams"), "--out", str(out),
                 "--threshold", "0.3"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    # hits and false alarms against a maximum bipartite matching of the written detections to the
    # events (scipy's assignment solver; an event and a detection pair up when the label matches
    # and the time falls in [start, end + tolerance])
    rows = list(csv.DictReader(open(out / "detections.csv")))
    allowed = np.array([[r["file"] == e.file and r["label"] == e.label
                         and e.start <= float(r["time"]) <= e.end + 1.0 for e in events]
                        for r in rows], dtype=float).reshape(len(rows), len(events))
    pairs = linear_sum_assignment(-allowed)
    hits = int(allowed[pairs].sum())
    assert (m["hits"], m["false_alarms"]) == (hits, len(rows) - hits)
    assert m["hours"] == pytest.approx(8 / 3600)
    det = m["det"]
    assert len(det["threshold"]) == len(det["miss_rate"]) == len(det["fa_per_hour"]) > 1
    # one point per distinct (misses, false alarms), thresholds rising
    assert all(np.diff(det["threshold"]) > 0)
    points = list(zip(det["miss_rate"], det["fa_per_hour"]))
    assert all(a != b for a, b in zip(points, points[1:]))
    # a higher threshold never gives more detections of either kind
    assert all(np.diff(m["det"]["fa_per_hour"]) <= 1e-9)
    assert (out / "det.png").is_file() and (out / "detections.csv").is_file()
    assert main(["stream", str(run_dir), "--eval", str(tmp_path / "streams")]) == 2
    assert "--out" in capsys.readouterr().err
