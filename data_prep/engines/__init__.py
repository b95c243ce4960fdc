"""Speech engines behind one interface, so one corpus builder renders words with any of them.

An engine turns words into 16 kHz float32 waves, trimmed to the word, one per word:

    engine = engines.load("kokoro")            # or "espeak", "piper"
    waves = engine.render(["left", "right"], "af_heart", {"speed": 1.0})

`voices()` names the voices it offers, `draw_settings(rng)` draws the settings of one take (rate,
pitch, speed, noise scales...), and `model_id` names the model files, so a rendered clip can be
cached under (engine, model_id, voice, settings, word). eSpeak NG is embedded (the default);
Kokoro and Piper are optional extras, and loading one that is not installed ends in one line
naming what to install.
"""

from __future__ import annotations

import importlib
import re
from typing import Protocol

import numpy as np

from tdnn import audio
from tdnn.errors import UserError

SAMPLE_RATE = 16000
NAMES = ("espeak", "kokoro", "piper")
INSTALL = {
    "espeak": "reinstall tdnn (espeakng-loader is one of its dependencies)",
    "kokoro": "pip install 'tdnn[kokoro]' and fetch the voices with `tdnn prepare kokoro-voices` "
              "(see docs/voices.md)",
    "piper": "pip install 'tdnn[piper]' (see docs/voices.md)",
}


class Engine(Protocol):
    """What the corpus builder needs from a speech engine."""

    name: str
    model_id: str
    words_per_call: int  # words rendered per call (and so cached together)

    def voices(self) -> list[str]:
        """Names of the voices this engine offers."""

    def draw_settings(self, rng: np.random.Generator) -> dict:
        """Settings of one take (one pass of a voice over the words), drawn from `rng`."""

    def render(self, words: list[str], voice: str, settings: dict) -> list[np.ndarray]:
        """Each word spoken by `voice` with `settings`: 16 kHz float32, trimmed to the word."""


def load(name: str, **options) -> Engine:
    """The engine `name` ('espeak', 'kokoro', 'piper'); options go to its constructor."""
    if name not in NAMES:
        raise UserError(f"--engines: unknown engine '{name}'; choose from {', '.join(NAMES)}")
    try:
        return importlib.import_module(f"{__name__}.{name}").create(**options)
    except ImportError as e:  # the extra's packages are imported at load or first use
        raise UserError(f"engine '{name}' needs a package that is not installed "
                        f"({e.name}): {INSTALL[name]}") from None


def voice_tag(voice: str) -> str:
    """A voice as it appears in speaker ids: only letters, digits, '.' and '+' (no '_' or '-').

    'af_heart' -> 'afheart', 'en-us+m3' -> 'enus+m3', 'af_bella:0.5+am_adam:0.5' ->
    'afbella50+amadam50'. Speaker ids are '<engine>-<voice tag>'.
    """
    parts = []
    for part in voice.split("+"):
        name, _, weight = part.partition(":")
        parts.append(re.sub(r"[^A-Za-z0-9.]", "", name)
                     + (f"{round(float(weight) * 100)}" if weight else ""))
    return "+".join(parts)


def trim(wave: np.ndarray, below_peak_db: float = 40.0) -> np.ndarray:
    """The wave without leading/trailing parts more than `below_peak_db` under its peak
    (`tdnn.audio.loud_span`); empty for a silent wave."""
    first, end = audio.loud_span(wave, below_peak_db)
    return wave[first:end]


def fade(wave: np.ndarray, samples: int = 80) -> np.ndarray:
    """The wave with raised-cosine ramps of `samples` (5 ms at 16 kHz) at both ends, so a word
    cut out of a longer utterance starts and stops without a click."""
    n = min(samples, len(wave) // 2)
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(wave.dtype)
    out = wave.copy()
    out[:n] *= ramp
    out[len(out) - n:] *= ramp[::-1]
    return out
