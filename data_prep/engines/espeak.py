"""eSpeak NG (embedded through espeakng-loader): every English accent x voice variant."""

from __future__ import annotations

import numpy as np
import soxr

from .. import espeak
from ..synth_commands import PITCH_RANGE, PITCH_SPAN_RANGE, RATE_RANGE
from . import SAMPLE_RATE, trim

TRIM_DB = 45.0  # as in the eSpeak corpus (synth_commands)
RENDER_VERSION = 1  # part of the cache key: bump when render() changes its output


class Espeak:
    """Voices 'accent' or 'accent+variant' (e.g. 'en-us+m3'); takes vary rate and pitch."""

    name = "espeak"
    words_per_call = 1

    def __init__(self):
        from importlib.metadata import version
        self.model_id = f"espeakng-loader-{version('espeakng-loader')}:r{RENDER_VERSION}"

    def voices(self) -> list[str]:
        """Every English accent alone and with each voice variant."""
        return [espeak.voice_name(a, v) for a in espeak.ENGLISH_ACCENTS
                for v in [None] + espeak.variants()]

    def draw_settings(self, rng: np.random.Generator) -> dict:
        """Rate (log-uniform words/min), pitch and pitch range, over the eSpeak corpus ranges."""
        return {"rate": int(round(np.exp(rng.uniform(*np.log(RATE_RANGE))))),
                "pitch": int(rng.integers(*PITCH_RANGE)),
                "pitch_range": int(rng.integers(*PITCH_SPAN_RANGE))}

    def render(self, words: list[str], voice: str, settings: dict) -> list[np.ndarray]:
        """One synthesis per word (eSpeak is fast), resampled to 16 kHz and trimmed."""
        waves = []
        for word in words:
            syn = espeak.synthesize(word, voice, **settings)
            waves.append(trim(soxr.resample(syn.wave, syn.sample_rate, SAMPLE_RATE), TRIM_DB))
        return waves


def create() -> Espeak:
    """The eSpeak engine (no options: everything it needs ships with the package)."""
    return Espeak()
