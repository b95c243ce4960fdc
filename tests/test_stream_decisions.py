"""Operating points on streams: exact intervals against published values, the vectorised
detector against `Detector`, threshold choice for a false-alarm budget on hand-made scores,
negative hours, thresholds files, and the `tdnn stream --eval` / `--thresholds` round trip."""

import itertools
import json

import numpy as np
import pytest

from tdnn import inference as inf
from tdnn import streams
from tdnn.errors import UserError
from tdnn.runs import load_run
from tdnn.streams import Detection, Event

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def test_intervals_match_published_values():
    # Clopper-Pearson and Wilson 95% for 3/10 (Brown, Cai & DasGupta 2001 tables; R binom.test)
    assert streams.clopper_pearson(3, 10) == pytest.approx((0.06674, 0.65245), abs=1e-5)
    assert streams.wilson(3, 10) == pytest.approx((0.10779, 0.60322), abs=1e-5)
    assert streams.clopper_pearson(0, 20)[0] == 0.0
    assert streams.clopper_pearson(0, 20)[1] == pytest.approx(0.16843, abs=1e-5)
    # Garwood exact Poisson 95%: 0 events -> [0, 3.689]; 3 events -> [0.619, 8.767] (per unit)
    assert streams.poisson_rate(0, 1.0) == pytest.approx((0.0, 3.68888), abs=1e-4)
    assert streams.poisson_rate(3, 2.0) == pytest.approx((0.61867 / 2, 8.76727 / 2), abs=1e-4)


def test_negative_seconds_hand_counted():
    events = [Event("a", "yes", 10, 12), Event("a", "no", 11, 15), Event("b", "yes", 99.5, 100)]
    # a: windows [10, 13] and [11, 16] merge into 6 s; b: [99.5, 100] (clipped at its end)
    assert streams.negative_seconds(events, {"a": 100.0, "b": 100.0}, 1.0) == pytest.approx(193.5)


def random_track(seed: int, n: int = 3000):
    rng = np.random.default_rng(seed)
    times = np.arange(n) * 0.03
    probs = rng.dirichlet(np.full(len(LABELS), 0.3), size=n)
    return times, probs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_detections_equal_detector(seed):
    times, probs = random_track(seed)
    cands = {"s": streams.keyword_candidates(times, probs, LABELS, [2, 3])}
    for th, refr in ((0.5, 1.0), ({"yes": 0.7, "no": 0.35}, 0.27), (0.9, 0.0)):
        ths = th if isinstance(th, dict) else {"yes": th, "no": th}
        got = streams.detections_at(cands, ths, refr)["s"]
        assert got == inf.detect(LABELS, times, probs, th, refr)


def test_patience_holds_each_class_lowest_over_its_frames_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]])
    # three frames, the two before the stream at 0
    want = np.array([[0.0, 0.0], [0.0, 0.0], [0.2, 0.1], [0.2, 0.2], [0.2, 0.3]])
    assert np.array_equal(inf.Patience(3)(probs), want)
    assert np.array_equal(inf.Patience(1)(probs), probs)
    with pytest.raises(UserError, match="at least one frame"):
        inf.Patience(0)


@pytest.mark.parametrize("frames", [2, 7, 40])
def test_patience_in_pieces_equals_one_pass(frames):
    _, probs = random_track(3, 500)
    whole = inf.Patience(frames)(probs)
    held, cuts = inf.Patience(frames), [0, 1, 5, 6, 90, 91, 300, 500]
    pieces = np.concatenate([held(probs[a:b]) for a, b in zip(cuts, cuts[1:])])
    assert np.array_equal(pieces, whole)
    # against the definition: the lowest of the last `frames` rows, zeros before the stream
    padded = np.vstack([np.zeros((frames - 1, probs.shape[1])), probs])
    ref = np.array([padded[i:i + frames].min(axis=0) for i in range(len(probs))])
    assert np.array_equal(whole, ref)


