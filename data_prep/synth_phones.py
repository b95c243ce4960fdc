"""Synthetic phone-aligned corpora from eSpeak NG phoneme events.

`build_timit`: random sentences in TIMIT's layout, so `tdnn.data.timit` reads them:

    OUT/{TRAIN,TEST}/DR<k>/<SPK>/<UTT>.WAV   16 kHz 16-bit (DR<k> = k-th accent, a "dialect")
    OUT/.../<UTT>.PHN   `start end phone` (16 kHz samples, TIMIT-61, h# at both ends, pau)
    OUT/.../<UTT>.WRD   `start end word`;  <UTT>.TXT  `0 n_samples sentence`
    OUT/manifest.csv    one row per utterance (speaker, voice, prosody, split)

`build_bdg`: b/d/g + vowel syllables for the Waibel task in the Speech Commands layout
(`<consonant>/<speaker>_nohash_<vowel>_<n>.wav`, 0.5 s) with the consonant's closure start,
release (burst) and vowel onset in manifest.csv.

Phone boundaries come from eSpeak's own phoneme events (exact sample positions in its output),
mapped by `phonemap`; stop closures are recovered from the audio (see `timit_segments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
from scipy.signal import butter, sosfilt

from tdnn.atomic import atomic_write_text

from . import corpus, espeak, phonemap
from .synth_commands import (FLOOR_BELOW_PEAK_DB, SAMPLE_RATE, Speaker, make_speakers, split_counts,
                             write_split_lists)
from .words import SENTENCE_WORDS

SILENCE_DB = 55.0  # samples this far below the utterance peak are synthesiser silence
MIN_CLOSURE = 16  # samples (1 ms at 16 kHz): shorter silences are not labelled as a closure
BURST_HZ = 2000.0  # a voiced stop's burst is found in the band above this
BURST_DROP_DB = 12.0  # ... where that band's energy first reaches (its span maximum - this)
EDGE_SILENCE = (0.08, 0.25)  # seconds of h# added before and after each sentence
CLOSURE_SLACK = 0.002  # seconds of resampler ringing tolerated between a closure and release


@dataclass
class Segment:
    """A labelled span [start, end) in samples."""
    start: int
    end: int
    label: str


def _to_rate(sample: int, sr_in: int, sr_out: int) -> int:
    return int(round(sample * sr_out / sr_in))


def _silence_run_before(wave: np.ndarray, lo: int, hi: int, slack: int, level: float) -> int:
    """Start of the run below `level` that ends within `slack` samples before `hi` (resampling
    rings a little into the silence), searching no earlier than `lo`; `hi` if there is none."""
    quiet = np.abs(wave[lo:hi]) < level
    idx = np.flatnonzero(quiet)
    if not len(idx) or idx[-1] < len(quiet) - 1 - slack:
        return hi
    loud = np.flatnonzero(~quiet[:idx[-1]])
    return lo + (int(loud[-1]) + 1 if len(loud) else 0)


def _burst(high: np.ndarray, start: int, end: int, sr: int) -> int:
    """Release of a voiced stop in [start, end): where the energy above BURST_HZ first comes
    within BURST_DROP_DB of its maximum in the span (the voice bar before it has almost none)."""
    win = int(0.002 * sr)
    seg = high[start:end].astype(np.float64)
    if len(seg) < 2 * win:
        return start
    log_e = 10 * np.log10(np.convolve(seg ** 2, np.ones(win) / win, mode="valid") + 1e-12)
    return start + int(np.argmax(log_e >= log_e.max() - BURST_DROP_DB))


def timit_segments(syn: espeak.Synthesis, wave: np.ndarray, sr: int) -> list[Segment]:
    """TIMIT-61 segments covering all of `wave` (the synthesis resampled to `sr`).

    Pauses become `pau` (`h#` at the ends); a stop's closure is the silence that ends the
    preceding phone (voiceless) or the stretch before its burst (voiced).
    """
    n = len(wave)
    high = sosfilt(butter(4, BURST_HZ, "highpass", fs=sr, output="sos"), wave)
    slack = int(CLOSURE_SLACK * sr)
    level = float(np.max(np.abs(wave), initial=0.0)) * 10 ** (-SILENCE_DB / 20)
    segs: list[Segment] = []
    for ph in syn.phonemes:
        label = phonemap.to_timit(ph.name)
        start = _to_rate(ph.start, syn.sample_rate, sr)
        end = _to_rate(ph.end, syn.sample_rate, sr)
        if end <= start:
            continue
        if label is None or (segs and label == "pau" and segs[-1].label == "pau"):
            if segs:
                segs[-1].end = end
            continue
        if label in phonemap.CLOSURES:
            prev = segs[-1] if segs and segs[-1].label != "pau" else None
            cl = start
            if prev is not None:
                cl = min(start, _silence_run_before(wave, prev.start + MIN_CLOSURE, start,
                                                    slack, level))
            release = start if label in phonemap.VOICELESS else _burst(high, start, end, sr)
            if release - cl >= MIN_CLOSURE:
                if prev is not None:
                    prev.end = min(prev.end, cl)
                segs.append(Segment(cl, release, phonemap.CLOSURES[label]))
                start = release
        segs.append(Segment(start, end, label))
    if not segs:
        return [Segment(0, n, "h#")]
    segs[0].start = 0
    for a, b in zip(segs, segs[1:]):
        a.end = b.start
    segs[-1].end = n
    if segs[0].label == "pau":
        segs[0].label = "h#"
    else:
        first_loud = _first_loud(wave)
        if first_loud > 0:
            segs[0].start = first_loud
            segs.insert(0, Segment(0, first_loud, "h#"))
    if segs[-1].label == "pau":
        segs[-1].label = "h#"
    return [s for s in segs if s.end > s.start]


def pad_segments(segs: list[Segment], lead: int, tail: int) -> list[Segment]:
    """Segments of the wave with `lead` and `tail` samples of silence added (h# grows or is
    added at each end)."""
    out = [Segment(s.start + lead, s.end + lead, s.label) for s in segs]
    if out and out[0].label == "h#":
        out[0].start = 0
    elif lead > 0:
        out.insert(0, Segment(0, lead, "h#"))
    end = (out[-1].end if out else lead) + tail
    if out and out[-1].label == "h#":
        out[-1].end = end
    elif tail > 0:
        out.append(Segment(end - tail, end, "h#"))
    return out


def _first_loud(wave: np.ndarray) -> int:
    """Index of the first sample within SILENCE_DB of the peak (0 for an all-zero wave)."""
    loud = np.flatnonzero(np.abs(wave) >= np.max(np.abs(wave), initial=0.0)
                          * 10 ** (-SILENCE_DB / 20))
    return int(loud[0]) if len(loud) else 0


def word_segments(syn: espeak.Synthesis, text: str, segs: list[Segment], sr: int
                  ) -> list[Segment]:
    """Word spans from the phonemes sharing each word's text position; a word that starts with
    a stop also takes in that stop's closure."""
    spans: dict[int, list[int]] = {}
    for ph in syn.phonemes:
        if phonemap.to_timit(ph.name) not in (None, "pau") and ph.end > ph.start:
            spans.setdefault(ph.text_position, []).extend(
                [_to_rate(ph.start, syn.sample_rate, sr), _to_rate(ph.end, syn.sample_rate, sr)])
    closure_start = {s.end: s.start for s in segs if s.label in phonemap.CLOSURES.values()}
    words = []
    for w in syn.words:
        if w.text_position in spans:
            word = text[w.text_position - 1:w.text_position - 1 + w.length].strip(",.").lower()
            start, end = min(spans[w.text_position]), max(spans[w.text_position])
            words.append(Segment(closure_start.get(start, start), end, word))
    return words


