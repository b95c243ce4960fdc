"""TIMIT (or any corpus in its layout): utterances, phone segments, 61->39 folding, frame labels.

Layout (the LDC corpus, upper or lower case, and the synthetic one from `tdnn prepare
synth-phones`):

    ROOT/{TRAIN,TEST}/<DR>/<SPEAKER>/<UTT>.WAV   16 kHz audio; NIST SPHERE (soundfile reads it)
                                                 or RIFF WAV
    ROOT/{TRAIN,TEST}/<DR>/<SPEAKER>/<UTT>.PHN   `start_sample end_sample phone` lines, with
                                                 the 61 TIMIT phone symbols (end exclusive)

Folding to 39 classes follows Lee & Hon (1989) as used by Kaldi's `timit` recipe: closures,
pauses, epenthetic silence and h# become `sil`, and the 16 pairs/triples below merge. The glottal
stop `q` has no class: it is removed and its samples go to the phone before it (to the phone
after it at the start of an utterance), the usual practice of deleting `q` from transcripts.
Without folding, labels index the 61 phones, `q` included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LayoutError
from .corpus import check_complete

PHONES_61 = [
    "b", "d", "g", "p", "t", "k", "dx", "q",                                    # stops, flap
    "jh", "ch",                                                                 # affricates
    "s", "sh", "z", "zh", "f", "th", "v", "dh",                                 # fricatives
    "m", "n", "ng", "em", "en", "eng", "nx",                                    # nasals
    "l", "r", "w", "y", "hh", "hv", "el",                                       # semivowels
    "iy", "ih", "eh", "ey", "ae", "aa", "aw", "ay", "ah", "ao", "oy", "ow", "uh", "uw", "ux",
    "er", "ax", "ix", "axr", "ax-h",                                            # vowels
    "pau", "epi", "h#", "bcl", "dcl", "gcl", "pcl", "tcl", "kcl",               # other
]
_MERGES = {
    "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "hv": "hh", "ix": "ih", "el": "l",
    "em": "m", "en": "n", "nx": "n", "eng": "ng", "zh": "sh", "ux": "uw",
    "pcl": "sil", "tcl": "sil", "kcl": "sil", "bcl": "sil", "dcl": "sil", "gcl": "sil",
    "h#": "sil", "pau": "sil", "epi": "sil",
}
FOLD_39 = {p: _MERGES.get(p, p) for p in PHONES_61 if p != "q"}
PHONES_39 = sorted(set(FOLD_39.values()))
REMOVED = "q"
# The 24-speaker core test set (2 men, 1 woman per dialect region), as listed in Kaldi's recipe.
CORE_TEST_SPEAKERS = {
    "mdab0", "mwbt0", "felc0", "mtas1", "mwew0", "fpas0", "mjmp0", "mlnt0", "fpkt0", "mlll0",
    "mtls0", "fjlm0", "mbpm0", "mklt0", "fnlp0", "mcmj0", "mjdh0", "fmgd0", "mgrt0", "mnjm0",
    "fdhc0", "mjln0", "mpam0", "fmld0",
}
LAYOUT_HINT = ("expected ROOT/TRAIN/<DR>/<SPEAKER>/<UTT>.WAV with <UTT>.PHN beside it "
               "(and the same under ROOT/TEST)")

Segment = tuple[int, int, str]


@dataclass(frozen=True)
class Utterance:
    """One utterance: audio file, phone file and its `(start, end, phone)` segments."""

    wav: Path
    phn: Path
    segments: list[Segment]

    @property
    def speaker(self) -> str:
        """Speaker folder name, lower case (e.g. 'fcjf0')."""
        return self.wav.parent.name.lower()


def read_phn(path: str | Path) -> list[Segment]:
    """`(start_sample, end_sample, phone)` segments of a .PHN file (phones lower-cased).

    Raises LayoutError naming the file and line for malformed lines or unknown phones.
    """
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: phone file not found; {LAYOUT_HINT}")
    segments = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            start, end, phone = int(parts[0]), int(parts[1]), parts[2].lower()
            if len(parts) != 3 or not 0 <= start < end:
                raise ValueError
        except (ValueError, IndexError):
            raise LayoutError(f"{path}:{number}: expected `start end phone` with 0 <= start < end "
                              f"sample numbers, got {line.strip()!r}") from None
        if phone not in PHONES_61:
            raise LayoutError(f"{path}:{number}: unknown phone {phone!r}; use the 61 TIMIT "
                              "phone symbols (e.g. h#, pau, bcl, iy)")
        segments.append((start, end, phone))
    if not segments:
        raise LayoutError(f"{path}: no phone segments; each line must be `start end phone`")
    return segments


def load_utterances(root: str | Path, split: str = "train",
                    include_sa: bool = False) -> list[Utterance]:
    """Utterances of 'train', 'test' or 'core' (the 24-speaker core test set), sorted by path.

    The dialect sentences SA1/SA2 (read by every speaker) are left out unless `include_sa`, as
    in the standard TIMIT phone-recognition setup.
    """
    if split not in ("train", "test", "core"):
        raise ValueError(f"split must be 'train', 'test' or 'core', got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: corpus folder not found; {LAYOUT_HINT}")
    check_complete(root)
    folder = _child(root, "train" if split == "train" else "test")
    if folder is None:
        raise LayoutError(f"{root}: no {'TRAIN' if split == 'train' else 'TEST'} folder; "
                          f"{LAYOUT_HINT}")
    utterances = []
    for phn in sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".phn"):
        if not include_sa and phn.stem.lower().startswith("sa"):
            continue
        if split == "core" and phn.parent.name.lower() not in CORE_TEST_SPEAKERS:
            continue
        wav = _audio_beside(phn)
        if wav is None:
            raise LayoutError(f"{phn.with_suffix('.WAV')}: audio for {phn.name} not found; "
                              f"{LAYOUT_HINT}")
        utterances.append(Utterance(wav, phn, read_phn(phn)))
    if not utterances:
        raise LayoutError(f"{folder}: no .PHN files for split {split!r}; {LAYOUT_HINT}")
    return utterances


def fold_segments(segments: list[Segment]) -> list[Segment]:
    """Segments folded to the 39 classes, `q` removed: its samples go to the phone before it,
    or to the one after it when it comes first."""
    folded: list[list] = []
    pending_start = None
    for start, end, phone in segments:
        if phone == REMOVED:
            if folded:
                folded[-1][1] = end
            elif pending_start is None:
                pending_start = start
            continue
        folded.append([start if pending_start is None else pending_start, end, FOLD_39[phone]])
        pending_start = None
    return [tuple(s) for s in folded]


def frame_labels(segments: list[Segment], n_frames: int, hop_length: int,
                 fold: bool = True) -> np.ndarray:
    """Phone index of each frame: frame i gets the phone whose segment covers sample i * hop.

    Indices are into PHONES_39 (`fold=True`) or PHONES_61. A sample in no segment (a gap, or past
    the last segment) takes the segment starting before it; one before the first, the first.
    """
    if fold:
        segments, phones = fold_segments(segments), PHONES_39
    else:
        phones = PHONES_61
    if not segments:
        raise ValueError("no phone segments to label frames with (only `q`?)")
    index = {p: i for i, p in enumerate(phones)}
    starts = np.array([s for s, _, _ in segments])
    ids = np.array([index[p] for _, _, p in segments], dtype=np.int64)
    samples = np.arange(n_frames) * hop_length
    which = np.clip(np.searchsorted(starts, samples, side="right") - 1, 0, len(segments) - 1)
    return ids[which]


def _child(folder: Path, name: str) -> Path | None:
    """The sub-folder of `folder` called `name`, any letter case, or None."""
    return next((d for d in sorted(folder.iterdir()) if d.is_dir() and d.name.lower() == name),
                None)


def _audio_beside(phn: Path) -> Path | None:
    """The audio file with the same stem as a .PHN file (.WAV/.wav, or a `.WAV.wav` copy)."""
    for candidate in sorted(phn.parent.iterdir()):
        name = candidate.name.lower()
        if name in (phn.stem.lower() + ".wav", phn.stem.lower() + ".wav.wav"):
            return candidate
    return None
