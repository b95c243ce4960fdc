"""Tasks for the pooling ablation and the phoneme recipe: a corpus read once into feature tensors.

- clip tasks from a corpus in the Speech Commands layout with the synthetic `manifest.csv`
  (minimal-pair words, or the 12-class keyword task), test copies mixed with background noise
  at chosen SNRs, and for each test clip one phone span (for the jitter probe) recovered by
  re-synthesising the clip's word with the recorded voice, rate and pitch (eSpeak is
  deterministic) and reading its phoneme events;
- frame tasks from a corpus in the TIMIT layout (39 folded phones per 10 ms frame);
- the /b/ /d/ /g/ task: a fixed window of frames around each syllable's consonant release.
Splits follow the corpus (hash-based lists, TRAIN/TEST) or, with a `Holdout`, hold out whole
accents and voice variants: test speakers are never trained on, and with a holdout neither are
their accents or voice variants. Audio is read at the frontend's sample rate.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import audio
from ..augment import add_noise
from ..data import speech_commands as sc
from ..data import timit
from ..data.corpus import check_complete
from ..errors import LayoutError
from ..features import Frontend, FrontendConfig

TRIM_DB = 45.0  # data_prep.synth_commands trims the spoken word at this level below its peak


@dataclass
class Task:
    """Features and labels of one task, ready for `tdnn.train.fit`.

    Clip tasks: x_* [N, D, L] tensors, y_* [N]. Frame tasks: lists of [D, L_i] / [L_i].
    `conditions` holds extra test inputs with the same labels (e.g. 'snr10': noisy x_test);
    `segments[i]` is the [start, end) frame span of one phone of test item i (None if unknown);
    `groups` are minimal-pair sets as lists of class indices.
    """
    name: str
    kind: str
    labels: list[str]
    x_train: object
    y_train: object
    x_test: object
    y_test: object
    conditions: dict = field(default_factory=dict)
    segments: list | None = None
    groups: list[list[int]] | None = None
    info: dict = field(default_factory=dict)
    test_speakers: list[str] | None = None   # speaker of each test item (clusters for tests)

    @property
    def in_dim(self) -> int:
        """Features per frame."""
        return int(self.x_train[0].shape[0])


def batch_features(waves: list[np.ndarray], frontend: Frontend, batch: int = 256) -> torch.Tensor:
    """Features [N, D, L] of equal-length waveforms, computed in batches."""
    with torch.no_grad():
        return torch.cat([frontend(torch.from_numpy(np.stack(waves[i:i + batch])))
                          for i in range(0, len(waves), batch)])


def read_manifest(root: str | Path) -> list[dict]:
    """Rows of a synthetic corpus's manifest.csv (file, word, speaker, voice, rate, ..., split)."""
    check_complete(root)
    path = Path(root) / "manifest.csv"
    if not path.is_file():
        raise LayoutError(f"{path}: not found; build the corpus with `tdnn prepare synth-commands` "
                          "(the manifest records voices and word positions)")
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@dataclass(frozen=True)
class Holdout:
    """Accents and voice variants kept out of training: a speaker with either is a test speaker,
    every other speaker trains."""
    accents: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()

    def split(self, rows: list[dict]) -> tuple[list[dict], list[dict]]:
        """(train, test) manifest rows."""
        test = [r for r in rows if r["accent"] in self.accents or r["variant"] in self.variants]
        train = [r for r in rows if r["accent"] not in self.accents
                 and r["variant"] not in self.variants]
        return train, test


def _split(rows: list[dict], holdout: Holdout | None) -> tuple[list[dict], list[dict]]:
    """(train, test) rows: the holdout's, or the corpus's hash split ('training' vs the rest)."""
    if holdout is not None:
        return holdout.split(rows)
    return ([r for r in rows if r["split"] == "training"],
            [r for r in rows if r["split"] != "training"])


