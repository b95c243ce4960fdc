"""Kokoro voices inside training and dev keyword streams (`tdnn prepare kws-streams
--kokoro-share`): whole utterances, carrier phrase and keyword or look-alike together, spoken in
one model call, the word's span from Kokoro's predicted token durations trimmed to its sound, so
streams hear another engine's connected speech, not only words spliced between eSpeak's.

Train streams speak with Kokoro's training voices and blends, dev streams with its four dev
voices (`data_prep.voice_sets`); test streams keep engines no corpus renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tdnn.audio import loud_span
from tdnn.errors import UserError

from .voice_sets import default_sets

SPEAKERS = 40  # at least; every voice of the set gets one


@dataclass(frozen=True)
class KokoroSpeaker:
    """One Kokoro voice (or blend) at its own speed."""
    voice: str
    speed: float


@lru_cache(maxsize=1)
def engine():
    """The Kokoro engine of this process (loaded once; one thread, as stream workers run)."""
    from .engines import load
    return load("kokoro", words_per_call=1)


def speakers(voices: str, seed: int) -> list[KokoroSpeaker]:
    """Speakers cycling through Kokoro's voices of set `voices` (train or dev), speed drawn
    with `seed`."""
    from .engines.kokoro import SPEED_RANGE  # the extra's modules only when Kokoro is used
    names = default_sets("kokoro", engine().voices())[voices]
    if not names:
        raise UserError(f"--kokoro-share: no Kokoro {voices} voices in {engine().voices_dir}; "
                        "run `tdnn prepare kokoro-voices`")
    rng = np.random.default_rng([seed, 13])
    return [KokoroSpeaker(names[i % len(names)], round(float(rng.uniform(*SPEED_RANGE)), 3))
            for i in range(max(SPEAKERS, len(names)))]


def speak(text: str, word: str | None, speaker: KokoroSpeaker
          ) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The utterance at 16 kHz and the sample span of `word` in it (None without a word):
    the word's cut at the predicted durations, trimmed as `render` trims a word."""
    from .engines.kokoro import TRIM_DB
    wave, spans = engine().say(text, speaker.voice, speaker.speed)
    if word is None:
        return wave, None
    words = [t.strip(",.").lower() for t in text.split()]
    a, b = spans[words.index(word)]
    first, last = loud_span(wave[a:b], TRIM_DB)
    if last == 0:
        raise ValueError(f"Kokoro said nothing for {word!r} in {text!r}")
    return wave, (a + first, a + last)
