"""Flite voices for test keyword streams (`tdnn prepare kws-streams --voices flite`): an engine
that no training corpus uses, as the Flite/Festival clips of `data_prep.heldout_tts` are.

A keyword's time span comes from Flite's own segment times (`flite -psdur`): the utterance's
segments are split into words by each word's phone count in Flite's lexicon (`flite -ps` on the
word alone), and the keyword's segments must be its lexicon phones, else the utterance is not
used. Festival is left out here: a process per utterance loads its voice each time.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from .heldout_tts import F0_MEAN, FLITE_VOICES

SAMPLE_RATE = 16000
STRETCH = (0.85, 1.2)  # duration stretch per speaker (heldout_tts's variants span this)
PITCH = (0.87, 1.15)  # F0 factor per speaker


@dataclass(frozen=True)
class FliteSpeaker:
    """One Flite voice with its own tempo and pitch."""
    voice: str
    stretch: float
    pitch: float


def speakers(count: int, seed: int) -> list[FliteSpeaker]:
    """`count` speakers cycling through the Flite voices, tempo and pitch drawn with `seed`."""
    rng = np.random.default_rng([seed, 11])
    return [FliteSpeaker(FLITE_VOICES[i % len(FLITE_VOICES)], float(rng.uniform(*STRETCH)),
                         float(rng.uniform(*PITCH))) for i in range(count)]


def _flite(speaker: FliteSpeaker, text: str, *options: str) -> str:
    """Run flite on `text` with this speaker's settings; its standard output."""
    cmd = ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={speaker.stretch}",
           "--setf", f"int_f0_target_mean={F0_MEAN * speaker.pitch}", *options, "-t", text]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout


@lru_cache(maxsize=None)
def lexicon_phones(voice: str, word: str) -> tuple[str, ...]:
    """The phones a Flite voice gives `word` said alone (kal's lexicon differs from the rest)."""
    out = _flite(FliteSpeaker(voice, 1.0, 1.0), word, "-ps", "-o", "none")
    return tuple(p for p in out.split() if p != "pau")


def speak(text: str, word: str | None, speaker: FliteSpeaker
          ) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The utterance at 16 kHz and the sample span of `word` in it (None without a word).
    ValueError when Flite's segments do not line up with the words' lexicon phones."""
    import soxr
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "u.wav"
        out = _flite(speaker, text, "-psdur", "-o", str(path))
        wave, sr = sf.read(path, dtype="float64")
    wave = soxr.resample(wave, sr, SAMPLE_RATE) if sr != SAMPLE_RATE else wave
    if word is None:
        return wave, None
    segments = [(name, float(end)) for name, end in (s.rsplit(":", 1) for s in out.split())]
    words = [w.strip(",.").lower() for w in text.split()]
    i = next(k for k, w in enumerate(words) if w == word)
    phones = [lexicon_phones(speaker.voice, w) for w in words]
    spoken = [(n, e) for n, e in segments if n != "pau"]
    if len(spoken) != sum(map(len, phones)):
        raise ValueError(f"flite segments of {text!r} do not match its words")
    before = sum(map(len, phones[:i]))
    own = spoken[before:before + len(phones[i])]
    if tuple(n for n, _ in own) != phones[i]:
        raise ValueError(f"flite segments of {word!r} in {text!r} are not its phones")
    start = segments[segments.index(own[0]) - 1][1]  # the end of the segment before it
    a, b = int(start * SAMPLE_RATE), int(np.ceil(own[-1][1] * SAMPLE_RATE))
    return wave, (a, min(len(wave), b))