def test_detector_with_patience_fires_once_a_keyword_held_its_threshold():
    times = np.arange(8) * 0.1
    yes = np.array([0.9, 0.1, 0.9, 0.9, 0.9, 0.2, 0.9, 0.9])
    probs = np.stack([np.zeros(8), 1 - yes, yes, np.zeros(8)], axis=1)
    assert [d.time for d in inf.detect(LABELS, times, probs, 0.8, 0.0)] == pytest.approx(
        [0.0, 0.2, 0.3, 0.4, 0.6, 0.7])
    # three frames at or above 0.8: only the run of three at 0.2-0.4 s, firing at its third
    assert [d.time for d in inf.detect(LABELS, times, probs, 0.8, 0.0, patience=3)] == \
        pytest.approx([0.4])
    assert inf.patience_frames(0.4, 0.01) == 40 and inf.patience_frames(0.0, 0.01) == 1
    with pytest.raises(UserError, match="patience -1"):
        inf.patience_frames(-1, 0.01)


def hand_candidates():
    """One hour-long stream, keyword 'yes' at 1 s and 5 s; 'yes' scores (time, probability):
    the two words at 0.9 and 0.6, three false alarms at 0.95, 0.7 and 0.5."""
    t = np.array([1.2, 5.2, 10.0, 20.0, 30.0])
    p = np.array([0.9, 0.6, 0.95, 0.7, 0.5])
    cands = {"s": {"yes": (t, p), "no": (np.array([40.0]), np.array([0.8]))}}
    events = [Event("s", "yes", 1.0, 1.5), Event("s", "yes", 5.0, 5.5)]
    return cands, events


def test_choose_thresholds_hand_made_scores():
    cands, events = hand_candidates()
    grid = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    # 2 FA/h over 1 h for two keywords: one false alarm each. 'yes': >= 0.8 keeps one (0.95),
    # 0.7 would add a second; 'no': its only score (0.8) is a false alarm, so every grid value
    # down to 0.5 keeps it at one
    th = streams.choose_thresholds(cands, events, 3600.0, 2.0, 1.0, 1.0, grid)
    assert th == {"yes": 0.8, "no": 0.5}
    # 0.5 FA/h: no false alarm allowed: 'yes' above 0.95, 'no' above 0.8
    th = streams.choose_thresholds(cands, events, 3600.0, 0.5, 1.0, 1.0, grid)
    assert th == {"yes": 0.99, "no": 0.9}
    dets = streams.detections_at(cands, {"yes": 0.8, "no": 0.9}, 1.0)
    point = streams.operating_point(dets, events, 3600.0)
    assert (point["misses"], point["false_alarms"]) == (1, 1)
    assert point["miss_ci"] == pytest.approx(list(streams.clopper_pearson(1, 2)))
    assert streams.misses_by_stream(dets, events) == ([1], [2])  # one stream, one of two missed
    assert point["miss_ci_streams"] == [0.5, 0.5]  # one stream: every resample is that stream
    assert point["fa_per_hour_ci"] == pytest.approx(list(streams.poisson_rate(1, 1.0)))
    assert point["per_keyword"]["yes"] == {"hits": 1, "keywords": 2, "false_alarms": 1}


def test_default_grid_sets_thresholds_just_above_the_negatives():
    # the default grid steps by 0.001: 'yes' with no false alarm allowed sits just above its
    # highest negative (0.95), with one allowed just above the second (0.7); 'no' just above
    # its only score (0.8), or at the grid's lowest value when that one may stay
    cands, events = hand_candidates()
    assert streams.choose_thresholds(cands, events, 3600.0, 0.5) == pytest.approx(
        {"yes": 0.951, "no": 0.801})
    assert streams.choose_thresholds(cands, events, 3600.0, 2.0) == pytest.approx(
        {"yes": 0.701, "no": 0.001})


def test_det_points_keep_each_distinct_point_at_its_highest_threshold():
    # a sweep in grid order (thresholds rising): counts repeat while no score lies between
    sweep = [(0.1, streams.Score(2, 0, 5, 1.0)), (0.2, streams.Score(2, 0, 5, 1.0)),
             (0.3, streams.Score(1, 1, 5, 1.0)), (0.4, streams.Score(1, 1, 2, 1.0)),
             (0.5, streams.Score(1, 1, 2, 1.0)), (0.6, streams.Score(1, 1, 2, 1.0))]
    assert streams.det_points(sweep) == {"threshold": [0.2, 0.3, 0.6],
                                         "miss_rate": [0.0, 0.5, 0.5],
                                         "fa_per_hour": [5.0, 5.0, 2.0]}


