"""Stream-like training clips in the Speech Commands layout: 1 s windows cut from eSpeak NG
utterances the way a streaming detector sees them. Keyword clips hold a keyword spoken in a
carrier phrase or next to a sentence, its end at a random point late in the window; `_unknown_`
clips hold a look-alike word in the same carriers, a window of keyword-free speech, or a keyword
cut by the window's edge (only part of it heard).

    tdnn prepare stream-clips --out data/stream_clips --speakers 150

Every clip is in the training split (no list files name it): add the folder to a training run
with `--set data.extra_train=[data/stream_clips]`; its `_unknown_` folder is kept whole.
Voices come from the train set of data_prep/stream_voices.py, never the dev or test streams'.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tdnn.atomic import atomic_write_text
from tdnn.data.words import UNKNOWN, WORDS_10

from . import corpus, espeak
from .kws_streams import SAMPLE_RATE, speak, utterance_text
from .synth_commands import Speaker, make_speakers
from .stream_voices import voice_set

CLIP = SAMPLE_RATE
FIELDS = ("file", "label", "kind", "speaker", "voice", "text")
# utterances per speaker of each kind: a keyword clip and a cut-keyword clip come from each
# keyword utterance
PER_SPEAKER = {"keyword": 20, "hard": 15, "sentence": 10}


@dataclass(frozen=True)
class ClipJob:
    """One speaker's clips."""
    out: str
    speaker: Speaker
    seed: int


def window(wave: np.ndarray, end: int) -> np.ndarray:
    """The CLIP samples of `wave` ending at `end`, zero-padded where they fall outside it."""
    out = np.zeros(CLIP)
    lo = end - CLIP
    a, b = max(0, lo), min(len(wave), end)
    if b > a:
        out[a - lo:b - lo] = wave[a:b]
    return out


def cuts(kind: str, wave: np.ndarray, span: tuple[int, int] | None, rng: np.random.Generator
         ) -> list[tuple[str, int]]:
    """(label, window end) pairs for one utterance: see the module docstring."""
    if kind == "sentence":
        return [(UNKNOWN, int(rng.integers(min(CLIP // 2, len(wave)), len(wave) + 1)))]
    a, b = span
    whole = b + int(rng.uniform(0.03, 0.35) * SAMPLE_RATE)
    if whole - CLIP > a:  # a word longer than the room left: end the window at the word's end
        whole = b
    if kind == "hard":
        return [(UNKNOWN, whole)]
    part = a + int(rng.uniform(0.2, 0.5) * (b - a))  # only the word's first part heard
    return [("keyword", whole), (UNKNOWN, part)]


def speaker_clips(job: ClipJob) -> list[dict]:
    """Render one speaker's utterances and write their clips; the manifest rows."""
    rng = np.random.default_rng(job.seed)
    out, sp = Path(job.out), job.speaker
    rows, n = [], 0
    for kind, count in PER_SPEAKER.items():
        for _ in range(count):
            text, word = utterance_text(kind, rng)
            try:
                wave, span = speak(text, word, sp, rng)
            except (StopIteration, ValueError):  # eSpeak gave the word no phonemes of its own
                continue
            peak = 10 ** (rng.uniform(-20, -1) / 20) / (np.max(np.abs(wave)) or 1.0)
            for label, end in cuts(kind, wave, span, rng):
                label = word if label == "keyword" else label
                rel = f"{label}/{sp.id}_nohash_{n}.wav"
                clip = window(wave, end) * peak
                clip += rng.standard_normal(CLIP) * 10 ** (-70 / 20)  # no digital silence
                (out / label).mkdir(exist_ok=True)
                corpus.write_wav(out / rel, clip.astype(np.float32), SAMPLE_RATE)
                rows.append({"file": rel, "label": label, "kind": kind, "speaker": sp.id,
                             "voice": sp.voice, "text": text})
                n += 1
    return rows


def build(out: Path, speakers: int, seed: int = 0, jobs: int = 1) -> dict:
    """Write the clips of `speakers` train-set speakers, the manifest and the completion
    marker into `out` (a new or empty folder)."""
    accents, variants = voice_set("train")
    chosen = make_speakers(speakers, seed, accents, variants)
    corpus.begin(out, [])
    for label in (*WORDS_10, UNKNOWN):
        (out / label).mkdir(exist_ok=True)
    rows = []
    tasks = [ClipJob(str(out), sp, int(np.random.default_rng([seed, i]).integers(2**31)))
             for i, sp in enumerate(chosen)]
    for part in espeak.map_processes(speaker_clips, tasks, jobs):
        rows += part
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "manifest.csv", buf.getvalue())
    for name in ("validation_list.txt", "testing_list.txt"):
        atomic_write_text(out / name, "")
    corpus.finish(out)
    counts = {lab: sum(r["label"] == lab for r in rows) for lab in (*WORDS_10, UNKNOWN)}
    return {"clips": len(rows), "speakers": speakers, "keyword_clips":
            sum(v for k, v in counts.items() if k != UNKNOWN), "unknown_clips": counts[UNKNOWN],
            "failures": []}
