"""The phonemes recipe end to end on tiny synthetic corpora, and its errors."""

import json

import numpy as np
import pytest

from recipes.phonemes import run as phonemes
from tdnn.errors import LayoutError

TINY = ["--set", "phones_speakers=4", "--set", "phones_sentences=2", "--set", "bdg_speakers=12",
        "--set", "dims=[16, 16, 16, 16, 16]", "--set", "phones_fit.epochs=1",
        "--set", "bdg_fit.epochs=2"]


@pytest.mark.slow
def test_recipe_writes_frame_and_bdg_figures(tmp_path):
    out = tmp_path / "run"
    assert phonemes.main(["--out", str(out), *TINY]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    phones = metrics["phones"]
    assert set(phones["boundary"]) == {"pm1", "pm2", "pm3"}
    for b in phones["boundary"].values():  # F1 is the harmonic mean of what is reported beside it
        p, r = b["precision"], b["recall"]
        assert b["f1"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0)
    # a wider tolerance can only match more boundaries
    recalls = [phones["boundary"][k]["recall"] for k in ("pm1", "pm2", "pm3")]
    assert recalls == sorted(recalls)
    bdg = metrics["bdg"]
    assert bdg["labels"] == ["b", "d", "g"]
    confusion = np.array(bdg["confusion"])
    assert confusion.sum() == bdg["data"]["test_clips"]
    assert bdg["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    report = (out / "report.md").read_text()
    assert "98.5%" in report and "phone error rate" in report
    for name in ("phones/model.pt", "bdg/model.pt", "bdg_confusion.png", "config.yaml"):
        assert (out / name).is_file(), name
    # a second run into the same folder reuses the finished runs: the same figures
    assert phonemes.main(["--out", str(out), *TINY]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["phones"]["frame_accuracy"] == phones["frame_accuracy"]
    assert again["bdg"]["accuracy"] == bdg["accuracy"]


def test_missing_timit_folder_is_a_layout_error(tmp_path):
    with pytest.raises(LayoutError):
        phonemes.main(["--out", str(tmp_path / "run"), "--data-dir", str(tmp_path / "nowhere"),
                       "--skip", "bdg", *TINY])


def test_corpus_without_test_speakers_is_a_layout_error(tmp_path):
    # 3 synthetic speakers: the hashing puts none of them in the test lists
    with pytest.raises(LayoutError, match="more speakers"):
        phonemes.main(["--out", str(tmp_path / "run"), "--skip", "phones",
                       *TINY, "--set", "bdg_speakers=3"])
