"""Speech Commands (v0.01 / v0.02, or any folder in its layout): splits, tasks, clips.

Layout (the real corpus and the synthetic one built by `tdnn prepare synth-commands`):

    ROOT/<word>/<speaker>_nohash_<n>.wav     1 s, 16 kHz clips, one folder per word
    ROOT/validation_list.txt                 official split lists (`<word>/<file>.wav` lines)
    ROOT/testing_list.txt
    ROOT/_background_noise_/*.wav            long noise recordings (optional)

Splits come from the two list files when they exist; otherwise from `which_set`, the hashing
rule of TensorFlow's reference loader (`tensorflow/examples/speech_commands/input_data.py`),
which is also how the list files were made. The 12-class task adds `_silence_` and `_unknown_`
shares exactly as that loader's `prepare_data_index` does (each a percentage of the split's
known-word clips, rounded up; unknowns drawn from the other words), but with an explicit seed.
A folder holding only some words loads too (for evaluation); for the 12-class task words outside
the ten count as `_unknown_`, and folders named `_silence_` / `_unknown_` (as in the released
v0.02 test set) give clips of those classes.
"""

from __future__ import annotations

import hashlib
import math
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import audio
from ..errors import LayoutError
from .corpus import check_complete
from .words import SILENCE, UNKNOWN, WORDS_10, WORDS_35  # noqa: F401 (re-exported)

BACKGROUND_DIR = "_background_noise_"
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
SPLITS = ("train", "validation", "test", "all")
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # the TensorFlow reference's constant; part of the split rule
LAYOUT_HINT = ("expected ROOT/<word>/<speaker>_nohash_<n>.wav clips (e.g. ROOT/yes/0a7c2a8d_nohash_0"
               ".wav), optional ROOT/validation_list.txt + ROOT/testing_list.txt and "
               "ROOT/_background_noise_/*.wav")


@dataclass(frozen=True)
class Example:
    """One clip: its file (None for a generated silence clip) and its label."""

    path: Path | None
    label: str


