"""`tdnn prepare`: the three synthetic corpora from the command line, voice hold-out options,
and one-line user errors with exit code 2."""

import csv

import pytest
import soundfile as sf

from tdnn.cli import main
from tdnn.data import speech_commands, timit


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_synth_commands_builds_a_corpus_the_loader_reads(tmp_path, capsys):
    out = tmp_path / "sc"
    code = main(["prepare", "synth-commands", "--out", str(out), "--speakers", "2",
                 "--words", "kws10,cat", "--noise-seconds", "2", "--quiet"])
    assert code == 0
    assert "clips=22" in capsys.readouterr().out
    rows = _rows(out / "manifest.csv")
    assert len(rows) == 22 and {r["word"] for r in rows} == set(speech_commands.WORDS_10) | {"cat"}
    speakers = {r["speaker"] for r in rows}
    assert len(speakers) == 2
    for r in rows:
        assert r["file"] == f"{r['word']}/{r['speaker']}_nohash_0.wav"
        wave, sr = sf.read(out / r["file"])
        assert sr == 16000 and len(wave) == 16000
    noises = speech_commands.load_background_noise(out)
    assert len(noises) == 5 and all(len(n) == 32000 for n in noises)
    examples = speech_commands.load_examples(out, "all", task=12, silence_percentage=0)
    assert sorted(e.label for e in examples).count("_unknown_") == 2


def test_held_out_accents_and_variants(tmp_path):
    out = tmp_path / "train"
    assert main(["prepare", "synth-commands", "--out", str(out), "--speakers", "6",
                 "--words", "yes", "--noise-seconds", "0", "--exclude-accents", "en-us,en",
                 "--variants", "m3,f2,klatt,none", "--exclude-variants", "klatt",
                 "--quiet"]) == 0
    rows = _rows(out / "manifest.csv")
    assert len(rows) == 6
    assert not {r["accent"] for r in rows} & {"en-us", "en"}
    assert {r["variant"] for r in rows} <= {"m3", "f2", "none"}
    held = tmp_path / "held"
    assert main(["prepare", "synth-commands", "--out", str(held), "--speakers", "2",
                 "--words", "yes", "--noise-seconds", "0", "--accents", "en-us",
                 "--quiet"]) == 0
    assert {r["accent"] for r in _rows(held / "manifest.csv")} == {"en-us"}


def test_synth_phones_and_bdg(tmp_path):
    phones = tmp_path / "timit"
    assert main(["prepare", "synth-phones", "--out", str(phones), "--speakers", "2",
                 "--sentences", "1", "--quiet"]) == 0
    assert len(timit.load_utterances(phones, "train")) == 1
    assert len(timit.load_utterances(phones, "test")) == 1
    bdg = tmp_path / "bdg"
    assert main(["prepare", "synth-bdg", "--out", str(bdg), "--speakers", "1", "--quiet"]) == 0
    rows = _rows(bdg / "manifest.csv")
    assert {r["consonant"] for r in rows} == {"b", "d", "g"}


@pytest.mark.parametrize("args, message", [
    (["--accents", "en-xx"], "--accents: unknown name(s) en-xx"),
    (["--exclude-variants", "nobody"], "--exclude-variants: unknown name(s) nobody"),
    (["--speakers", "0"], "--speakers must be at least 1"),
    (["--words", "yes!"], "--words: 'yes!'"),
    (["--jobs", "0"], "--jobs must be at least 1"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, args, message):
    code = main(["prepare", "synth-commands", "--out", str(tmp_path / "x"), "--quiet"] + args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_refuses_a_non_empty_out_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["prepare", "synth-bdg", "--out", str(tmp_path), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"
