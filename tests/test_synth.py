"""Synthetic corpora: eSpeak events against the audio, the phone map, TIMIT segments, noises,
speaker sampling, Speech Commands layout and split lists, and determinism."""

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy.signal import welch

from data_prep import espeak, noise, phonemap, synth_commands, synth_phones, words
from tdnn.data import speech_commands, timit
from tdnn.errors import UserError


def _zcr(x: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(np.signbit(x).astype(int)))))


def test_events_are_ordered_inside_the_audio_and_tile_it():
    syn = espeak.synthesize("stop the cats", "en-us+m3", rate=150)
    assert syn.sample_rate == 22050 and syn.wave.dtype == np.float32
    starts = [p.start for p in syn.phonemes]
    assert starts == sorted(starts) and starts[0] >= 0 and syn.phonemes[-1].end == len(syn.wave)
    for a, b in zip(syn.phonemes, syn.phonemes[1:]):
        assert a.end == b.start  # contiguous, no gaps
    names = [phonemap.strip_stress(p.name) for p in syn.phonemes if p.end > p.start]
    assert names[:4] == ["s", "t2", "0", "p"]
    word_starts = [w.start for w in syn.words]
    assert len(syn.words) == 3 and word_starts == sorted(word_starts)
    assert all(0 <= s <= len(syn.wave) for s in word_starts)


def test_phoneme_spans_line_up_with_the_sounds():
    # fricative /s/ spans are noisy (many zero crossings), vowel spans periodic (few).
    syn = espeak.synthesize("see saw sue", "en-us", rate=120)
    zcr = {}
    for p in syn.phonemes:
        name = phonemap.strip_stress(p.name)
        if p.end - p.start > 400:
            zcr.setdefault(name, []).append(_zcr(syn.wave[p.start:p.end]))
    assert min(zcr["s"]) > 3 * max(zcr["i:"] + zcr["O:"] + zcr["u:"])
    # a voiceless stop's event is its release: the closure silence ends just before it
    syn = espeak.synthesize("a top", "en-us", rate=120)
    t = next(p for p in syn.phonemes if phonemap.strip_stress(p.name) in ("t", "t2"))
    before = syn.wave[t.start - 400:t.start - 40]
    assert np.max(np.abs(before)) < 1e-3 < np.max(np.abs(syn.wave[t.start:t.end]))


def test_unknown_voice_is_a_user_error():
    with pytest.raises(UserError, match="en-xx"):
        espeak.synthesize("yes", "en-xx")


def test_every_mnemonic_of_every_accent_maps_to_timit61():
    vocab = sorted(set(words.WORD_SETS["all"]) | set(words.SENTENCE_WORDS))
    text = " ".join(vocab)
    for accent in espeak.ENGLISH_ACCENTS:
        for p in espeak.synthesize(text, accent).phonemes:
            label = phonemap.to_timit(p.name)  # KeyError = unmapped mnemonic
            assert label is None or label in timit.PHONES_61, (accent, p.name)
    assert set(v for v in phonemap.ESPEAK_TO_TIMIT.values() if v) <= set(timit.PHONES_61)


@pytest.mark.parametrize("voice", ["en-us", "en-gb-x-rp+klatt2", "en-029+f2"])
def test_timit_segments_tile_the_wave_with_silent_closures(voice):
    syn = espeak.synthesize("the big cat kept a good spot", voice, rate=140)
    wave = soxr.resample(syn.wave, syn.sample_rate, 16000)
    segs = synth_phones.timit_segments(syn, wave, 16000)
    assert segs[0].start == 0 and segs[-1].end == len(wave)
    assert all(a.end == b.start for a, b in zip(segs, segs[1:]))
    assert all(s.end > s.start and s.label in timit.PHONES_61 for s in segs)
    labels = [s.label for s in segs]
    assert labels[-1] == "h#" and "pau" not in labels[1:-1]
    peak = np.max(np.abs(wave))
    voiceless_closures = [s for s in segs if s.label in ("pcl", "tcl", "kcl")]
    assert voiceless_closures
    for s in voiceless_closures:  # the closure is (nearly) silent, its release is not
        assert np.sqrt(np.mean(wave[s.start:s.end] ** 2)) < 0.01 * peak
    for i, s in enumerate(segs[:-1]):
        if s.label.endswith("cl"):
            assert segs[i + 1].label == {"pcl": "p", "tcl": "t", "kcl": "k", "bcl": "b",
                                         "dcl": "d", "gcl": "g"}[s.label] or \
                segs[i + 1].label in ("ch", "jh")