def test_pooled_thresholds_hand_made_scores():
    cands, events = hand_candidates()
    grid = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    # 2 FA/h over 1 h, pooled: both false alarms may go to 'yes', whose 0.6 hits both words
    # (the equal share, one each, hits one); 'no' has no word to hit, so it stays off
    assert streams.pooled_thresholds(cands, events, 3600.0, 2.0, 1.0, 1.0, grid) == {
        "yes": 0.6, "no": 1.0}
    # one false alarm: 0.9 and 0.8 both hit one word with one false alarm; the higher is kept
    assert streams.pooled_thresholds(cands, events, 3600.0, 1.0, 1.0, 1.0, grid) == {
        "yes": 0.9, "no": 1.0}
    # none: no grid value above 0.95 hits a word, so both stay off
    assert streams.pooled_thresholds(cands, events, 3600.0, 0.5, 1.0, 1.0, grid) == {
        "yes": 1.0, "no": 1.0}


def test_pooled_thresholds_equal_exhaustive_search():
    # three keywords on random tracks: the dynamic programme finds the best of every
    # combination of grid thresholds (a slow reference: all 5^3 of them)
    times = np.arange(600) * 0.03
    labels = ["_silence_", "_unknown_", "yes", "no", "up"]
    probs = np.random.default_rng(3).dirichlet(np.full(5, 0.3), size=600)
    cands = {"s": streams.keyword_candidates(times, probs, labels, [2, 3, 4])}
    rng = np.random.default_rng(4)
    events = [Event("s", str(rng.choice(labels[2:])), t, t + 0.3)
              for t in np.sort(rng.choice(np.arange(0, 17, 0.5), 12, replace=False))]
    grid = np.array([0.5, 0.7, 0.8, 0.9, 0.97])
    seconds = 3600.0
    for budget in (0.0, 3.0, 8.0, 20.0):
        got = streams.pooled_thresholds(cands, events, seconds, budget, 1.0, 1.0, grid)
        s = streams.score(streams.detections_at(cands, got, 1.0), events, seconds)
        assert s.false_alarms <= budget
        best = 0
        for combo in itertools.product([*grid, 1.0], repeat=3):
            t = streams.score(streams.detections_at(cands, dict(zip(labels[2:], combo)), 1.0),
                              events, seconds)
            if t.false_alarms <= budget:
                best = max(best, t.hits)
        assert s.hits == best


def test_thresholds_file_round_trip_and_errors(tmp_path):
    budgets = {"0.5": {"yes": 0.99, "no": 0.9}, "1": {"yes": 0.8, "no": 0.5}}
    path = tmp_path / "thresholds.json"
    streams.write_thresholds(path, budgets, 0.7, "1", "dev", 5.2, patience=0.3)
    assert streams.read_thresholds(path) == (budgets, "1", 0.7, 0.3)
    old = json.loads(path.read_text())
    del old["patience"]  # a file from before patience: none
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert streams.read_thresholds(tmp_path / "old.json")[3] == 0.0
    (tmp_path / "neg.json").write_text(json.dumps(old | {"patience": -1}))
    with pytest.raises(UserError, match="neg.json"):
        streams.read_thresholds(tmp_path / "neg.json")
    assert streams.read_thresholds(path, 0.5)[1] == "0.5"
    with pytest.raises(UserError, match="budget 10 false alarms per hour"):
        streams.read_thresholds(path, 10)
    with pytest.raises(UserError, match="not found"):
        streams.read_thresholds(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="bad.json"):
        streams.read_thresholds(tmp_path / "bad.json")
    with pytest.raises(UserError, match="no"):
        inf.Detector(LABELS, {"yes": 0.5})


def stream_and_run(tmp_path):
    """An 8 s stream of a small synthetic corpus in tmp_path/streams and an untrained causal kws
    run; the run's folder."""
    from data_prep import synth_streams
    from run_fixture import make_run
    from sc_fixture import make_corpus

    corpus = make_corpus(tmp_path / "corpus", speakers=4, takes=1)
    synth_streams.build_streams(corpus, tmp_path / "streams", streams=1, seconds=8.0)
    return make_run(tmp_path / "run", ["model.preset=kws", "model.causal=true"])


