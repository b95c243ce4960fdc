"""Frame metrics against hand-computed cases."""

import numpy as np
import pytest

from tdnn import framemetrics as fm


def test_frame_accuracy_hand_count():
    ref = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    assert fm.frame_accuracy(pred, ref) == pytest.approx(4 / 6)
    # frames labelled 2 ignored: 3 of the 4 remaining frames agree
    assert fm.frame_accuracy(pred, ref, ignore=2) == pytest.approx(3 / 4)


def test_frame_accuracy_shape_mismatch():
    with pytest.raises(ValueError):
        fm.frame_accuracy(np.zeros(3), np.zeros(4))


def test_collapse_repeats():
    assert fm.collapse([3, 3, 1, 1, 1, 3, 2, 2]) == [3, 1, 3, 2]
    assert fm.collapse(np.array([5, 5])) == [5]
    assert fm.collapse([]) == []


def test_edit_distance_hand_worked():
    # kitten -> sitting: k->s, e->i, +g = 3 (the textbook example)
    assert fm.edit_distance("kitten", "sitting") == 3
    assert fm.edit_distance("", "abc") == 3
    assert fm.edit_distance("abc", "") == 3
    assert fm.edit_distance("abc", "abc") == 0


def test_per_hand_worked():
    # reference frames collapse to  sil b ae t sil  (5 phones)
    ref = ["sil", "sil", "b", "b", "ae", "ae", "ae", "t", "sil", "sil"]
    # prediction collapses to       sil p ae d t sil
    pred = ["sil", "p", "p", "ae", "ae", "d", "d", "t", "sil", "sil"]
    # hand alignment: sil=sil, p/b substitution, ae=ae, d inserted, t=t, sil=sil -> 2 errors
    errors, n = fm.phone_errors(pred, ref)
    assert (errors, n) == (2, 5)
    # a second utterance: ref  a b  / pred a  -> one deletion over 2 phones
    per = fm.phone_error_rate([pred, ["a", "a", "a"]], [ref, ["a", "a", "b"]])
    assert per == pytest.approx((2 + 1) / (5 + 2))


def test_boundaries_positions():
    assert fm.boundaries([0, 0, 1, 1, 1, 2]).tolist() == [2, 5]
    assert fm.boundaries([4, 4, 4]).tolist() == []


def test_boundary_matching_one_to_one():
    # two predictions near one reference boundary: only one may claim it
    assert fm.match_boundaries(np.array([9, 11]), np.array([10]), 1) == 1
    assert fm.match_boundaries(np.array([7]), np.array([10]), 2) == 0
    assert fm.match_boundaries(np.array([7]), np.array([10]), 3) == 1


def test_boundary_precision_recall_by_tolerance():
    ref = [0] * 10 + [1] * 10 + [2] * 10          # boundaries at 10, 20
    pred = [0] * 12 + [1] * 5 + [3] * 2 + [1] + [2] * 10   # boundaries at 12, 17, 19, 20
    scores = fm.boundary_scores([pred], [ref], tolerances=(0, 1, 2))
    # tol 0: only 20 matches -> P = 1/4, R = 1/2
    assert scores[0]["precision"] == pytest.approx(1 / 4)
    assert scores[0]["recall"] == pytest.approx(1 / 2)
    # tol 1: 10 has nothing within 1 (12 is 2 away); 20 matched -> same as tol 0
    assert scores[1]["recall"] == pytest.approx(1 / 2)
    # tol 2: 12 matches 10, 20 matches 20 -> P = 2/4, R = 2/2, F1 = 2PR/(P+R)
    assert scores[2]["precision"] == pytest.approx(0.5)
    assert scores[2]["recall"] == pytest.approx(1.0)
    assert scores[2]["f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_frame_report_perfect_prediction():
    ref = [np.array([0, 0, 1, 1, 2]), np.array([3, 3, 3, 1])]
    report = fm.frame_report(ref, ref)
    assert report["frame_accuracy"] == 1.0
    assert report["per"] == 0.0
    assert report["boundary"]["pm1"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_smoothing_removes_a_one_frame_flicker():
    # class 1 wins every frame except frame 4, where class 0 wins by a little
    post = np.array([[0.1] * 4 + [0.6] + [0.1] * 4, [0.9] * 4 + [0.4] + [0.9] * 4])
    assert fm.collapse(post.argmax(0)) == [1, 0, 1]
    assert fm.collapse(fm.smoothed_labels(post, 3)) == [1]
    # width 1 is no smoothing
    assert fm.smoothed_labels(post, 1).tolist() == post.argmax(0).tolist()


def test_logits_report_scores_raw_and_smoothed_posteriors():
    # Reference a a a a b b b b; the raw argmax flickers to b at frame 1 (a confident a around it).
    ref = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p_b = np.array([0.1, 0.6, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9])
    logits = np.log(np.stack([1 - p_b, p_b]))
    raw, smooth, posts = fm.logits_report([logits], [ref], smooth=3)
    assert np.allclose(posts[0][1], p_b)
    assert raw["frame_accuracy"] == 7 / 8
    assert raw["per"] == 2 / 2  # "a b a b" against "a b": two insertions
    # averaged over 3 frames p(b) is 0.27 0.27 0.27 0.37 0.63 0.9 ...: the flicker goes
    assert smooth["frame_accuracy"] == 1.0 and smooth["per"] == 0.0
