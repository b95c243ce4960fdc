"""Audio input and output: any soundfile-readable file to float32 mono at a target rate.

Integer PCM (16/24/32-bit) is scaled to [-1, 1) by soundfile, channels are averaged, and other
rates are resampled with soxr (band-limited, anti-aliased; the resampler librosa uses).
Every way a file can be unusable raises `AudioError` naming the file and what to do.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError

# File suffixes read as audio when a folder is scanned (formats libsndfile reads), everywhere.
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                            ".aifc", ".au", ".snd", ".sph", ".nist", ".w64", ".rf64", ".caf", ".wv"})

SAMPLE_RATE = 16000
# Rates outside this range are not speech audio (or a corrupt header).
MIN_RATE, MAX_RATE = 1000, 384000


def load(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file as a float32 1-D mono waveform at rate `sr` (resampled with soxr)."""
    path = Path(path)
    _check_rate(sr, f"{path}: target sample rate")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except FileNotFoundError:
        kind = "dangling symbolic link" if path.is_symlink() else "file not found"
        raise AudioError(f"{path}: {kind}; check the path") from None
    except IsADirectoryError:
        raise AudioError(f"{path}: not a file; pass an audio file (WAV, FLAC, ...)") from None
    except OSError as e:
        raise AudioError(f"{path}: cannot open ({e.strerror}); check the path") from None
    try:
        rate, declared, data, truncated = _read_fd(fd, path)
    finally:
        os.close(fd)
    if len(data) < declared or truncated:
        raise AudioError(f"{path}: truncated audio file (shorter than its header says); "
                         "re-create it")
    if data.shape[0] == 0:
        raise AudioError(f"{path}: zero-length audio (no samples); remove it or re-record")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: contains NaN or infinite samples; fix or remove the file")
    wave = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    return resample(wave, rate, sr)


def scan_folder(folder: Path, suffixes: set[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Entries under `folder` (recursively, sorted) whose suffix is in `suffixes`, and what was
    skipped with why: linked folders are not followed (no loops). Entries that are not regular
    files (FIFOs, dangling links) are returned, so that `load` reports them."""
    found, skipped = [], []
    for top, dirs, files in os.walk(folder, followlinks=False, onerror=lambda e: skipped.append(
            (Path(e.filename), f"cannot list folder ({e.strerror})"))):
        for d in sorted(dirs):
            if os.path.islink(os.path.join(top, d)):
                skipped.append((Path(top) / d, "linked folder not followed (it could loop)"))
        found += [Path(top) / f for f in files if Path(f).suffix.lower() in suffixes]
    return sorted(found), sorted(skipped)


def _read_fd(fd: int, path: Path):
    """(rate, frames in header, samples [n, channels], WAV truncated?) from an open descriptor."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO, not a file" if stat.S_ISFIFO(info.st_mode) else "not a file"
        raise AudioError(f"{path}: {kind}; pass an audio file (WAV, FLAC, ...)")
    if info.st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes); re-create or remove it")
    truncated = _wav_truncated(fd, info.st_size)
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        with sf.SoundFile(fd, closefd=False) as f:
            rate, declared = f.samplerate, f.frames
            _check_rate(rate, f"{path}: sample rate in the header")
            data = f.read(dtype="float32", always_2d=True)
    except sf.LibsndfileError as e:
        reason = str(e).split(":", 1)[-1].strip() or "unreadable"
        raise AudioError(f"{path}: not readable as audio ({reason}); "
                         "pass a WAV/FLAC/OGG file that is not corrupt") from None
    return rate, declared, data, truncated


def save(path: str | Path, wave: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write a 1-D waveform in [-1, 1] as 16-bit PCM WAV, creating parent folders."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"save expects a 1-D waveform, got shape {wave.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(wave, -1.0, 1.0), int(sr), subtype="PCM_16", format="WAV")


def resample(wave: np.ndarray, orig_sr: int, sr: int) -> np.ndarray:
    """Resample a 1-D waveform from `orig_sr` to `sr` with soxr (high quality); float32 out."""
    wave = np.asarray(wave, dtype=np.float32)
    if int(orig_sr) == int(sr):
        return wave
    return soxr.resample(wave, int(orig_sr), int(sr), quality="HQ").astype(np.float32, copy=False)


def _check_rate(rate: int, what: str) -> None:
    """Reject sample rates no speech audio has (AudioError naming `what`)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{what} is {rate} Hz, outside {MIN_RATE}-{MAX_RATE} Hz; "
                         "the file is corrupt or not speech audio")


def _wav_truncated(fd: int, size: int) -> bool:
    """True when a RIFF/WAVE file's data chunk claims more bytes than the file holds.

    libsndfile silently shortens such files, so a cut-off download would load as a short clip.
    """
    head = os.pread(fd, 12, 0)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    pos = 12
    while True:
        chunk = os.pread(fd, 8, pos)
        if len(chunk) < 8:
            return False
        cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"data":
            return csize not in (0, 0xFFFFFFFF) and pos + 8 + csize > size
        pos += 8 + csize + (csize & 1)


def random_slice(noises: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples from a random one of `noises` at a random start (a noise shorter than `n` is
    tiled first): the background slice that augmentation, silence clips and streams mix in."""
    noise = tile_to(noises[rng.integers(len(noises))], n)
    start = int(rng.integers(len(noise) - n + 1))
    return noise[start:start + n]


def tile_to(noise: np.ndarray, n: int) -> np.ndarray:
    """`noise` repeated end to end to at least `n` samples (itself when it is long enough)."""
    return np.tile(noise, -(-n // len(noise))) if len(noise) < n else noise


def loud_span(wave: np.ndarray, below_db: float) -> tuple[int, int]:
    """(first, last + 1): the samples from the first to the last one within `below_db` dB of
    the peak, i.e. leading and trailing silence cut; (0, 0) for an all-zero or empty wave."""
    peak = float(np.max(np.abs(wave))) if len(wave) else 0.0
    if peak == 0.0:
        return 0, 0
    loud = np.flatnonzero(np.abs(wave) >= peak * 10 ** (-below_db / 20))
    return int(loud[0]), int(loud[-1]) + 1