def test_cli_eval_writes_thresholds_used_by_detection(tmp_path, capsys):
    from tdnn.cli import main

    run_dir = stream_and_run(tmp_path)
    out = tmp_path / "dev"
    assert main(["stream", str(run_dir), "--eval", str(tmp_path / "streams"), "--out", str(out),
                 "--fa-per-hour", "2", "--refractory", "0.5"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["operating_points"]) == {"0.5", "1", "2", "10"}
    doc = json.loads((out / "thresholds.json").read_text())
    assert doc["default_fa_per_hour"] == "2" and doc["refractory"] == 0.5
    assert doc["patience"] == 0.0
    for b, p in m["operating_points"].items():
        assert p["fa_per_hour"] <= float(b) + 1e-9  # chosen on these streams: within budget
        assert p["negative_hours"] == pytest.approx(m["negative_hours"])
    # scoring the same streams with the file gives the same operating points
    again = tmp_path / "again"
    assert main(["stream", str(run_dir), "--eval", str(tmp_path / "streams"), "--out",
                 str(again), "--thresholds", str(out / "thresholds.json")]) == 0
    m2 = json.loads((again / "metrics.json").read_text())
    for b, p in m["operating_points"].items():
        assert m2["given_thresholds"][b]["misses"] == p["misses"]
        assert m2["given_thresholds"][b]["false_alarms"] == p["false_alarms"]
    capsys.readouterr()
    wav = str(tmp_path / "streams" / "stream_000.wav")
    assert main(["stream", str(run_dir), wav, "--thresholds", str(out / "thresholds.json"),
                 "--fa-per-hour", "3"]) == 2
    assert "--fa-per-hour 3" in capsys.readouterr().err
    assert main(["stream", str(run_dir), wav, "--fa-per-hour", "1"]) == 2
    assert "--thresholds" in capsys.readouterr().err
    assert main(["stream", str(run_dir), wav, "--patience", "-0.1"]) == 2
    assert "--patience -0.1" in capsys.readouterr().err


def test_cli_patience_is_chosen_with_and_kept_in_the_thresholds_file(tmp_path, capsys):
    from tdnn.cli import main

    run_dir = stream_and_run(tmp_path)
    loaded = load_run(run_dir)
    wav = tmp_path / "streams" / "stream_000.wav"
    times, logits = inf.offline_scores(loaded.model, loaded.frontend,
                                       inf.audio.load(wav, loaded.sample_rate),
                                       loaded.clip_samples)
    probs = inf.softmax(logits)
    # a threshold the fixture's untrained model reaches now and then
    th = round(float(np.quantile(probs[:, 2:].max(axis=1), 0.8)), 4)
    frames = inf.patience_frames(0.3, inf.score_period(loaded.model, loaded.frontend))
    want = inf.detect(loaded.labels, times, probs, th, 1.0, frames)
    assert want and frames > 1
    assert len(want) < len(inf.detect(loaded.labels, times, probs, th, 1.0))
    out = tmp_path / "dev"
    assert main(["stream", str(run_dir), "--eval", str(tmp_path / "streams"), "--out", str(out),
                 "--patience", "0.3", "--threshold", str(th)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["patience"] == 0.3 and m["false_alarms"] + m["hits"] == len(want)
    assert json.loads((out / "thresholds.json").read_text())["patience"] == 0.3
    # chunked streaming fires exactly where the held offline scores do
    capsys.readouterr()
    assert main(["stream", str(run_dir), str(wav), "--threshold", str(th), "--patience", "0.3",
                 "--chunk-ms", "70", "--json"]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(g["time"], g["label"]) for g in got] == [(round(d.time, 3), d.label) for d in want]


def test_stream_bootstrap_known_answers():
    # two streams of 10 keywords, all missed in one and none in the other: a resample holds
    # both (rate 0.5, probability 1/2) or one twice (0 or 1, probability 1/4 each), so the
    # 2.5% and 97.5% quantiles are 0 and 1
    assert streams.stream_bootstrap([0, 10], [10, 10]) == (0.0, 1.0)
    # every stream at the same rate: no spread
    assert streams.stream_bootstrap([3, 6, 9], [10, 20, 30]) == pytest.approx((0.3, 0.3))
    assert streams.stream_bootstrap([], []) == (0.0, 1.0)


def test_stream_bootstrap_of_one_keyword_streams_is_the_binomial_interval():
    # 400 streams of one keyword each are independent keywords: the bootstrap interval is then
    # the normal approximation 0.3 +- 1.96 sqrt(0.3 * 0.7 / 400) = [0.2551, 0.3449]
    lo, hi = streams.stream_bootstrap([1] * 120 + [0] * 280, [1] * 400)
    assert (lo, hi) == pytest.approx((0.2551, 0.3449), abs=0.006)
