"""Detection training (tdnn.detection): window scores equal the streaming scorer's, the losses
against hand-computed values, frame targets from a reference list, and a stream-trained run."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from tdnn import detection
from tdnn.config import AugmentConfig, DataConfig, FrontendConfig, ModelConfig, TrainConfig
from tdnn.errors import ConfigError
from tdnn.features import Frontend
from tdnn.inference import offline_scores
from tdnn.models import build_model
from tdnn.streams import Event, write_reference
from tdnn.train import train
from tdnn.train_data import IGNORE

NEG = detection.NEG


def _model(seed=0, n_classes=12):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(preset="kws", causal=True), 40, n_classes).eval()
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def test_window_logits_equal_offline_stream_scores():
    """The batch computation (cumulative sums) equals the streaming scorer's offline pass
    (the model's own pooling over each trailing window)."""
    frontend = Frontend(FrontendConfig(normalize="none"))
    wave = np.random.default_rng(0).normal(0, 0.1, 40000).astype(np.float32)
    model = _model()
    _, ref = offline_scores(model, frontend, wave, 16000)
    with torch.no_grad():
        got = detection.window_logits(model, frontend(torch.from_numpy(wave)[None]), 101)[0].T
    np.testing.assert_allclose(got.numpy(), ref, atol=2e-5)


def test_maxpool_loss_by_hand():
    """Two items, three classes (0 unknown, 1 and 2 keywords), width 1: the keyword's best
    frame and each keyword's worst negative frame are all that count."""
    p = torch.tensor([[[0.7, 0.2, 0.5], [0.2, 0.6, 0.1], [0.1, 0.2, 0.4]],     # item 0 [C, L]
                      [[0.5, 0.9, 0.3], [0.3, 0.05, 0.3], [0.2, 0.05, 0.4]]])  # item 1
    logits = p.log()
    targets = torch.tensor([[NEG, 1, 1], [NEG, NEG, IGNORE]])
    loss, right, counted = detection.detection_loss("maxpool", logits, targets, [1, 2], 0, 1)
    item0 = -math.log(0.6) - math.log(1 - 0.2) - math.log(1 - 0.1)
    item1 = -math.log(1 - 0.3) - math.log(1 - 0.2)
    assert loss.item() == pytest.approx((item0 + item1) / 2, rel=1e-6)
    assert (right, counted) == (2, 2)  # 0.6 >= 0.5 fires; no negative frame reaches 0.5


def test_window_ce_reads_negatives_as_unknown_and_skips_short_windows():
    p = torch.tensor([[[0.7, 0.2, 0.5], [0.2, 0.6, 0.1], [0.1, 0.2, 0.4]]])
    targets = torch.tensor([[NEG, NEG, 1]])
    loss, _, _ = detection.detection_loss("window_ce", p.log(), targets, [1, 2], 0, 2)
    assert loss.item() == pytest.approx((-math.log(0.2) - math.log(0.1)) / 2, rel=1e-6)


def test_frame_targets_mark_fire_ignore_and_negative():
    labels = ["_silence_", "_unknown_", "yes"]
    events = [Event("a.wav", "yes", 1.0, 1.4)]
    t = detection.frame_targets(300, events, labels, 0.01, (-0.05, 0.5))
    assert (t[:100] == NEG).all()                       # before the keyword
    assert (t[100:135] == IGNORE).all()                 # while it is spoken
    assert (t[135:190] == 2).all()                      # 0.05 s before its end to 0.5 s after
    assert (t[190:240] == IGNORE).all()                 # a late detection still hits it
    assert (t[240:] == NEG).all()
    late = detection.frame_targets(300, events, labels, 0.01, (0.15, 0.6))
    assert (late[100:155] == IGNORE).all() and (late[155:200] == 2).all()
    assert (late[200:240] == IGNORE).all() and (late[240:] == NEG).all()


def test_stream_run_trains_and_rejects_mixed_options(tmp_path):
    """A run on a tiny stream with the max-pooling loss, started from another run's weights
    and with VTLP on its features, trains end to end; ce with streams, a detection loss without
    them, or VTLP on features without mel bands is refused before anything is written."""
    rng = np.random.default_rng(1)
    sf.write(tmp_path / "s.wav", rng.normal(0, 0.05, 16000 * 12).astype(np.float32), 16000)
    write_reference([Event("s.wav", "yes", 3.0, 3.4), Event("s.wav", "no", 7.0, 7.3)],
                    tmp_path / "reference.csv")
    base = dict(epochs=1, batch_size=4, progress=False, threads=1,
                model=ModelConfig(preset="kws", causal=True),
                frontend=FrontendConfig(normalize="none"))
    cfg = TrainConfig(**base, loss="maxpool", data=DataConfig(train_streams=[str(tmp_path)]))
    metrics = train(cfg, tmp_path / "r1")
    assert metrics["epochs_run"] == 1 and metrics["best"]["val_accuracy"] is None
    metrics = train(TrainConfig(**base, loss="window_ce", init=str(tmp_path / "r1"),
                                augment=AugmentConfig(mel_vtlp_prob=1.0),
                                data=DataConfig(train_streams=[str(tmp_path)])), tmp_path / "r2")
    assert metrics["history"][0]["train_loss"] > 0
    with pytest.raises(ConfigError, match="augment.mel_vtlp_prob"):
        train(TrainConfig(**{**base, "frontend": FrontendConfig(kind="mfcc", normalize="none")},
                          loss="window_ce", augment=AugmentConfig(mel_vtlp_prob=0.5),
                          data=DataConfig(train_streams=[str(tmp_path)])), tmp_path / "r5")
    assert not (tmp_path / "r5").exists()
    with pytest.raises(ConfigError, match="loss"):
        train(TrainConfig(**base, data=DataConfig(train_streams=[str(tmp_path)])), tmp_path / "r3")
    with pytest.raises(ConfigError, match="loss"):
        train(TrainConfig(**base, loss="maxpool", data=DataConfig(root=str(tmp_path))),
              tmp_path / "r4")


def test_mining_adds_the_false_alarms_the_streaming_scorer_sees(monkeypatch):
    """Hard-negative mining finds the frames where the streaming scorer's keyword posterior
    reaches the threshold outside keywords (one per `width` frames, highest first), and adds
    the stretch around each, `copies` times."""
    from tdnn.data.speech_commands import WORDS_10, labels_for_task
    frontend = Frontend(FrontendConfig(normalize="none"))
    wave = np.random.default_rng(3).normal(0, 0.1, 200000).astype(np.float32)
    model, labels, width = _model(), labels_for_task(12), 101
    x = frontend(torch.from_numpy(wave)[None])[0]
    target = torch.full((x.shape[-1],), NEG)
    target[150:200] = IGNORE                                       # a keyword is being spoken
    _, logits = offline_scores(model, frontend, wave, 16000)         # the streaming pass [L, C]
    p = torch.from_numpy(logits).softmax(1)[:, [labels.index(w) for w in WORDS_10]].amax(1)
    p[:width - 1], p[150:200] = 0.0, 0.0
    monkeypatch.setattr(detection, "MINE_P", float(np.sort(p.numpy())[-60]))
    want = []
    for t in np.argsort(-p.numpy(), kind="stable"):
        if p[t] >= detection.MINE_P and all(abs(t - f) >= width for f in want):
            want.append(int(t))
    want.sort()
    data = detection.StreamData([x], [target], labels, crop=200, seed=0, window=width)
    assert detection.mine(data, model, copies=3) == len(want) >= 2
    assert len(data.x) == 1 + 3 * len(want)
    for k, t in enumerate(want):
        a, b = t - width + 1 - detection.MINE_MARGIN, t + detection.MINE_MARGIN + 1
        a, b = max(0, a), min(x.shape[-1], b)
        for c in range(3):
            assert torch.equal(data.x[1 + 3 * k + c], x[:, a:b])
            assert torch.equal(data.y[1 + 3 * k + c], target[a:b])


def test_hard_negatives_need_streams_and_an_init_run(tmp_path):
    cfg = TrainConfig(loss="maxpool", data=DataConfig(train_streams=[str(tmp_path)],
                                                      hard_negatives=2))
    with pytest.raises(ConfigError, match="hard_negatives"):
        train(cfg, tmp_path / "run")


@pytest.mark.parametrize("fire", [(0.5, 0.2), (-1.5, 0.5), (0.1, 1.5)])
def test_fire_span_must_lie_in_the_window_and_the_hit_tolerance(tmp_path, fire):
    cfg = TrainConfig(loss="window_ce", data=DataConfig(train_streams=[str(tmp_path)], fire=fire))
    with pytest.raises(ConfigError, match="data.fire"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
