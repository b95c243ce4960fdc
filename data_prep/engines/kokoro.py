"""Kokoro-82M (int8 ONNX, CPU): 28 English voices, weighted blends of them, and speed.

Speed: a call costs about the same for one word as for several (fixed work: the leading
silence, the decoder's start-up), so `render` speaks several words in one call, separated by
". ", and cuts them apart at the model's own predicted token durations (an output added to the
model, FRAME samples per duration unit). Words said in a list come out shorter than alone, so
such calls run at LIST_SPEED times the take's speed; `words_per_call=1` says each word alone.
bench/tts.py measures the speed, the word lengths and the level at the cuts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import soxr

from tdnn.errors import UserError

from . import SAMPLE_RATE, kokoro_assets, kokoro_g2p, trim

NATIVE_RATE = 24000
FRAME = 600  # samples at 24 kHz per predicted duration unit
# The audio runs ~1.5 frames ahead of the durations; cutting at the quietest point within 2
# frames of the shifted pause's middle puts cuts in the silence between words (bench/tts.py
# measures the level at the cuts against the plain midpoints).
LEAD = 900
SEARCH = 2 * FRAME
SEPARATOR = ". "
SPEED_RANGE = (0.85, 1.15)
WORDS_PER_CALL = 8
LIST_SPEED = 0.8  # words in a list at 0.8 x speed last about as long as words said alone
TRIM_DB = 40.0
RENDER_VERSION = 5  # part of the cache key: bump when render() changes its output


def parse_voice(voice: str) -> list[tuple[str, float]]:
    """'af_heart' -> [('af_heart', 1.0)]; 'af_bella:0.6+am_adam:0.4' -> the parts and weights."""
    parts = []
    for part in voice.split("+"):
        name, _, weight = part.partition(":")
        parts.append((name, float(weight) if weight else 1.0))
    if any(w <= 0 for _, w in parts):
        raise UserError(f"Kokoro voice '{voice}': blend weights must be positive")
    return parts


def blend(styles: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """The weighted mean of style arrays (weights need not sum to one)."""
    w = np.asarray(weights, dtype=np.float64)
    return (np.tensordot(w / w.sum(), np.stack(styles), axes=1)).astype(np.float32)


def word_spans(audio: np.ndarray, durations: np.ndarray, token_spans: list[tuple[int, int]]
               ) -> list[tuple[int, int]]:
    """Sample spans (24 kHz) of words from per-token durations and each word's [first, last)
    token range. The audio runs LEAD samples ahead of the durations; two neighbours are cut at
    the quietest point within SEARCH samples of the middle of the pause between them; the
    outer ends keep a margin (trimming removes the silence)."""
    ends = np.cumsum(durations) * FRAME - LEAD
    starts = ends - np.asarray(durations) * FRAME
    core = [(int(starts[a]), int(ends[b - 1])) for a, b in token_spans]
    cuts = [quietest(audio, (e + s) // 2, SEARCH) for (_, e), (s, _) in zip(core, core[1:])]
    first = max(0, core[0][0] - 6 * FRAME)  # speech can start ~4 frames into the leading pause
    last = min(len(audio), core[-1][1] + 2 * FRAME)
    return list(zip([first] + cuts, cuts + [last]))


def quietest(audio: np.ndarray, center: int, radius: int, window: int = 300, step: int = 60
             ) -> int:
    """The sample near `center` (within `radius`) where a short window has the least energy."""
    positions = range(max(window // 2, center - radius),
                      min(len(audio) - window // 2, center + radius) + 1, step)
    if not positions:
        return int(np.clip(center, 0, len(audio)))
    energy = [float(np.mean(audio[p - window // 2:p + window // 2] ** 2)) for p in positions]
    return positions[int(np.argmin(energy))]


class Kokoro:
    """Kokoro voices (names of the voice files, or blends 'a:0.6+b:0.4'); takes vary speed."""

    name = "kokoro"

    def __init__(self, model: str | Path | None = None, voices_dir: str | Path | None = None,
                 words_per_call: int = WORDS_PER_CALL, threads: int = 1, cache: Path | None = None):
        model_path = Path(model) if model else kokoro_assets.joined_model(cache)
        if not model_path.is_file():
            raise UserError(f"--kokoro-model {model_path}: no such file")
        self.voices_dir = Path(voices_dir) if voices_dir else kokoro_assets.folder(cache) / "voices"
        if not self.voices():
            raise UserError(f"no Kokoro English voices (af_*.bin ...) in {self.voices_dir}: run "
                            "`tdnn prepare kokoro-voices` or pass --kokoro-voices DIR")
        patched = kokoro_assets.with_durations(model_path, cache)
        self.model_id = f"{patched.name}:r{RENDER_VERSION}"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(patched), options,
                                                    providers=["CPUExecutionProvider"])
        self.vocab = kokoro_assets.vocab()
        kokoro_g2p.lexicon_dir()  # misaki's lexicons: missing is an ImportError now, not later
        self.words_per_call = words_per_call
        self._g2p: dict[bool, kokoro_g2p.G2P] = {}
        self._styles: dict[str, np.ndarray] = {}

    def voices(self) -> list[str]:
        """The English voice styles found in the voices folder."""
        if not self.voices_dir.is_dir():
            return []
        names = {p.stem for p in self.voices_dir.iterdir() if p.suffix in (".bin", ".npy")}
        return sorted(n for n in names if n.startswith(kokoro_assets.ENGLISH_PREFIXES))

    def style(self, voice: str) -> np.ndarray:
        """The style array [510, 256] of a voice or blend."""
        if voice not in self._styles:
            parts = parse_voice(voice)
            styles = [kokoro_assets.load_style(self.voices_dir, n) for n, _ in parts]
            self._styles[voice] = blend(styles, [w for _, w in parts])
        return self._styles[voice]

    def phonemes(self, word: str, voice: str) -> str:
        """The word in Kokoro's phonemes, British for voices whose first part starts with 'b'."""
        british = voice.startswith("b")
        if british not in self._g2p:
            self._g2p[british] = kokoro_g2p.G2P(british)
        return self._g2p[british](word)

    def draw_settings(self, rng: np.random.Generator) -> dict:
        """Speed, uniform over SPEED_RANGE."""
        return {"speed": round(float(rng.uniform(*SPEED_RANGE)), 3)}

    def render(self, words: list[str], voice: str, settings: dict) -> list[np.ndarray]:
        """All `words` in one model call, cut at the predicted durations, 16 kHz, trimmed."""
        audio, durations, token_spans = self.speak(words, voice, settings)
        waves = []
        for start, end in word_spans(audio, durations, token_spans)[:len(words)]:
            piece = soxr.resample(audio[start:end], NATIVE_RATE, SAMPLE_RATE)
            waves.append(trim(piece.astype(np.float32), TRIM_DB))
        return waves

    def speak(self, words: list[str], voice: str, settings: dict
              ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """One model call: 24 kHz audio, per-token durations, each word's [first, last) tokens.

        The last word of a call absorbs the trailing silence into its last phoneme's duration;
        when several words share a call, a repeat of the first word takes that place.
        """
        said = list(words) + (words[:1] if self.words_per_call > 1 else [])
        speed = settings.get("speed", 1.0) * (LIST_SPEED if self.words_per_call > 1 else 1.0)
        return self.run(said, [SEPARATOR] * (len(said) - 1) + [SEPARATOR.strip()], voice, speed)

    def say(self, text: str, voice: str, speed: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """`text` (words, commas) as one utterance: 16 kHz audio and each word's sample span,
        cut at the predicted durations; the last word's span still holds the trailing pause."""
        tokens = text.split()
        after = [", " if t.endswith(",") else " " for t in tokens[:-1]] + ["."]
        audio, durations, token_spans = self.run([t.strip(",.") for t in tokens], after, voice,
                                                 speed)
        wave = soxr.resample(audio, NATIVE_RATE, SAMPLE_RATE).astype(np.float64)
        scale = SAMPLE_RATE / NATIVE_RATE
        spans = [(int(a * scale), min(len(wave), int(np.ceil(b * scale))))
                 for a, b in word_spans(audio, durations, token_spans)]
        return wave, spans

    def run(self, words: list[str], after: list[str], voice: str, speed: float
            ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """One model call on `words`, each followed by its `after` punctuation: 24 kHz audio,
        per-token durations, each word's [first, last) tokens."""
        tokens, token_spans = [0], []
        for word, tail in zip(words, after):
            ids = [self.vocab[c] for c in self.phonemes(word, voice) if c in self.vocab]
            token_spans.append((len(tokens), len(tokens) + len(ids)))
            tokens += ids + [self.vocab[c] for c in tail]
        tokens.append(0)
        styles = self.style(voice)  # Kokoro's convention: the row for the phoneme count - 1
        style = styles[min(len(tokens) - 3, len(styles) - 1)]
        audio, durations = self.session.run(None, {
            "tokens": np.array([tokens], dtype=np.int64), "style": style[None],
            "speed": np.array([speed], dtype=np.float32)})
        return audio.reshape(-1), durations.reshape(-1), token_spans


def create(model=None, voices_dir=None, words_per_call: int = WORDS_PER_CALL, threads: int = 1,
           cache=None) -> Kokoro:
    """The Kokoro engine; `model` and `voices_dir` default to the cached offline assets."""
    return Kokoro(model, voices_dir, words_per_call, threads, Path(cache) if cache else None)