def which_set(filename: str | Path, validation_percentage: float = 10,
              testing_percentage: float = 10) -> str:
    """Split of a clip by the TensorFlow hashing rule: 'training', 'validation' or 'testing'.

    Only the part of the base name before `_nohash_` is hashed, so one speaker's clips share a
    split whatever word folder they are in.
    """
    hash_name = re.sub(r"_nohash_.*$", "", Path(filename).name)
    digest = int(hashlib.sha1(hash_name.encode("utf-8")).hexdigest(), 16)
    percentage = (digest % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def labels_for_task(task: int) -> list[str]:
    """Class labels in index order: 12 -> silence, unknown, the ten words; 35 -> the 35 words."""
    if task == 12:
        return [SILENCE, UNKNOWN, *WORDS_10]
    if task == 35:
        return list(WORDS_35)
    raise ValueError(f"task must be 12 or 35, got {task!r}")


def open_corpus(root: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The corpus folder for `root`: the folder itself, or a `.tar.gz` extracted into `cache_dir`.

    A folder whose `tdnn prepare` build was interrupted is refused (`tdnn.data.corpus`).
    Extraction happens once (a `.extracted` marker records a finished one); an archive whose
    clips sit under one top folder is accepted as well as the official flat archive.
    """
    root = Path(root)
    if root.is_dir():
        check_complete(root)
        return root
    if not root.exists():
        raise LayoutError(f"{root}: corpus not found; pass a Speech Commands folder or .tar.gz "
                          f"({LAYOUT_HINT})")
    if not root.name.endswith((".tar.gz", ".tgz")):
        raise LayoutError(f"{root}: not a folder or .tar.gz; pass a Speech Commands folder or "
                          "its .tar.gz archive")
    if cache_dir is None:
        raise LayoutError(f"{root}: a .tar.gz corpus needs a folder to extract into; "
                          "pass a cache folder (e.g. --cache-dir DIR)")
    dest = Path(cache_dir) / re.sub(r"\.(tar\.gz|tgz)$", "", root.name)
    marker = dest / ".extracted"
    if not marker.exists():
        dest.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(root, "r:gz") as tar:
                tar.extractall(dest, filter="data")
        except (tarfile.TarError, OSError, EOFError) as e:
            raise LayoutError(f"{root}: cannot extract archive ({e}); pass an intact .tar.gz of "
                              "the corpus") from None
        marker.touch()
    subdirs = [d for d in dest.iterdir() if d.is_dir()]
    if not _word_dirs(dest) and len(subdirs) == 1:
        return subdirs[0]
    return dest


def has_split_lists(root: str | Path) -> bool:
    """True when the corpus folder holds validation_list.txt and testing_list.txt."""
    return all((Path(root) / name).is_file() for name in LIST_FILES.values())


def load_examples(root: str | Path, split: str = "train", task: int = 12, seed: int = 0,
                  silence_percentage: float = 10.0, unknown_percentage: float | None = 10.0,
                  validation_percentage: float = 10.0, testing_percentage: float = 10.0,
                  cache_dir: str | Path | None = None) -> list[Example]:
    """Examples of one split ('train'|'validation'|'test'|'all') for the 12- or 35-class task.

    12-class: the ten words, plus ceil(n * silence_percentage / 100) silence examples and
    ceil(n * unknown_percentage / 100) clips of other words as `_unknown_` (n = ten-word clips in
    the split; `unknown_percentage=None` keeps every other-word clip, as for evaluating a
    folder). Silence is generated only when the split has no `_silence_` folder clips.
    35-class: clips of the 35 words only. Deterministic given `seed`; shuffled.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    labels = labels_for_task(task)
    root = open_corpus(root, cache_dir)
    clips = _find_clips(root)
    assign = _list_splitter(root) or (
        lambda rel: _HASH_SPLIT[which_set(rel, validation_percentage, testing_percentage)])
    chosen = [(rel, word) for rel, word in clips if split == "all" or assign(rel) == split]
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    if task == 35:
        examples = [Example(root / rel, word) for rel, word in chosen if word in labels]
    else:
        examples = _twelve_class(root, chosen, rng, silence_percentage, unknown_percentage)
    if not examples:
        present = sorted({word for _, word in clips})
        raise LayoutError(f"{root}: no clips of the {task}-class task in split {split!r} "
                          f"(word folders found: {', '.join(present)}); add clips of the task's words "
                          f"({', '.join(labels[2:5] if task == 12 else labels[:3])}, ...) or "
                          "pick another split")
    order = rng.permutation(len(examples))
    return [examples[i] for i in order]


def load_background_noise(root: str | Path, sr: int = audio.SAMPLE_RATE) -> list[np.ndarray]:
    """The long noise recordings in ROOT/_background_noise_ (empty list if the folder is absent)."""
    folder = Path(root) / BACKGROUND_DIR
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in audio.AUDIO_SUFFIXES)
    if not files:
        raise LayoutError(f"{folder}: background-noise folder holds no .wav files; add noise "
                          "recordings (e.g. white_noise.wav) or remove the folder")
    return [audio.load(p, sr) for p in files]


class ClipDataset(Dataset):
    """Fixed-length clips with label indices: `(wave float32 [clip_samples], label index)`.

    Speech clips are zero-padded or cut at the end to `clip_samples` (as the reference loader
    does). A silence example without a file is zeros, or, when `noises` are given, a random
    slice of one at a random volume in [0, 1) (the reference's silence recipe). Randomness comes
    from `seed`, the epoch (`set_epoch`) and the item index, so a worker process gives the same
    clip as the main process. `augment(wave, rng)` (e.g. `tdnn.augment.Augmenter`) is applied
    last; without it clips come un-augmented, for `tdnn.batch_augment` to augment the batch. Labels outside `labels` map to `_unknown_` when that is a class.
    """

    def __init__(self, examples: list[Example], labels: list[str], clip_samples: int = 16000,
                 noises: list[np.ndarray] | None = None, sample_rate: int = audio.SAMPLE_RATE,
                 augment=None, seed: int = 0):
        self.examples = list(examples)
        self.labels = list(labels)
        self.clip_samples = int(clip_samples)
        self.noises = [np.asarray(n, dtype=np.float32) for n in (noises or []) if len(n)]
        self.sample_rate = sample_rate
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        index = {label: i for i, label in enumerate(self.labels)}
        self.targets = [self._target(ex.label, index) for ex in self.examples]

    def _target(self, label: str, index: dict[str, int]) -> int:
        """Class index of `label` (other words -> `_unknown_` when that class exists)."""
        if label in index:
            return index[label]
        if UNKNOWN in index:
            return index[UNKNOWN]
        raise ValueError(f"label {label!r} is not one of the classes {self.labels}")

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws (silence slices, augmentation) for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        example = self.examples[i]
        if example.path is None:
            wave = self._silence(rng)
        else:
            wave = fit_length(audio.load(example.path, self.sample_rate), self.clip_samples)
        if self.augment is not None:
            wave = fit_length(self.augment(wave, rng), self.clip_samples)
        return torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)), self.targets[i]

    def _silence(self, rng: np.random.Generator) -> np.ndarray:
        """Zeros, or a random noise slice at a random volume when noises are available."""
        if not self.noises:
            return np.zeros(self.clip_samples, dtype=np.float32)
        noise = audio.random_slice(self.noises, self.clip_samples, rng)
        return noise * np.float32(rng.uniform(0.0, 1.0))


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad or cut a waveform at the end to exactly `n` samples."""
    if len(wave) >= n:
        return wave[:n]
    return np.pad(wave, (0, n - len(wave)))


_HASH_SPLIT = {"training": "train", "validation": "validation", "testing": "test"}


def _word_dirs(root: Path) -> list[Path]:
    """Sub-folders of `root` that hold audio clips, except the background-noise folder."""
    return sorted(d for d in root.iterdir() if d.is_dir() and d.name != BACKGROUND_DIR
                  and any(p.suffix.lower() in audio.AUDIO_SUFFIXES for p in d.iterdir()))


def _find_clips(root: Path) -> list[tuple[str, str]]:
    """All `(relative posix path, lower-case word)` clips under ROOT/<word>/, sorted."""
    if not root.is_dir():
        raise LayoutError(f"{root}: corpus folder not found; {LAYOUT_HINT}")
    clips = [(f"{d.name}/{p.name}", d.name.lower()) for d in _word_dirs(root)
             for p in sorted(d.iterdir()) if p.suffix.lower() in audio.AUDIO_SUFFIXES]
    if not clips:
        raise LayoutError(f"{root}: no clips found in word folders; {LAYOUT_HINT}")
    return clips


def _list_splitter(root: Path):
    """A function rel-path -> split from the official list files, or None when there are none."""
    present = {split: root / name for split, name in LIST_FILES.items() if (root / name).is_file()}
    if not present:
        return None
    if len(present) == 1:
        missing = next(root / n for s, n in LIST_FILES.items() if s not in present)
        raise LayoutError(f"{missing}: missing while {next(iter(present.values())).name} exists; "
                          "add it (one `<word>/<file>.wav` line per clip) or remove both to split "
                          "by the hashing rule")
    membership = {}
    for split, path in present.items():
        for line in path.read_text().splitlines():
            if line.strip():
                membership[line.strip().removeprefix("./")] = split
    return lambda rel: membership.get(rel, "train")


def _twelve_class(root: Path, chosen: list[tuple[str, str]], rng: np.random.Generator,
                  silence_percentage: float, unknown_percentage: float | None) -> list[Example]:
    """The ten words, silence share and unknown share of one split (TensorFlow's recipe)."""
    known = [Example(root / rel, word) for rel, word in chosen if word in WORDS_10]
    silent = [Example(root / rel, SILENCE) for rel, word in chosen if word == SILENCE]
    marked = [Example(root / rel, UNKNOWN) for rel, word in chosen if word == UNKNOWN]
    others = [Example(root / rel, UNKNOWN) for rel, word in chosen
              if word not in WORDS_10 and word not in (SILENCE, UNKNOWN)]
    n_silence = 0 if silent else math.ceil(len(known) * silence_percentage / 100)
    if unknown_percentage is not None:
        order = rng.permutation(len(others))
        others = [others[i] for i in order[:math.ceil(len(known) * unknown_percentage / 100)]]
    return known + silent + marked + [Example(None, SILENCE)] * n_silence + others
