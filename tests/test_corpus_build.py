"""The build loop `data_prep.corpus` shares between the `tdnn prepare` builders, on a tiny
builder: a failed item is reported and the rest built, a fatal error leaves the corpus marked
interrupted, a rerun completes it, and files are written whole or not at all."""

import errno

import numpy as np
import pytest
import soundfile as sf

from data_prep import corpus
from tdnn.data.corpus import check_complete, complete, interrupted
from tdnn.errors import LayoutError

FIELDS = ["file", "level"]


def make_item(out, rel, level, trouble):
    """Write one clip (or fail as `trouble` says); its manifest row."""
    if trouble == "bad":
        raise ValueError(f"cannot render {rel}")
    if trouble == "disk full":
        raise OSError(errno.ENOSPC, "No space left on device")
    corpus.write_wav(out / rel, np.full(160, level, np.float32), 16000)
    return {"file": rel, "level": level}


def worker(task):
    """One speaker's items, as the builders' workers do."""
    out, speaker, troubles = task
    rows, failures = [], []
    for n, level in enumerate((0.25, 0.5)):
        rel = f"yes/{speaker}_nohash_{n}.wav"
        corpus.attempt(rel, lambda: make_item(out, rel, level, troubles.get(rel)), rows, failures)
    return rows, failures


def build(out, troubles=None, speakers=("a", "b")):
    """Plan, build, write the manifest, mark done: a builder in miniature."""
    files = [f"yes/{s}_nohash_{n}.wav" for s in speakers for n in range(2)] + ["manifest.csv"]
    corpus.begin(out, files)
    (out / "yes").mkdir(exist_ok=True)
    tasks = [(out, s, troubles or {}) for s in speakers]
    rows, failures = corpus.collect(map(worker, tasks), 2 * len(speakers), "tiny")
    corpus.write_csv(out / "manifest.csv", FIELDS, sorted(rows, key=lambda r: r["file"]))
    corpus.finish(out)
    return rows, failures


def test_a_failed_item_is_reported_and_the_others_built(tmp_path, capsys):
    rows, failures = build(tmp_path, {"yes/a_nohash_1.wav": "bad"})
    assert failures == [("yes/a_nohash_1.wav", "ValueError: cannot render yes/a_nohash_1.wav")]
    assert sorted(p.name for p in (tmp_path / "yes").iterdir()) == [
        "a_nohash_0.wav", "b_nohash_0.wav", "b_nohash_1.wav"]
    assert (tmp_path / "manifest.csv").read_text().splitlines() == [
        "file,level", "yes/a_nohash_0.wav,0.25", "yes/b_nohash_0.wav,0.25",
        "yes/b_nohash_1.wav,0.5"]
    wave, sr = sf.read(tmp_path / "yes" / "b_nohash_1.wav")
    assert sr == 16000 and wave == pytest.approx(np.full(160, 0.5), abs=1 / 32768)
    assert complete(tmp_path)
    assert "4/4" in capsys.readouterr().err  # the progress bar counts failed items too


def test_a_fatal_error_stops_and_a_rerun_completes(tmp_path):
    with pytest.raises(OSError, match="No space left"):
        build(tmp_path, {"yes/b_nohash_0.wav": "disk full"})
    assert interrupted(tmp_path) and not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(LayoutError, match="interrupted"):
        check_complete(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")  # not the builder's: a rerun keeps it
    rows, failures = build(tmp_path, speakers=("b", "c"))
    assert not failures and len(rows) == 4 and complete(tmp_path)
    assert sorted(p.name for p in (tmp_path / "yes").iterdir()) == [
        "b_nohash_0.wav", "b_nohash_1.wav", "c_nohash_0.wav", "c_nohash_1.wav"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_write_csv_is_all_or_nothing(tmp_path):
    path = tmp_path / "manifest.csv"
    corpus.write_csv(path, None, [{"file": "x.wav", "word": "yes"}])
    assert path.read_text().splitlines() == ["file,word", "x.wav,yes"]
    with pytest.raises(ValueError):
        corpus.write_csv(path, FIELDS, [{"file": "y.wav", "speaker": "z"}])  # a field too many
    assert path.read_text().splitlines() == ["file,word", "x.wav,yes"]
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.csv"]
    corpus.write_csv(path, None, [])
    assert path.read_text() == ""
