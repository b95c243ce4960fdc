"""Synthetic keyword corpus in the exact Speech Commands layout, spoken by eSpeak NG voices.

    OUT/<word>/<speaker>_nohash_<n>.wav   1 s, 16 kHz, 16-bit clips, word at a random position
    OUT/validation_list.txt, OUT/testing_list.txt   split by speaker with the TensorFlow hashing
    OUT/_background_noise_/*.wav          white, pink, brown, hum, babble
    OUT/manifest.csv                      voice, prosody, level and word span of every clip

A speaker is one accent x voice variant x rate x pitch x pitch range. Speakers are drawn so that
as many distinct (accent, variant) voices as possible appear before any repeats, because
diversity of voices, not clips per voice, is what makes a keyword spotter generalise. Each clip
jitters its speaker's rate and pitch a little (a speaker never says a word twice the same way).
Everything is drawn from `seed`: the same seed and options give identical files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soxr

from tdnn.atomic import atomic_write_text
from tdnn.errors import UserError

from . import corpus, espeak, noise
from .engines import trim

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
BASE_VARIANT = "none"  # the accent's own voice, without a variant
RATE_RANGE = (100, 280)  # words per minute
PITCH_RANGE = (10, 90)  # eSpeak pitch 0-100
PITCH_SPAN_RANGE = (5, 95)  # eSpeak pitch range 0-100 (0 = monotone)
LEVEL_DB_RANGE = (-26.0, -1.0)  # word peak level, dBFS
# A faint white noise floor (so no clip holds digital silence), its RMS this many dB below the
# speech peak; noise at training-relevant SNRs is the augmenter's job, not the corpus's.
FLOOR_BELOW_PEAK_DB = (50.0, 75.0)
TRIM_DB = 45.0  # leading/trailing audio this far below the peak is silence
MANIFEST_FIELDS = ("file", "word", "speaker", "accent", "variant", "voice", "rate", "pitch",
                   "pitch_range", "level_db", "floor_db", "word_start", "word_end", "split")


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: a voice and its prosody settings."""
    id: str
    accent: str
    variant: str
    rate: int
    pitch: int
    pitch_range: int

    @property
    def voice(self) -> str:
        """The eSpeak voice name, e.g. 'en-gb-x-rp+f3'."""
        variant = None if self.variant == BASE_VARIANT else self.variant
        return espeak.voice_name(self.accent, variant)


def all_variants() -> list[str]:
    """Variant names usable in `--variants`: 'none' (the accent's own voice) and voices/!v."""
    return [BASE_VARIANT] + espeak.variants()


def select(names: str | None, exclude: str | None, known: list[str], option: str) -> list[str]:
    """The `known` names kept by an include list ('all' or None = all) and an exclude list."""
    def parse(spec: str | None, opt: str) -> list[str]:
        items = [s.strip() for s in (spec or "").split(",") if s.strip()]
        lowered = {k.lower(): k for k in known}
        bad = [s for s in items if s.lower() not in lowered and s.lower() != "all"]
        if bad:
            raise UserError(f"{opt}: unknown name(s) {', '.join(bad)}; choose from "
                            f"{', '.join(known)}")
        return [lowered[s.lower()] for s in items if s.lower() != "all"]
    keep = parse(names, option) or list(known)
    drop = set(parse(exclude, "--exclude-" + option.lstrip("-")))
    kept = [k for k in keep if k not in drop]
    if not kept:
        raise UserError(f"{option}: the include/exclude lists leave no voices; keep at least one")
    return kept


def make_speakers(n: int, seed: int, accents: list[str], variants: list[str]) -> list[Speaker]:
    """`n` speakers, prosody drawn at random, voices spread as evenly as possible.

    Accents take turns (balanced counts); each accent walks through its own shuffled list of
    variants, so no (accent, variant) voice repeats before all of that accent's have appeared.
    """
    if n < 1:
        raise UserError(f"--speakers must be at least 1, got {n}")
    rng = np.random.default_rng([seed, 1])
    accent_order = [accents[i] for i in rng.permutation(len(accents))]
    queues: dict[str, list[str]] = {a: [] for a in accents}
    ids: set[str] = set()
    speakers = []
    for i in range(n):
        accent = accent_order[i % len(accent_order)]
        if not queues[accent]:
            queues[accent] = [variants[j] for j in rng.permutation(len(variants))]
        variant = queues[accent].pop()
        sid = f"{int(rng.integers(2**32)):08x}"
        while sid in ids:
            sid = f"{int(rng.integers(2**32)):08x}"
        ids.add(sid)
        rate = int(round(np.exp(rng.uniform(*np.log(RATE_RANGE)))))
        speakers.append(Speaker(sid, accent, variant, rate, int(rng.integers(*PITCH_RANGE)),
                                int(rng.integers(*PITCH_SPAN_RANGE))))
    return speakers


def speak_word(word: str, speaker: Speaker, rng: np.random.Generator
               ) -> tuple[np.ndarray, int, int]:
    """The word by this speaker (rate/pitch jittered per clip), trimmed, at 16 kHz, <= 0.95 s.

    Returns (wave, rate, pitch); a word too long at the drawn rate is re-spoken faster.
    """
    rate = int(np.clip(speaker.rate * rng.uniform(0.9, 1.1), espeak.RATE_MIN, espeak.RATE_MAX))
    pitch = int(np.clip(speaker.pitch + rng.integers(-5, 6), 0, 100))
    limit = int(0.95 * CLIP_SAMPLES)
    for _ in range(4):
        syn = espeak.synthesize(word, speaker.voice, rate=rate, pitch=pitch,
                                pitch_range=speaker.pitch_range)
        wave = trim(soxr.resample(syn.wave, syn.sample_rate, SAMPLE_RATE), TRIM_DB)
        if len(wave) == 0:
            raise RuntimeError(f"eSpeak produced no audio for {word!r} with {speaker.voice}")
        if len(wave) <= limit or rate >= espeak.RATE_MAX:
            break
        rate = min(espeak.RATE_MAX, int(rate * len(wave) / limit * 1.1) + 1)
    return wave[:limit], rate, pitch


