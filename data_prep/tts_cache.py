"""Rendered words and fetched model files, kept outside run folders and shared by every corpus.

    $TDNN_TTS_CACHE, else $XDG_CACHE_HOME/tdnn, else ~/.cache/tdnn
        tts/<engine>/<voice tag>/<word>-<key>.wav   one rendered word, 16 kHz float32, trimmed
        kokoro/                                     the joined Kokoro model and its voice styles

A rendered word's key hashes everything that changes its audio (engine, model files, voice,
settings, the words spoken in the same call), so a hit returns the same samples and a change
of any of them renders afresh. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ENV = "TDNN_TTS_CACHE"


def root(override: str | Path | None = None) -> Path:
    """The cache folder: `override`, else $TDNN_TTS_CACHE, else $XDG_CACHE_HOME/tdnn."""
    if override:
        return Path(override)
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tdnn"


def key(**fields) -> str:
    """A short stable hash of JSON-able fields."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def word_path(cache: Path, engine: str, tag: str, word: str, digest: str) -> Path:
    """Where one rendered word lives."""
    return cache / "tts" / engine / tag / f"{word}-{digest}.wav"


def read(path: Path) -> np.ndarray | None:
    """A cached wave, or None when it is not there (or unreadable: it will be rendered again)."""
    try:
        wave, _ = sf.read(path, dtype="float32")
    except (OSError, RuntimeError, sf.LibsndfileError):
        return None
    return wave


def write_atomic(path: Path, wave: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write a WAV file under a temporary name in its folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            sf.write(fh, wave, sample_rate, subtype=subtype, format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
