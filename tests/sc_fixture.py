"""A tiny Speech Commands-layout corpus of tone 'words' for fast training/evaluation tests.

Each word is a fixed pair of successive tones at frequencies no other word uses; each 'speaker' shifts the pitch and timing a little and adds noise, so a small
model can learn the words in one or two epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
TONES = {"yes": (300, 900), "no": (450, 1300), "up": (600, 1800), "down": (800, 2400),
         "left": (1000, 3000), "cat": (1200, 3600)}


def tone_word(word: str, speaker: int, take: int) -> np.ndarray:
    """One second: two 200 ms tones of `word`, shifted by the speaker, plus a little noise."""
    rng = np.random.default_rng([speaker, take, len(word), ord(word[0])])
    f1, f2 = TONES[word]
    scale = 1 + 0.04 * ((speaker % 5) - 2)
    start = int(SR * (0.2 + 0.1 * rng.random()))
    wave = 0.01 * rng.standard_normal(SR)
    t = np.arange(int(0.2 * SR)) / SR
    for k, f in enumerate((f1, f2)):
        s = start + k * len(t)
        wave[s:s + len(t)] += 0.5 * np.sin(2 * np.pi * f * scale * t)
    return wave.astype(np.float32)


def make_corpus(root: Path, words=("yes", "no", "up", "down", "left", "cat"), speakers: int = 12,
                takes: int = 2, lists: bool = True) -> Path:
    """Write ROOT/<word>/spk<k>_nohash_<n>.wav; speakers 0-1 validation, 2-3 test (list files)."""
    root = Path(root)
    val, test = [], []
    for word in words:
        (root / word).mkdir(parents=True, exist_ok=True)
        for spk in range(speakers):
            for take in range(takes):
                rel = f"{word}/spk{spk:02d}_nohash_{take}.wav"
                sf.write(root / rel, tone_word(word, spk, take), SR, subtype="PCM_16")
                (val if spk < 2 else test if spk < 4 else []).append(rel)
    if lists:
        (root / "validation_list.txt").write_text("\n".join(val) + "\n")
        (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root
