"""`tdnn prepare stream-clips`: where windows are cut (whole keyword inside, or only its first
part as `_unknown_`) and a corpus the Speech Commands loader reads whole, as training data."""

import numpy as np

from data_prep import stream_clips
from tdnn.cli import main
from tdnn.data import speech_commands as sc


def test_cuts_hold_the_whole_keyword_or_only_its_start():
    rng = np.random.default_rng(0)
    wave = np.zeros(48000)
    span = (20000, 26000)
    for _ in range(50):
        (lab1, whole), (lab2, part) = stream_clips.cuts("keyword", wave, span, rng)
        assert (lab1, lab2) == ("keyword", sc.UNKNOWN)
        assert whole - 16000 <= span[0] and span[1] <= whole <= span[1] + 0.35 * 16000
        assert span[0] + 0.2 * 6000 <= part <= span[0] + 0.5 * 6000
    clip = stream_clips.window(np.arange(1, 11, dtype=float), 12)  # ends 2 samples past the end
    assert clip[-2:].tolist() == [0, 0] and clip[-3] == 10 and clip[:-12].sum() == 0


def test_build_is_read_whole_as_training_clips(tmp_path, capsys):
    out = tmp_path / "clips"
    assert main(["prepare", "stream-clips", "--out", str(out), "--speakers", "2", "--jobs",
                 "1"]) == 0
    examples = sc.load_examples(out, "train", task=12, seed=0)
    labels = [e.label for e in examples if e.path is not None]
    per = stream_clips.PER_SPEAKER
    assert len(labels) <= 2 * (2 * per["keyword"] + per["hard"] + per["sentence"])
    assert sum(lab in sc.WORDS_10 for lab in labels) >= 2 * per["keyword"] - 2
    assert labels.count(sc.UNKNOWN) >= 2 * (per["keyword"] + per["hard"] + per["sentence"]) - 4
    assert main(["prepare", "stream-clips", "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err
