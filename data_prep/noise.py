"""Long background-noise recordings for `_background_noise_/`: white, pink, brown, mains hum and
babble (several synthetic talkers overlapped), generated from a seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from . import corpus, espeak
from .words import SENTENCE_WORDS

NOISE_RMS_DB = -20.0  # every file is scaled to this RMS level (dBFS)


def _scale(x: np.ndarray, rms_db: float = NOISE_RMS_DB) -> np.ndarray:
    """x scaled to the given RMS in dBFS and clipped to [-1, 1] (float32)."""
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) or 1.0
    return np.clip(x * (10 ** (rms_db / 20) / rms), -1.0, 1.0).astype(np.float32)


def _coloured(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = f[1] if len(f) > 1 else 1.0
    return np.fft.irfft(spectrum / f ** (exponent / 2), n)


def white(n: int, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise."""
    return _scale(rng.standard_normal(n))


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f) noise."""
    return _scale(_coloured(n, rng, 1.0))


def brown(n: int, rng: np.random.Generator) -> np.ndarray:
    """Brown (1/f^2) noise."""
    return _scale(_coloured(n, rng, 2.0))


def hum(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Mains hum (50 or 60 Hz and random harmonics, slowly wavering) over faint pink noise."""
    t = np.arange(n) / sr
    mains = rng.choice([50.0, 60.0])
    drift = 0.3 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t)  # Hz of slow wander
    phase = 2 * np.pi * np.cumsum(mains + drift) / sr
    x = sum(rng.uniform(0.1, 1.0) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
            for k in range(1, 9))
    return _scale(x + 0.05 * _coloured(n, rng, 1.0) / np.std(_coloured(n, rng, 1.0)))


def babble(n: int, rng: np.random.Generator, sr: int, talkers: int = 6) -> np.ndarray:
    """Several synthetic talkers (random accents, variants, prosody) speaking random sentences."""
    variants = espeak.variants()
    mix = np.zeros(n)
    for _ in range(talkers):
        voice = espeak.voice_name(rng.choice(espeak.ENGLISH_ACCENTS), rng.choice(variants))
        track, length = [], 0
        while length < n:
            text = " ".join(rng.choice(SENTENCE_WORDS, size=int(rng.integers(5, 12))))
            syn = espeak.synthesize(text, voice, rate=int(rng.integers(130, 230)),
                                    pitch=int(rng.integers(20, 80)))
            wave = soxr.resample(syn.wave, syn.sample_rate, sr)
            track.append(wave * 10 ** (rng.uniform(-6, 0) / 20))
            length += len(wave)
        seq = np.concatenate(track)
        start = int(rng.integers(0, len(seq) - n + 1))
        mix += seq[start:start + n] / (np.sqrt(np.mean(seq ** 2)) or 1.0)
    return _scale(mix)


FOLDER = "_background_noise_"
NOISES = ("white_noise", "pink_noise", "brown_noise", "hum", "babble")


def _make(job: tuple) -> np.ndarray:
    """One noise by name, seeded (runs in a fresh process: babble uses libespeak-ng)."""
    name, n, sr, seed, i = job
    rng = np.random.default_rng([seed, 7919, i])
    if name == "white_noise":
        return white(n, rng)
    if name == "pink_noise":
        return pink(n, rng)
    if name == "brown_noise":
        return brown(n, rng)
    if name == "hum":
        return hum(n, rng, sr)
    return babble(n, rng, sr)


def write_noises(folder: Path, seconds: float = 60.0, seed: int = 0, sr: int = 16000,
                 jobs: int = 1) -> list[Path]:
    """Write each noise in NOISES as `<folder>/<name>.wav` (16-bit PCM); return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * sr))
    jobs_list = [(name, n, sr, seed, i) for i, name in enumerate(NOISES)]
    paths = []
    for (name, *_), wave in zip(jobs_list, espeak.map_processes(_make, jobs_list, jobs)):
        path = folder / f"{name}.wav"
        corpus.write_wav(path, wave, sr)
        paths.append(path)
    return paths