def sentence(rng: np.random.Generator) -> str:
    """A random 5-10 word sentence from SENTENCE_WORDS, sometimes with a comma pause."""
    words = list(rng.choice(SENTENCE_WORDS, size=int(rng.integers(5, 11))))
    if rng.random() < 0.4:
        k = int(rng.integers(2, len(words) - 1))
        words[k] += ","
    return " ".join(words)


@dataclass(frozen=True)
class _TimitJob:
    out: str
    speaker: Speaker
    code: str
    split: str
    region: str
    sentences: int
    seed: int
    index: int


def _timit_speaker(job: _TimitJob) -> tuple[list[dict], list[tuple[str, str]]]:
    """Write one speaker's utterances; return manifest rows and failures."""
    rows, failures = [], []
    sp = job.speaker
    folder = Path(job.out) / job.split / job.region / job.code
    folder.mkdir(parents=True, exist_ok=True)

    def utterance_row(k: int, rng: np.random.Generator, text: str) -> dict:
        utt = f"SX{k + 1}"
        rate = int(np.clip(sp.rate * rng.uniform(0.9, 1.1), 110, 260))
        syn = espeak.synthesize(text, sp.voice, rate=rate, pitch=sp.pitch,
                                pitch_range=sp.pitch_range)
        wave = soxr.resample(syn.wave, syn.sample_rate, SAMPLE_RATE)
        segs = timit_segments(syn, wave, SAMPLE_RATE)
        words = word_segments(syn, text, segs, SAMPLE_RATE)
        lead, tail = (int(rng.uniform(*EDGE_SILENCE) * SAMPLE_RATE) for _ in range(2))
        segs = pad_segments(segs, lead, tail)
        words = [Segment(w.start + lead, w.end + lead, w.label) for w in words]
        wave = np.concatenate([np.zeros(lead), wave, np.zeros(tail)])
        level_db = rng.uniform(-12, -1)
        gain = 10 ** (level_db / 20) / max(float(np.max(np.abs(wave))), 1e-6)
        floor_db = level_db - rng.uniform(*FLOOR_BELOW_PEAK_DB)
        floor = rng.standard_normal(len(wave)) * 10 ** (floor_db / 20)
        corpus.write_wav(folder / f"{utt}.WAV", np.clip(wave * gain + floor, -1, 1), SAMPLE_RATE)
        _write_lines(folder / f"{utt}.PHN", segs)
        _write_lines(folder / f"{utt}.WRD", words)
        atomic_write_text(folder / f"{utt}.TXT", f"0 {len(wave)} {text}\n", durable=False)
        return {"utterance": f"{job.split}/{job.region}/{job.code}/{utt}", "speaker": job.code,
                "split": job.split, "region": job.region, "accent": sp.accent,
                "variant": sp.variant, "voice": sp.voice, "rate": rate, "pitch": sp.pitch,
                "pitch_range": sp.pitch_range, "text": text}

    for k in range(job.sentences):
        rng = np.random.default_rng([job.seed, 3, job.index, k])
        text = sentence(rng)
        corpus.attempt(f"{job.split}/{job.region}/{job.code}/SX{k + 1}",
                       lambda: utterance_row(k, rng, text), rows, failures)
    return rows, failures