def test_pad_segments_adds_h_sharp_at_both_ends():
    segs = [synth_phones.Segment(0, 10, "s"), synth_phones.Segment(10, 30, "h#")]
    out = synth_phones.pad_segments(segs, 5, 7)
    assert [(s.start, s.end, s.label) for s in out] == [(0, 5, "h#"), (5, 15, "s"),
                                                          (15, 42, "h#")]


def _slope_db_per_decade(x: np.ndarray, sr: int = 16000) -> float:
    f, p = welch(x, sr, nperseg=4096)
    band = (f > 50) & (f < 5000)
    return float(np.polyfit(np.log10(f[band]), 10 * np.log10(p[band]), 1)[0])


def test_noise_colours_and_hum():
    rng = np.random.default_rng(0)
    n = 16000 * 8
    assert abs(_slope_db_per_decade(noise.white(n, rng))) < 1.5
    assert _slope_db_per_decade(noise.pink(n, rng)) == pytest.approx(-10, abs=1.5)
    assert _slope_db_per_decade(noise.brown(n, rng)) == pytest.approx(-20, abs=2.0)
    h = noise.hum(n, rng, 16000)
    f, p = welch(h, 16000, nperseg=16000)
    assert f[np.argmax(p)] in (50, 60, 100, 120, 150, 180)
    for x in (h, noise.white(n, rng)):
        assert x.dtype == np.float32 and np.sqrt(np.mean(x ** 2)) == pytest.approx(0.1, rel=0.05)


def test_speakers_balance_accents_and_spread_voices():
    accents = ["en-us", "en", "en-029"]
    variants = ["none", "m3", "f2", "klatt"]
    sp = synth_commands.make_speakers(12, 3, accents, variants)
    assert [s.accent for s in sp].count("en-us") == 4
    assert len({s.voice for s in sp}) == 12 and len({s.id for s in sp}) == 12
    assert all(synth_commands.RATE_RANGE[0] <= s.rate <= synth_commands.RATE_RANGE[1] for s in sp)
    assert sp == synth_commands.make_speakers(12, 3, accents, variants)
    assert sp != synth_commands.make_speakers(12, 4, accents, variants)
    assert next(s for s in sp if s.variant == "none").voice in accents


def test_voice_selection_lists():
    known = list(espeak.ENGLISH_ACCENTS)
    assert synth_commands.select("all", "en-us,en", known, "--accents") == [
        k for k in known if k not in ("en-us", "en")]
    assert synth_commands.select("EN-029", "", known, "--accents") == ["en-029"]
    with pytest.raises(UserError, match="--exclude-accents"):
        synth_commands.select("all", "xx", known, "--accents")
    with pytest.raises(UserError, match="leave no voices"):
        synth_commands.select("en", "en", known, "--accents")


def test_word_lists():
    assert list(words.COMMANDS_35) == speech_commands.WORDS_35
    assert set(words.COMMANDS_10) == set(speech_commands.WORDS_10)
    for group in words.MINIMAL_PAIRS:  # same letters, different order (a stand-in for phones)
        assert len({"".join(sorted(w)) for w in group if w != "post"}) == 1
    assert words.resolve("kws10,cast, Cats") == list(words.COMMANDS_10) + ["cast", "cats"]
    with pytest.raises(UserError, match="--words"):
        words.resolve("yes,no-no")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_commands(tmp_path_factory):
    out = tmp_path_factory.mktemp("sc")
    sp = synth_commands.make_speakers(3, 0, list(espeak.ENGLISH_ACCENTS), ["none", "m3", "f4"])
    summary = synth_commands.build(out, sp, ["yes", "stop", "spot"], seed=0, repeats=2, jobs=1,
                                   noise_seconds=1.0, progress=False)
    return out, sp, summary