def word_phones(row: dict, hop: int, rate: int = audio.SAMPLE_RATE) -> list[tuple[str, int, int]]:
    """(phoneme, start frame, end frame) of the word in one synthetic clip, by re-synthesis.

    Repeats what `data_prep.synth_commands.speak_word` did with the manifest's voice, rate,
    pitch and pitch range, maps eSpeak's phoneme events through the resampling and the
    silence trim onto the clip (the word starts at `word_start`), and converts samples to
    frames (frame i is centred at sample i*hop). Pauses ('_') are left out. Returns [] when
    the re-synthesised word's length differs from the clip's by more than one hop (eSpeak voices
    with random elements do not always repeat themselves), so no probe uses a misplaced span.
    """
    import soxr

    from data_prep import espeak
    syn = espeak.synthesize(row["word"], row["voice"], rate=int(row["rate"]),
                            pitch=int(row["pitch"]), pitch_range=int(row["pitch_range"]))
    wave = soxr.resample(syn.wave, syn.sample_rate, rate)
    first, end = audio.loud_span(wave, TRIM_DB)
    lo, hi = int(row["word_start"]), int(row["word_end"])
    if abs(end - first - (hi - lo)) > hop:
        return []
    offset = lo - first
    ratio = rate / syn.sample_rate
    phones = []
    for p in syn.phonemes:
        s = min(max(offset + round(p.start * ratio), lo), hi)
        e = min(max(offset + round(p.end * ratio), lo), hi)
        if not p.name.startswith("_") and e > s:
            phones.append((p.name, math.ceil(s / hop), math.ceil(e / hop)))
    return phones