def make_clip(word: str, speaker: Speaker, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A 1 s clip: the word at a random position and peak level over a faint noise floor."""
    wave, rate, pitch = speak_word(word, speaker, rng)
    clip, info = place_word(wave, rng)
    return clip, {"rate": rate, "pitch": pitch, **info}


def place_word(wave: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A 1 s clip holding `wave` (<= 1 s, 16 kHz) at a random position and peak level."""
    level_db = float(rng.uniform(*LEVEL_DB_RANGE))
    floor_db = level_db - float(rng.uniform(*FLOOR_BELOW_PEAK_DB))
    start = int(rng.integers(0, CLIP_SAMPLES - len(wave) + 1))
    clip = rng.standard_normal(CLIP_SAMPLES) * 10 ** (floor_db / 20)
    clip[start:start + len(wave)] += wave * (10 ** (level_db / 20) / np.max(np.abs(wave)))
    info = {"level_db": round(level_db, 2),
            "floor_db": round(floor_db, 2), "word_start": start, "word_end": start + len(wave)}
    return np.clip(clip, -1, 1).astype(np.float32), info


@dataclass(frozen=True)
class _Job:
    """One speaker's share of the corpus, run in a worker process."""
    out: str
    speaker: Speaker
    index: int
    words: tuple[str, ...]
    repeats: int
    seed: int


def _speaker_clips(job: _Job) -> tuple[list[dict], list[tuple[str, str]]]:
    """Write every clip of one speaker; return manifest rows and (file, reason) failures."""
    rows, failures = [], []
    sp = job.speaker

    def clip_row(word: str, rel: str, rng: np.random.Generator) -> dict:
        clip, info = make_clip(word, sp, rng)
        corpus.write_wav(Path(job.out) / rel, clip, SAMPLE_RATE)
        return {"file": rel, "word": word, "speaker": sp.id, "accent": sp.accent,
                "variant": sp.variant, "voice": sp.voice, "pitch_range": sp.pitch_range, **info}

    for w, word in enumerate(job.words):
        for n in range(job.repeats):
            rel = f"{word}/{sp.id}_nohash_{n}.wav"
            rng = np.random.default_rng([job.seed, 2, job.index, w, n])
            corpus.attempt(rel, lambda: clip_row(word, rel, rng), rows, failures)
    return rows, failures


def write_split_lists(out: Path, files: list[str]) -> dict[str, int]:
    """Write validation_list.txt and testing_list.txt by the hashing rule; file -> split."""
    from tdnn.data.speech_commands import which_set  # here: keeps torch out of the workers
    splits = {f: which_set(f) for f in files}
    for name, split in (("validation_list.txt", "validation"), ("testing_list.txt", "testing")):
        chosen = sorted(f for f, s in splits.items() if s == split)
        atomic_write_text(out / name, "".join(f + "\n" for f in chosen))
    return splits


def split_counts(splits: dict[str, str]) -> dict[str, int]:
    """Number of clips in each of the three splits."""
    return {s: sum(1 for v in splits.values() if v == s)
            for s in ("training", "validation", "testing")}


def planned_files(speakers: list[Speaker], words: list[str], repeats: int,
                  noise_seconds: float) -> list[str]:
    """Every file `build` writes, relative to the corpus folder."""
    clips = [f"{w}/{sp.id}_nohash_{n}.wav" for sp in speakers for w in words
             for n in range(repeats)]
    noises = ([f"{noise.FOLDER}/{name}.wav" for name in noise.NOISES] if noise_seconds > 0
              else [])
    return clips + noises + ["validation_list.txt", "testing_list.txt", "manifest.csv",
                             "speakers.csv"]


def build(out: Path, speakers: list[Speaker], words: list[str], seed: int = 0, repeats: int = 1,
          jobs: int = 2, noise_seconds: float = 60.0, progress: bool = True) -> dict:
    """Build the corpus in `out`; return a summary with counts and the failed clips.

    Files an earlier build recorded are removed first; the completion marker is written last.
    """
    corpus.begin(out, planned_files(speakers, words, repeats, noise_seconds))
    for word in words:
        (out / word).mkdir(exist_ok=True)
    tasks = [_Job(str(out), sp, i, tuple(words), repeats, seed) for i, sp in enumerate(speakers)]
    rows, failures = corpus.collect(espeak.map_processes(_speaker_clips, tasks, jobs,
                                                         crashed=corpus.speaker_died),
                                    len(tasks) * len(words) * repeats, "synth-commands",
                                    progress=progress)
    if noise_seconds > 0:
        noise.write_noises(out / noise.FOLDER, noise_seconds, seed, SAMPLE_RATE, jobs)
    splits = write_split_lists(out, [r["file"] for r in rows])
    for r in rows:
        r["split"] = splits[r["file"]]
    rows.sort(key=lambda r: r["file"])
    corpus.write_csv(out / "manifest.csv", list(MANIFEST_FIELDS), rows)
    corpus.write_csv(out / "speakers.csv", list(asdict(speakers[0])) + ["voice"],
              [{**asdict(sp), "voice": sp.voice} for sp in speakers])
    corpus.finish(out)
    return {"clips": len(rows), "speakers": len(speakers), "words": len(words),
            "voices": len({sp.voice for sp in speakers}), "splits": split_counts(splits),
            "failures": failures}
