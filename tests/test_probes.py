"""Timing probes on hand-built inputs whose answers are known."""

import numpy as np
import pytest
import torch
from torch import nn

from tdnn.experiments import probes

D = 4
# one constant feature vector per "phone"
PHONES = {p: torch.eye(D)[i] for i, p in enumerate("abcd")}


def utterance(phones: str, frames: int = 5) -> torch.Tensor:
    """Features [D, L]: each phone a run of `frames` identical frames."""
    return torch.cat([PHONES[p][:, None].repeat(1, frames) for p in phones], dim=1)


class MeanOverTime(nn.Module):
    """Linear layer on the time-average: exactly invariant to the order of frames."""

    def __init__(self, n_classes: int):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(D, n_classes)

    def forward(self, x):
        return self.fc(x.mean(-1))


class FirstFrame(nn.Module):
    """Classifies by the first frame's phone: order-aware for words that start differently."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = table  # [D, C]

    def forward(self, x):
        return x[:, :, 0] @ self.table


class PerFrame(nn.Module):
    """Frame head: logit of class c at frame t is 10 * x[c, t] (the phone identity itself)."""

    def forward(self, x):
        return 10 * x


def test_shift_index_moves_segment_and_stretches_neighbour():
    # segment [3, 6) of 10 frames moved right by 2: frames 3, 4 repeat frame 2; 5..7 <- 3..5
    assert probes.shift_index(10, 3, 6, 2).tolist() == [0, 1, 2, 2, 2, 3, 4, 5, 8, 9]
    # moved left by 1: frame 2 <- 3 ... 4 <- 5, frame 5 repeats the next segment's frame 6
    assert probes.shift_index(10, 3, 6, -1).tolist() == [0, 1, 3, 4, 5, 6, 6, 7, 8, 9]
    assert probes.shift_index(10, 3, 6, 0).tolist() == list(range(10))
    with pytest.raises(ValueError):
        probes.shift_index(10, 6, 12, 1)


def test_shift_labels_follow_features():
    x = utterance("abc", 4)
    labels = np.repeat([0, 1, 2], 4)
    for k in (-3, -1, 2, 4):
        moved = probes.shift_segment(x, 4, 8, k)
        assert moved.argmax(0).tolist() == probes.shift_labels(labels, 4, 8, k).tolist()


def test_jitter_zero_changes_nothing():
    feats = torch.stack([utterance("abc"), utterance("bca"), utterance("cab")])
    model = MeanOverTime(3)
    result = probes.jitter_probe(model, feats, [(5, 10)] * 3, shifts=(0, 2),
                                 labels=torch.tensor([0, 1, 2]))
    assert result[0]["changed"] == 0.0
    assert result[0]["tvd"] == 0.0


def test_jitter_changes_a_timing_sensitive_model():
    # frame head on "a b c" (5 frames each): moving b by 3 frames turns 3 frames of b into a
    # (the gap) and 3 frames of c into b (the overlap): 6 of 15 frames change
    feats = torch.stack([utterance("abc")] * 2)
    result = probes.jitter_probe(PerFrame(), feats, [(5, 10)] * 2, shifts=(0, 3, -3))
    assert result[3]["changed"] == pytest.approx(6 / 15)
    assert result[-3]["changed"] == pytest.approx(6 / 15)


def test_order_invariant_model_scores_chance_on_minimal_pairs():
    # two minimal-pair sets: {abc, cab, bca} (classes 0-2) and {ad, da} (classes 3, 4)
    words = ["abc", "cab", "bca", "ad", "da"]
    feats = torch.stack([utterance(w.ljust(3, w[-1])) for w in words for _ in range(4)])
    labels = np.repeat(np.arange(5), 4)
    logits = probes._logits(MeanOverTime(5), feats)
    scores = probes.set_scores(logits, labels, [[0, 1, 2], [3, 4]])
    assert scores["chance"] == pytest.approx((12 / 3 + 8 / 2) / 20)
    assert scores["accuracy"] == pytest.approx(scores["chance"])
    assert scores["sets"][0]["accuracy"] == pytest.approx(1 / 3)
    assert scores["sets"][1]["accuracy"] == pytest.approx(1 / 2)
    # the confusion matrix sends all clips of a set to one column
    cm = np.array(scores["sets"][0]["confusion"])
    assert cm.sum() == 12 and (cm.sum(0) > 0).sum() == 1


def test_order_aware_model_separates_minimal_pairs():
    words = ["abc", "cab", "bca"]
    feats = torch.stack([utterance(w) for w in words])
    table = torch.zeros(D, 3)
    table[0, 0] = table[2, 1] = table[1, 2] = 1.0  # first phone a -> 0, c -> 1, b -> 2
    logits = probes._logits(FirstFrame(table), feats)
    scores = probes.set_scores(logits, [0, 1, 2], [[0, 1, 2]])
    assert scores["accuracy"] == 1.0
    assert scores["sets"][0]["confusion"] == np.eye(3, dtype=int).tolist()


def test_boundary_posteriors_sharp_and_blurred():
    x = utterance("ab", 8)
    labels = np.repeat([0, 1], 8)
    sharp = PerFrame()(x[None])[0].softmax(0).numpy()
    res = probes.boundary_posteriors([sharp], [labels], window=4)
    assert res["n"] == 1
    assert res["crossing"] == 0.0
    assert res["transition"] == 0.0
    assert np.all(res["left"][:4] > 0.99) and np.all(res["right"][4:] > 0.99)
    # a width-3 moving average over time smears the boundary: two frames in between at 1/3, 2/3
    blurred = torch.nn.functional.avg_pool1d(x[None], 3, 1, 1, count_include_pad=False)[0]
    post = (blurred / blurred.sum(0)).numpy()  # already a distribution per frame
    res = probes.boundary_posteriors([post], [labels], window=4)
    assert res["left"][3] == pytest.approx(2 / 3) and res["right"][4] == pytest.approx(2 / 3)
    # boundaries too close to an edge or to another boundary are skipped
    assert probes.boundary_posteriors([sharp], [labels], window=9)["n"] == 0


def test_boundary_posteriors_of_short_phones_only():
    # phones a b c of 8, 3 and 8 frames: with short=4 only the two boundaries next to b count,
    # and a width-3 average leaves one frame on each side of them where no phone reaches 0.5
    x = torch.cat([utterance("a", 8), utterance("b", 3), utterance("c", 8)], dim=1)
    labels = np.repeat([0, 1, 2], [8, 3, 8])
    sharp = PerFrame()(x[None])[0].softmax(0).numpy()
    assert probes.boundary_posteriors([sharp], [labels], window=2, short=4)["n"] == 2
    assert probes.boundary_posteriors([sharp], [labels], window=2, short=2)["n"] == 0
    assert probes.boundary_posteriors([sharp], [labels], window=2)["n"] == 2
    blurred = torch.nn.functional.avg_pool1d(x[None], 3, 1, 1, count_include_pad=False)[0]
    post = (blurred / blurred.sum(0)).numpy()
    res = probes.boundary_posteriors([post], [labels], window=2, short=4)
    # frames 6..9 around a|b and 9..12 around b|c (offsets -2..1): the left phone holds
    # 1, 2/3, 1/3, 0 and the right one 0, 1/3, 2/3, 1 at both, so one of them is >= 2/3 always
    np.testing.assert_allclose(res["left"], [1, 2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(res["right"], [0, 1 / 3, 2 / 3, 1])
    assert res["transition"] == 0.0


def test_follow_probe_tracks_or_stays():
    x = utterance("abc")
    labels = np.repeat([0, 1, 2], 5)
    # a model reading each frame's own phone follows every move exactly
    assert probes.follow_probe(PerFrame(), x, labels, (5, 10), [-2, 3]) == {-2: 1.0, 3: 1.0}

    class Fixed(nn.Module):
        """Always predicts the unshifted labelling, whatever the input."""

        def forward(self, inp):
            return 10 * torch.nn.functional.one_hot(torch.as_tensor(labels), 4).T[None].float()

    assert probes.follow_probe(Fixed(), x, labels, (5, 10), [2]) == {2: 0.0}
    assert np.isnan(probes.follow_probe(Fixed(), x, labels, (5, 10), [0])[0])