def middle_phone(phones: list[tuple[str, int, int]], min_frames: int = 2) -> tuple[int, int] | None:
    """[start, end) frames of the phone nearest the middle of the word that lasts >= min_frames."""
    usable = [(s, e) for _, s, e in phones if e - s >= min_frames]
    if not usable:
        return None
    return usable[len(usable) // 2]


def noisy_copies(waves: list[np.ndarray], noises: list[np.ndarray], snrs: list[float],
                 seed: int) -> dict[str, list[np.ndarray]]:
    """For each SNR (dB, over the whole clip), the waves mixed with a random slice of a random noise."""
    out = {}
    for snr in snrs:
        rng = np.random.default_rng([seed, int(round(snr * 10)) + 1000])
        mixed = []
        for w in waves:
            mixed.append(add_noise(w, audio.random_slice(noises, len(w), rng), snr))
        out[f"snr{snr:g}"] = mixed
    return out


def _check_split(root: Path, train: list, test: list) -> None:
    """LayoutError when the speaker split leaves no training or no test clips."""
    if not train or not test:
        raise LayoutError(f"{root}: the speaker split left {len(train)} training and {len(test)} "
                          "test clips; build the corpus with more speakers (--speakers)")


def _speaker_subset(rows: list[dict], max_speakers: int | None) -> list[dict]:
    """Rows of the first `max_speakers` speakers (sorted ids: a fixed, seed-free choice)."""
    if not max_speakers:
        return rows
    keep = set(sorted({r["speaker"] for r in rows})[:max_speakers])
    return [r for r in rows if r["speaker"] in keep]


def corpus_words(root: str | Path, words: list[str]) -> list[dict]:
    """Manifest rows of a corpus's clips of `words`; LayoutError when a word has none."""
    rows = [r for r in read_manifest(root) if r["word"] in words]
    missing = sorted(set(words) - {r["word"] for r in rows})
    if missing:
        raise LayoutError(f"{root}: no clips of {', '.join(missing)}; rebuild the corpus with "
                          f"those words (--words)")
    return rows


def clip_task(name: str, root: str | Path, words: list[str], frontend_cfg: FrontendConfig,
              groups: list[list[str]] | None = None, snrs: list[float] = (),
              max_train_speakers: int | None = None, probe_phones: bool = True,
              seed: int = 0, holdout: Holdout | None = None,
              test_root: str | Path | None = None) -> Task:
    """A word-classification task over `words` from a synthetic Speech Commands-layout corpus.

    Speakers the hashing puts in the 'validation' or 'testing' lists are the test speakers
    (about 20%: more test clips for a steadier figure; nothing here tunes on them, training runs
    a fixed number of epochs), the rest train. `groups` are minimal-pair sets of words. With
    `test_root` every clip of that corpus (e.g. other engines' voices) is the test set instead.
    """
    root = Path(root)
    train, test = _split(corpus_words(root, words), holdout)
    test_dir = root
    if test_root is not None:
        test_dir = Path(test_root)
        test = corpus_words(test_dir, words)
    train = _speaker_subset(train, max_train_speakers)
    _check_split(test_dir, train, test)
    frontend = Frontend(frontend_cfg)
    index = {w: i for i, w in enumerate(words)}

    def load(folder, rs):
        waves = [audio.load(folder / r["file"], frontend_cfg.sample_rate) for r in rs]
        return waves, torch.tensor([index[r["word"]] for r in rs])

    train_waves, y_train = load(root, train)
    test_waves, y_test = load(test_dir, test)
    conditions = {}
    if snrs:
        noises = sc.load_background_noise(test_dir, frontend_cfg.sample_rate)
        if not noises:
            raise LayoutError(f"{test_dir}/_background_noise_: no noise files for the SNR conditions")
        conditions = {k: batch_features(v, frontend)
                      for k, v in noisy_copies(test_waves, noises, list(snrs), seed).items()}
    segments = ([middle_phone(word_phones(r, frontend.hop_length, frontend_cfg.sample_rate))
                 for r in test]
                if probe_phones else None)
    return Task(name, "clip", list(words), batch_features(train_waves, frontend), y_train,
                batch_features(test_waves, frontend), y_test, conditions, segments,
                [[index[w] for w in g] for g in groups] if groups else None,
                {"train_clips": len(train), "test_clips": len(test),
                 "train_speakers": len({r["speaker"] for r in train}),
                 "test_speakers": len({r["speaker"] for r in test})},
                [r["speaker"] for r in test])


def keyword_task(name: str, root: str | Path, frontend_cfg: FrontendConfig,
                 snrs: list[float] = (), seed: int = 0) -> Task:
    """The 12-class keyword task (10 words, `_silence_`, `_unknown_`) through the Speech Commands loader."""
    root = Path(root)
    labels = sc.labels_for_task(12)
    rate = frontend_cfg.sample_rate
    noises = sc.load_background_noise(root, rate)
    frontend = Frontend(frontend_cfg)

    def load(split):
        examples = sc.load_examples(root, split, task=12, seed=seed)
        data = sc.ClipDataset(examples, labels, clip_samples=rate, noises=noises or None,
                              sample_rate=rate)
        items = [data[i] for i in range(len(data))]
        speakers = [ex.path.name.split("_nohash_")[0] if ex.path else "_silence_"
                    for ex in examples]
        return ([np.asarray(w, np.float32) for w, _ in items],
                torch.tensor([y for _, y in items]), speakers)

    train_waves, y_train, _ = load("train")
    extra_waves, extra_y, _ = load("validation")
    test_waves, y_test, test_speakers = load("test")
    conditions = ({k: batch_features(v, frontend)
                   for k, v in noisy_copies(test_waves, noises, list(snrs), seed).items()}
                  if snrs and noises else {})
    return Task(name, "clip", labels, batch_features(train_waves + extra_waves, frontend),
                torch.cat([y_train, extra_y]), batch_features(test_waves, frontend), y_test,
                conditions, None, None,
                {"train_clips": len(train_waves) + len(extra_waves), "test_clips": len(test_waves)},
                test_speakers)


def frame_task(name: str, root: str | Path, frontend_cfg: FrontendConfig,
               max_train: int | None = None, max_test: int | None = None,
               holdout: Holdout | None = None) -> Task:
    """Frame phone classification (39 folded TIMIT classes) from a corpus in the TIMIT layout.

    With a `holdout` the synthetic corpus's manifest (accent and variant per utterance) re-splits
    TRAIN and TEST; a corpus without a manifest (real TIMIT) keeps its own split.
    """
    root = Path(root)
    frontend = Frontend(frontend_cfg)
    hop = frontend.hop_length
    utts = {"train": timit.load_utterances(root, "train"), "test": timit.load_utterances(root, "test")}
    if holdout is not None and (root / "manifest.csv").is_file():
        rows = {r["utterance"].lower(): r for r in read_manifest(root)}
        every = utts["train"] + utts["test"]
        key = {id(u): str(u.wav.relative_to(root).with_suffix("")).lower() for u in every}
        train_rows, _ = holdout.split([rows[key[id(u)]] for u in every])
        keep = {id(r) for r in train_rows}
        utts = {"train": [u for u in every if id(rows[key[id(u)]]) in keep],
                "test": [u for u in every if id(rows[key[id(u)]]) not in keep]}

    def load(split, limit):
        xs, ys, segs = [], [], []
        for u in utts[split][:limit]:
            feats = torch.from_numpy(frontend.extract(audio.load(u.wav, frontend_cfg.sample_rate))
                                     .T.copy())
            labels = timit.frame_labels(u.segments, feats.shape[-1], hop)
            xs.append(feats)
            ys.append(torch.from_numpy(labels))
            spans = [(math.ceil(s / hop), math.ceil(e / hop), p)
                     for s, e, p in timit.fold_segments(u.segments) if p != "sil"]
            segs.append(middle_phone([(p, s, min(e, feats.shape[-1])) for s, e, p in spans]))
        return xs, ys, segs

    x_train, y_train, _ = load("train", max_train)
    x_test, y_test, segments = load("test", max_test)
    speakers = [u.speaker for u in utts["test"][:max_test]]
    return Task(name, "frame", list(timit.PHONES_39), x_train, y_train, x_test, y_test, {},
                segments, None, {"train_utterances": len(x_train), "test_utterances": len(x_test),
                                 "train_frames": int(sum(y.numel() for y in y_train)),
                                 "test_frames": int(sum(y.numel() for y in y_test)),
                                 "test_speakers": len(set(speakers))}, speakers)


def bdg_task(name: str, root: str | Path, frontend_cfg: FrontendConfig, frames: int = 15,
             before: int = 3, max_train_speakers: int | None = None,
             holdout: Holdout | None = None) -> Task:
    """Waibel et al. (1989) /b/ /d/ /g/: `frames` frames from `before` frames ahead of the release.

    Reads a `tdnn prepare synth-bdg` corpus (manifest with the release sample of each syllable).
    Test speakers are those the hashing puts in 'validation' or 'testing' (or the holdout's), as
    in `clip_task`.
    The jitter span of each test item is its consonant, release to vowel onset.
    """
    root = Path(root)
    rows = read_manifest(root)
    if not rows or "release" not in rows[0]:
        raise LayoutError(f"{root}/manifest.csv: no 'release' column; build the corpus with "
                          "`tdnn prepare synth-bdg`")
    frontend = Frontend(frontend_cfg)
    hop = frontend.hop_length
    labels = sorted({r["consonant"] for r in rows})
    index = {c: i for i, c in enumerate(labels)}

    def load(rs):
        waves = [audio.load(root / r["file"], frontend_cfg.sample_rate) for r in rs]
        feats = batch_features(waves, frontend)
        starts = [max(0, round(int(r["release"]) / hop) - before) for r in rs]
        starts = [min(s, feats.shape[-1] - frames) for s in starts]
        x = torch.stack([f[:, s:s + frames] for f, s in zip(feats, starts)])
        spans = [(max(0, round(int(r["release"]) / hop) - s),
                  min(frames, max(round(int(r["vowel_start"]) / hop) - s,
                                  round(int(r["release"]) / hop) - s + 1)))
                 for r, s in zip(rs, starts)]
        return x, torch.tensor([index[r["consonant"]] for r in rs]), spans

    train, test = _split(rows, holdout)
    train = _speaker_subset(train, max_train_speakers)
    _check_split(root, train, test)
    x_train, y_train, _ = load(train)
    x_test, y_test, spans = load(test)
    segments = [sp if 0 <= sp[0] < sp[1] <= frames else None for sp in spans]
    return Task(name, "clip", labels, x_train, y_train, x_test, y_test, {}, segments, None,
                {"train_clips": len(train), "test_clips": len(test), "frames": frames,
                 "train_speakers": len({r["speaker"] for r in train}),
                 "test_speakers": len({r["speaker"] for r in test})},
                [r["speaker"] for r in test])