def test_commands_layout_lists_and_manifest(tiny_commands):
    out, sp, summary = tiny_commands
    assert summary["clips"] == 18 and not summary["failures"]
    for s in sp:
        for w in ("yes", "stop", "spot"):
            for n in (0, 1):
                wave, sr = sf.read(out / w / f"{s.id}_nohash_{n}.wav")
                assert sr == 16000 and wave.shape == (16000,)
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert len(rows) == 18
    for r in rows:
        wave, _ = sf.read(out / r["file"])
        start, end = int(r["word_start"]), int(r["word_end"])
        word_rms = np.sqrt(np.mean(wave[start:end] ** 2))
        rest = np.concatenate([wave[:start], wave[end:]])
        assert word_rms > 10 * np.sqrt(np.mean(rest ** 2))  # the word is where it says
    splits_of = {}  # the split follows the speaker: every clip of one speaker shares it
    for r in rows:
        splits_of.setdefault(r["speaker"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    for name, split in (("validation_list.txt", "validation"), ("testing_list.txt", "testing")):
        listed = (out / name).read_text().split()
        assert listed == sorted(r["file"] for r in rows if r["split"] == split)
    assert sorted(p.name for p in (out / "_background_noise_").iterdir()) == sorted(
        f"{n}.wav" for n in noise.NOISES)


def test_same_seed_same_files_in_parallel_too(tiny_commands, tmp_path):
    out, sp, _ = tiny_commands
    synth_commands.build(tmp_path, sp, ["yes", "stop", "spot"], seed=0, repeats=2, jobs=2,
                         noise_seconds=1.0, progress=False)
    assert _digest(tmp_path) == _digest(out)
    other = tmp_path / "other"
    synth_commands.build(other, sp, ["yes"], seed=1, jobs=1, noise_seconds=0, progress=False)
    assert (other / "yes" / f"{sp[0].id}_nohash_0.wav").read_bytes() != \
        (out / "yes" / f"{sp[0].id}_nohash_0.wav").read_bytes()


def test_timit_corpus_reads_with_the_timit_loader(tmp_path):
    summary = synth_phones.build_timit(tmp_path, 2, 2, seed=0, accents=["en-us", "en"],
                                       variants=["none"], jobs=1, progress=False)
    assert summary["utterances"] == 4 and summary["test_speakers"] == 1
    train = timit.load_utterances(tmp_path, "train")
    test = timit.load_utterances(tmp_path, "test")
    assert len(train) == 2 and len(test) == 2
    for utt in train + test:
        wave, sr = sf.read(utt.wav)
        segs = timit.read_phn(utt.phn)
        assert sr == 16000 and segs[0][2] == "h#" and segs[-1][2] == "h#"
        assert segs[0][0] == 0 and segs[-1][1] == len(wave)
        text = utt.wav.with_suffix(".TXT").read_text().split()[2:]
        wrd = [line.split()[2] for line in utt.wav.with_suffix(".WRD").read_text().splitlines()]
        assert wrd == [w.strip(",").lower() for w in text]


def test_bdg_syllables_record_onsets(tmp_path):
    summary = synth_phones.build_bdg(tmp_path, 1, seed=0, accents=["en-us"], variants=["m3"],
                                     jobs=1, progress=False)
    n = len(synth_phones.BDG_CONSONANTS) * len(synth_phones.BDG_VOWELS)
    assert summary["clips"] == n and not summary["failures"]
    rows = list(csv.DictReader(open(tmp_path / "manifest.csv")))
    for r in rows:
        wave, sr = sf.read(tmp_path / r["file"])
        c, rel, v = int(r["closure_start"]), int(r["release"]), int(r["vowel_start"])
        assert r["file"].startswith(r["consonant"] + "/") and len(wave) == 8000
        assert 0 <= c <= rel < v < len(wave)
        assert 0.1 * sr <= rel <= 0.2 * sr
        assert np.max(np.abs(wave[:max(c - 80, 1)])) < 0.1 * np.max(np.abs(wave[v:]))