def _write_lines(path: Path, segs: list[Segment]) -> None:
    """Write `start end label` lines atomically."""
    atomic_write_text(path, "".join(f"{s.start} {s.end} {s.label}\n" for s in segs),
                      durable=False)


def _gender(variant: str) -> str:
    """'F' for a female voice variant (its file says `gender female`), else 'M'."""
    path = espeak.data_path() / "voices" / "!v" / variant
    if path.is_file() and "gender female" in path.read_text(errors="replace"):
        return "F"
    return "M"


def speaker_codes(speakers: list[Speaker], rng: np.random.Generator) -> list[str]:
    """TIMIT-style speaker codes: sex letter, three letters, a digit (unique)."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    codes: list[str] = []
    for sp in speakers:
        code = ""
        while not code or code in codes:
            code = _gender(sp.variant) + "".join(rng.choice(letters, 3)) + str(rng.integers(10))
        codes.append(code)
    return codes


def build_timit(out: Path, n_speakers: int, sentences: int, seed: int, accents: list[str],
                variants: list[str], test_fraction: float = 0.25, jobs: int = 2,
                progress: bool = True) -> dict:
    """Write the TIMIT-layout corpus; return counts and failures."""
    speakers = make_speakers(n_speakers, seed, accents, variants)
    rng = np.random.default_rng([seed, 4])
    codes = speaker_codes(speakers, rng)
    n_test = int(round(test_fraction * len(speakers)))
    if test_fraction > 0 and len(speakers) >= 2:
        n_test = min(max(n_test, 1), len(speakers) - 1)
    test = set(rng.permutation(len(speakers))[:n_test].tolist())
    regions = {a: f"DR{i + 1}" for i, a in enumerate(espeak.ENGLISH_ACCENTS)}
    tasks = [_TimitJob(str(out), sp, codes[i], "TEST" if i in test else "TRAIN",
                       regions[sp.accent], sentences, seed, i) for i, sp in enumerate(speakers)]
    corpus.begin(out, [f"{t.split}/{t.region}/{t.code}/SX{k + 1}.{ext}" for t in tasks
                       for k in range(sentences) for ext in ("WAV", "PHN", "WRD", "TXT")]
                 + ["manifest.csv"])
    rows, failures = corpus.collect(espeak.map_processes(_timit_speaker, tasks, jobs,
                                                         crashed=corpus.speaker_died),
                                    len(tasks) * sentences, "synth-phones", "utt", progress)
    corpus.write_csv(out / "manifest.csv", None, rows)
    corpus.finish(out)
    return {"utterances": len(rows), "speakers": len(speakers),
            "test_speakers": n_test, "failures": failures}


# b/d/g x vowels (eSpeak mnemonics -> TIMIT symbol used in file names).
BDG_CONSONANTS = ("b", "d", "g")
BDG_VOWELS = {"i:": "iy", "I": "ih", "E": "eh", "a": "ae", "A:": "aa", "V": "ah", "O:": "ao",
              "u:": "uw", "eI": "ey", "aI": "ay", "oU": "ow"}
BDG_CLIP = 8000  # 0.5 s
BDG_RELEASE_AT = (0.10, 0.20)  # seconds: where the release is placed in the clip


@dataclass(frozen=True)
class _BdgJob:
    out: str
    speaker: Speaker
    index: int
    repeats: int
    seed: int


def syllable(consonant: str, vowel: str, speaker: Speaker, rng: np.random.Generator
             ) -> tuple[np.ndarray, dict]:
    """A 0.5 s clip of consonant+vowel; times (16 kHz samples in the clip) in the info dict."""
    rate = int(np.clip(speaker.rate * rng.uniform(0.9, 1.1), espeak.RATE_MIN, espeak.RATE_MAX))
    syn = espeak.synthesize(f"[[{consonant}'{vowel}]]",
                            speaker.voice, rate=rate, pitch=speaker.pitch,
                            pitch_range=speaker.pitch_range)
    wave = soxr.resample(syn.wave, syn.sample_rate, SAMPLE_RATE)
    segs = timit_segments(syn, wave, SAMPLE_RATE)
    release = next(s for s in segs if s.label == consonant)
    closure = next((s for s in segs if s.label == phonemap.CLOSURES[consonant]), release)
    vowel_seg = segs[segs.index(release) + 1]
    at = int(rng.uniform(*BDG_RELEASE_AT) * SAMPLE_RATE)
    shift = at - release.start
    clip = np.zeros(BDG_CLIP)
    src = wave[max(0, -shift):max(0, min(len(wave), BDG_CLIP - shift))]
    clip[max(0, shift):max(0, shift) + len(src)] = src
    level_db = float(rng.uniform(-20, -1))
    level = 10 ** (level_db / 20) / max(float(np.max(np.abs(clip))), 1e-6)
    floor_db = level_db - float(rng.uniform(*FLOOR_BELOW_PEAK_DB))
    clip = clip * level + rng.standard_normal(BDG_CLIP) * 10 ** (floor_db / 20)
    event = next(p for p in syn.phonemes if phonemap.strip_stress(p.name) == consonant)
    info = {"rate": rate, "consonant_event": _to_rate(event.start, syn.sample_rate,
                                                      SAMPLE_RATE) + shift,
            "closure_start": max(0, closure.start + shift), "release": release.start + shift,
            "vowel_start": vowel_seg.start + shift, "floor_db": round(floor_db, 2)}
    return np.clip(clip, -1, 1).astype(np.float32), info


def _bdg_speaker(job: _BdgJob) -> tuple[list[dict], list[tuple[str, str]]]:
    rows, failures = [], []
    sp = job.speaker
    def syllable_row(consonant: str, vowel: str, vname: str, rel: str,
                     rng: np.random.Generator) -> dict:
        clip, info = syllable(consonant, vowel, sp, rng)
        corpus.write_wav(Path(job.out) / rel, clip, SAMPLE_RATE)
        return {"file": rel, "consonant": consonant, "vowel": vname, "speaker": sp.id,
                "accent": sp.accent, "variant": sp.variant, "voice": sp.voice, "pitch": sp.pitch,
                "pitch_range": sp.pitch_range, **info}

    for c, consonant in enumerate(BDG_CONSONANTS):
        for v, (vowel, vname) in enumerate(BDG_VOWELS.items()):
            for n in range(job.repeats):
                rel = f"{consonant}/{sp.id}_nohash_{vname}_{n}.wav"
                rng = np.random.default_rng([job.seed, 5, job.index, c, v, n])
                corpus.attempt(rel, lambda: syllable_row(consonant, vowel, vname, rel, rng),
                               rows, failures)
    return rows, failures


def build_bdg(out: Path, n_speakers: int, seed: int, accents: list[str], variants: list[str],
              repeats: int = 1, jobs: int = 2, progress: bool = True) -> dict:
    """Write the b/d/g syllable corpus (Speech Commands layout + manifest); return counts."""
    speakers = make_speakers(n_speakers, seed, accents, variants)
    for c in BDG_CONSONANTS:
        (out / c).mkdir(parents=True, exist_ok=True)
    tasks = [_BdgJob(str(out), sp, i, repeats, seed) for i, sp in enumerate(speakers)]
    corpus.begin(out, [f"{c}/{sp.id}_nohash_{vname}_{n}.wav" for sp in speakers
                       for c in BDG_CONSONANTS for vname in BDG_VOWELS.values()
                       for n in range(repeats)]
                 + ["validation_list.txt", "testing_list.txt", "manifest.csv"])
    per = len(BDG_CONSONANTS) * len(BDG_VOWELS) * repeats
    rows, failures = corpus.collect(espeak.map_processes(_bdg_speaker, tasks, jobs,
                                                         crashed=corpus.speaker_died),
                                    len(tasks) * per, "synth-bdg", progress=progress)
    splits = write_split_lists(out, [r["file"] for r in rows])
    for r in rows:
        r["split"] = splits[r["file"]]
    rows.sort(key=lambda r: r["file"])
    corpus.write_csv(out / "manifest.csv", None, rows)
    corpus.finish(out)
    return {"clips": len(rows), "speakers": len(speakers), "splits": split_counts(splits),
            "failures": failures}
