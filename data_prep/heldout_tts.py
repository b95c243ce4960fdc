"""Held-out test voices: Speech Commands words spoken by synthesizers that are NOT eSpeak.

    python -m data_prep.heldout_tts --out data/heldout_tts

renders the ten keywords and some other words with Flite (voices kal, kal16, awb, rms, slt) and
Festival (kal_diphone, cmu_us_slt_arctic_hts), three prosody variants per voice (duration
stretch x pitch), each as a 1 s 16 kHz clip, plus an 8 kHz band-limited copy of every clip
(resampled to 8 kHz and back, so it is still a 16 kHz file). Layout:

    OUT/<word>/<engine>-<voice>-v<k>[-8k]_nohash_0.wav
    OUT/manifest.csv     file, word, engine, voice, variant, condition (16k | 8k)

There are no list files, so `tdnn evaluate RUN --data-dir OUT` scores the whole folder (words
outside the ten count as `_unknown_`), and `by_speaker` in its metrics gives each voice and
condition. This corpus is a test condition ("voices training never heard"): never train on it.
Needs the Debian packages flite, festival, festvox-kallpc16k and festvox-us-slt-hts.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tdnn import audio
from tdnn.errors import UserError

from . import corpus
from .words import COMMANDS_10

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
UNKNOWN_WORDS = ["bed", "bird", "cat", "dog", "house", "sheila", "tree", "wow"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = {"kal_diphone": "voice_kal_diphone", "slt_hts": "voice_cmu_us_slt_arctic_hts"}
# (duration stretch, pitch factor) per variant: neutral, quicker and higher, slower and lower.
VARIANTS = [(1.0, 1.0), (0.85, 1.15), (1.2, 0.87)]
F0_MEAN = 110.0  # Flite's default target mean F0 (Hz) for its diphone voices
TRIM_DB = 40.0
PEAK_DB_RANGE = (-20.0, -3.0)


@dataclass
class Voice:
    """One synthesizer voice."""

    engine: str  # 'flite' | 'festival'
    name: str

    @property
    def tag(self) -> str:
        """Speaker-id prefix in file names, e.g. 'flite-kal16'."""
        return f"{self.engine}-{self.name.replace('_', '')}"


def voices() -> list[Voice]:
    """Every voice this script renders."""
    return [Voice("flite", v) for v in FLITE_VOICES] + [Voice("festival", v) for v in FESTIVAL_VOICES]


def check_tools() -> None:
    """Raise UserError naming the missing synthesizer when flite or festival is not installed."""
    for tool, package in (("flite", "flite"), ("text2wave", "festival")):
        if shutil.which(tool) is None:
            raise UserError(f"{tool}: not installed; apt-get install {package} festvox-kallpc16k "
                            "festvox-us-slt-hts")


def flite(word: str, voice: str, stretch: float, pitch: float, path: Path) -> None:
    """Render `word` with a Flite voice into `path` (its native rate)."""
    cmd = ["flite", "-voice", voice, "-t", f"{word}.", "-o", str(path),
           "--setf", f"duration_stretch={stretch}", "--setf", f"int_f0_target_mean={F0_MEAN * pitch}"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def festival(words: list[str], voice: str, stretch: float, folder: Path) -> list[Path]:
    """Render `words` with one Festival process (voice loading is slow); paths in word order."""
    paths = [folder / f"{i}.wav" for i in range(len(words))]
    script = [f"({FESTIVAL_VOICES[voice]})", f"(Parameter.set 'Duration_Stretch {stretch})"]
    script += [f'(utt.save.wave (utt.synth (Utterance Text "{w}.")) "{p}" \'riff)'
               for w, p in zip(words, paths)]
    scm = folder / "render.scm"
    scm.write_text("\n".join(script) + "\n")
    subprocess.run(["festival", "--batch", str(scm)], check=True, capture_output=True, timeout=600)
    return paths


def to_clip(wave: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Trim silence, resample to 16 kHz, place at a random offset in 1 s, set a random peak level."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    if sr != SAMPLE_RATE:
        wave = soxr.resample(wave, sr, SAMPLE_RATE).astype(np.float32)
    peak = float(np.max(np.abs(wave)))
    if peak == 0.0:
        raise RuntimeError("synthesizer produced silence")
    first, end = audio.loud_span(wave, TRIM_DB)
    wave = wave[first:end][:CLIP_SAMPLES]
    start = int(rng.integers(0, CLIP_SAMPLES - len(wave) + 1))
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    clip[start:start + len(wave)] = wave
    return clip * np.float32(10 ** (rng.uniform(*PEAK_DB_RANGE) / 20) / peak)


def band_limit_8k(clip: np.ndarray) -> np.ndarray:
    """The clip as 8 kHz audio would carry it: to 8 kHz and back to 16 kHz (soxr)."""
    narrow = soxr.resample(clip, SAMPLE_RATE, 8000)
    return soxr.resample(narrow, 8000, SAMPLE_RATE).astype(np.float32)[:CLIP_SAMPLES]


def render(out: Path, words: list[str], seed: int = 0, overwrite: bool = False) -> int:
    """Render every voice x variant x word (+ 8 kHz copies) into `out`; returns the clip count."""
    check_tools()
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: folder is not empty; pass a new --out or --overwrite")
    corpus.begin(out, [f"{w}/{v.tag}-v{k}{tag}_nohash_0.wav" for v in voices() for k in
                       range(len(VARIANTS)) for w in words for tag in ("", "-8k")]
                 + ["manifest.csv"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for vi, voice in enumerate(voices()):
            for k, (stretch, pitch) in enumerate(VARIANTS):
                speaker = f"{voice.tag}-v{k}"
                if voice.engine == "flite":
                    raw = []
                    for i, word in enumerate(words):
                        flite(word, voice.name, stretch, pitch, tmp / f"{i}.wav")
                        raw.append(tmp / f"{i}.wav")
                else:
                    raw = festival(words, voice.name, stretch, tmp)
                for i, (word, path) in enumerate(zip(words, raw)):
                    rng = np.random.default_rng([seed, vi, k, i])
                    wave, sr = sf.read(path, dtype="float32")
                    clip = to_clip(wave, sr, rng)
                    for condition, sound in (("16k", clip), ("8k", band_limit_8k(clip))):
                        name = speaker + ("-8k" if condition == "8k" else "")
                        rel = f"{word}/{name}_nohash_0.wav"
                        corpus.write_wav(out / rel, np.clip(sound, -1, 1), SAMPLE_RATE)
                        rows.append({"file": rel, "word": word, "engine": voice.engine,
                                     "voice": voice.name, "variant": k, "condition": condition})
    corpus.write_csv(out / "manifest.csv", None, rows)
    corpus.finish(out)
    return len(rows)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `tdnn prepare heldout-tts` / `python -m data_prep.heldout_tts`."""
    p.add_argument("--out", type=Path, required=True, help="folder to create")
    p.add_argument("--seed", type=int, default=0, help="seed for clip placement and level")
    p.add_argument("--no-unknown", action="store_true",
                   help="render only the ten keywords (no other words for _unknown_)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")


def register(subparsers) -> None:
    """Add `heldout-tts` to the `tdnn prepare` subparsers (called by tdnn/cli/prepare.py)."""
    p = subparsers.add_parser(
        "heldout-tts", help="test clips from Flite/Festival voices (never train on them)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Render the corpus for parsed arguments."""
    words = list(COMMANDS_10) + ([] if args.no_unknown else UNKNOWN_WORDS)
    n = render(args.out, words, args.seed, args.overwrite)
    print(f"{args.out}: {n} clips ({len(voices())} voices x {len(VARIANTS)} variants x "
          f"{len(words)} words x 16k/8k)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point; user errors end in one line and exit code 2."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m data_prep.heldout_tts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        print(f"heldout_tts: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
