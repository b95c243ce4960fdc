"""English words -> Kokoro phonemes: misaki's gold/silver lexicons, eSpeak NG for the rest.

misaki (the G2P Kokoro was trained with) writes English in its own phoneme set: IPA plus
single letters for diphthongs and affricates (A = eɪ, I = aɪ, O = oʊ, Q = əʊ, W = aʊ, Y = ɔɪ,
ʤ, ʧ). Its gold and silver lexicons (the misaki 0.9.4 wheel's `data/`) cover ~90k words each
for US and GB; full misaki would also need a spaCy model, so words missing from the lexicons
(e.g. 'marvin') go through eSpeak NG's IPA, mapped onto misaki's symbols.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

from .. import espeak

# eSpeak IPA -> misaki symbols, for both accents (longest first when applied).
ESPEAK_TO_MISAKI = {"aɪ": "I", "aʊ": "W", "dʒ": "ʤ", "eɪ": "A", "tʃ": "ʧ", "ɔɪ": "Y", "ɚ": "əɹ",
                    "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "ɾ": "T", "ʔ": "t"}
US_ONLY = {"oʊ": "O", "ɜː": "ɜɹ", "ː": ""}  # misaki US writes no length marks
GB_ONLY = {"əʊ": "Q", "eə": "ɛː"}
ESPEAK_VOICE = {False: "en-us", True: "en"}  # eSpeak's 'en' is British English


def lexicon_dir() -> Path:
    """misaki's data folder (the wheel installs it; only its JSON lexicons are used)."""
    return Path(str(importlib.resources.files("misaki") / "data"))


def load_lexicon(british: bool, folder: Path | None = None) -> dict[str, str]:
    """Word -> phonemes from the silver then gold lexicon (gold wins); a word with several
    readings by part of speech keeps its DEFAULT one."""
    folder = folder or lexicon_dir()
    lexicon = {}
    for kind in ("silver", "gold"):
        entries = json.loads((folder / f"{'gb' if british else 'us'}_{kind}.json").read_text())
        for word, phonemes in entries.items():
            if isinstance(phonemes, dict):
                phonemes = phonemes.get("DEFAULT")
            if phonemes:
                lexicon[word] = phonemes
    return lexicon


def from_espeak_ipa(ipa: str, british: bool) -> str:
    """eSpeak NG IPA rewritten in misaki's symbols."""
    table = {**ESPEAK_TO_MISAKI, **(GB_ONLY if british else US_ONLY)}
    out, i = [], 0
    keys = sorted(table, key=len, reverse=True)
    while i < len(ipa):
        key = next((k for k in keys if ipa.startswith(k, i)), None)
        out.append(table[key] if key else ipa[i])
        i += len(key) if key else 1
    return "".join(out)


class G2P:
    """One accent's word -> phonemes, lexicon first, eSpeak NG as the fallback."""

    def __init__(self, british: bool, folder: Path | None = None):
        self.british = british
        self.lexicon = load_lexicon(british, folder)

    def __call__(self, word: str) -> str:
        """Phonemes of one word (`lookup` also says where they came from)."""
        return self.lookup(word)[0]

    def lookup(self, word: str) -> tuple[str, str]:
        """(phonemes, 'lexicon' | 'espeak') for one word."""
        for key in (word, word.lower(), word.capitalize()):
            if key in self.lexicon:
                return self.lexicon[key], "lexicon"
        ipa = espeak.engine().ipa(word, ESPEAK_VOICE[self.british])
        return from_espeak_ipa(ipa, self.british), "espeak"
