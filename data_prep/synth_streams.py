"""Long synthetic streams for keyword-spotting evaluation: keyword clips and distractor words
(other words, i.e. background speech that must not fire) spliced into background noise at known
times, with a reference list of where each keyword is.

    python -m data_prep.synth_streams --corpus DATA --out STREAMS [--streams 4] [--seconds 120]

`DATA` is any corpus in the Speech Commands layout (e.g. from `tdnn prepare synth-commands`);
clips come from its test split (held-out voices) and noise from its `_background_noise_` folder
(white noise when it has none). Each clip is trimmed to its speech (librosa's `trim`), so the
reference `start`/`end` are where the word is audible. Writes `STREAMS/stream_XXX.wav` and
`STREAMS/reference.csv` (file,label,start,end).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import librosa
import numpy as np

from tdnn import audio
from tdnn.data import speech_commands as sc
from tdnn.errors import LayoutError, UserError
from tdnn.streams import REFERENCE, Event, write_reference


def trimmed(wave: np.ndarray, top_db: float = 30.0) -> np.ndarray:
    """The speech part of a clip: leading and trailing silence removed."""
    out, _ = librosa.effects.trim(wave, top_db=top_db)
    return out if len(out) else wave


def noise_bed(noises: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of background noise with unit RMS: a random slice of a noise file (tiled when
    short), or white noise when the corpus has none."""
    if noises:
        bed = audio.random_slice(noises, n, rng).astype(np.float64)
    else:
        bed = rng.standard_normal(n)
    return bed / max(np.sqrt(np.mean(bed ** 2)), 1e-9)


def make_stream(keywords: list[sc.Example], distractors: list[sc.Example], seconds: float,
                rng: np.random.Generator, noises: list[np.ndarray], snr_db: float,
                gap: tuple[float, float] = (1.0, 3.0), distractor_share: float = 0.3,
                sr: int = audio.SAMPLE_RATE) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """One stream: words placed one after another with random gaps over a noise bed at
    `snr_db` (speech RMS over noise RMS). Returns the waveform and (label, start, end) of
    each keyword placed (distractors are not listed: any detection on them is a false alarm)."""
    n = int(seconds * sr)
    speech = np.zeros(n)
    events, t = [], rng.uniform(*gap)
    while True:
        pool = distractors if distractors and rng.random() < distractor_share else keywords
        ex = pool[rng.integers(len(pool))]
        word = trimmed(audio.load(ex.path, sr))
        start = int(t * sr)
        if start + len(word) > n:
            break
        speech[start:start + len(word)] += word
        if pool is keywords:
            events.append((ex.label, start / sr, (start + len(word)) / sr))
        t = (start + len(word)) / sr + rng.uniform(*gap)
    active = speech[np.abs(speech) > 1e-4]
    speech_rms = np.sqrt(np.mean(active ** 2)) if len(active) else 0.1
    mix = speech + noise_bed(noises, n, rng) * speech_rms / 10 ** (snr_db / 20)
    peak = np.max(np.abs(mix))
    if peak > 0.99:
        mix *= 0.99 / peak
    return mix.astype(np.float32), events


def build_streams(corpus: str | Path, out: str | Path, streams: int = 4, seconds: float = 120.0,
                  snr_db: tuple[float, float] = (5.0, 20.0), split: str = "test",
                  seed: int = 0) -> list[Event]:
    """Write `streams` WAV files of `seconds` each and their reference list into `out`."""
    corpus, out = Path(corpus), Path(out)
    examples = [e for e in sc.load_examples(corpus, split=split, task=12, seed=seed,
                                            unknown_percentage=None) if e.path is not None]
    keywords = [e for e in examples if e.label in sc.WORDS_10]
    distractors = [e for e in examples if e.label not in sc.WORDS_10]
    if not keywords:
        raise LayoutError(f"{corpus}: no keyword clips ({', '.join(sc.WORDS_10)}) in split "
                          f"{split!r}; build the corpus with `tdnn prepare synth-commands`")
    noises = sc.load_background_noise(corpus)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    events: list[Event] = []
    for i in range(streams):
        name = f"stream_{i:03d}.wav"
        snr = float(rng.uniform(*snr_db))
        wave, placed = make_stream(keywords, distractors, seconds, rng, noises, snr)
        audio.save(out / name, wave)
        events += [Event(name, label, start, end) for label, start, end in placed]
    write_reference(events, out / REFERENCE)
    return events


def main(argv: list[str] | None = None) -> int:
    """Command line: build evaluation streams from a Speech Commands-layout corpus."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", required=True, help="corpus folder in the Speech Commands layout")
    p.add_argument("--out", required=True, help="folder for the stream WAVs and reference.csv")
    p.add_argument("--streams", type=int, default=4, help="number of streams")
    p.add_argument("--seconds", type=float, default=120.0, help="length of each stream")
    p.add_argument("--snr", type=float, nargs=2, default=(5.0, 20.0), metavar=("MIN", "MAX"),
                   help="speech-to-noise ratio range in dB, drawn per stream")
    p.add_argument("--split", default="test", help="corpus split the words come from")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    args = p.parse_args(argv)
    try:
        events = build_streams(args.corpus, args.out, args.streams, args.seconds,
                               tuple(args.snr), args.split, args.seed)
    except UserError as e:
        print(f"synth_streams: error: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {args.streams} streams, {len(events)} keywords")
    return 0


if __name__ == "__main__":
    sys.exit(main())
