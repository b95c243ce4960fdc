"""Disjoint eSpeak NG voice sets for the train, dev and test keyword streams: dev and test each
own one accent and ten voice variants that the train set (and any training corpus built with
`train_exclusions()`) never uses."""

from __future__ import annotations

from tdnn.errors import UserError

from . import espeak
from .synth_commands import Speaker, all_variants, make_speakers

DEV_ACCENTS = ("en-029",)
TEST_ACCENTS = ("en-gb-scotland",)
DEV_VARIANTS = ("f2", "m4", "klatt3", "Annie", "david", "belinda", "steph2", "Andy", "iven2",
                "travis")
TEST_VARIANTS = ("f4", "m6", "klatt4", "Alicia", "edward", "linda", "steph3", "Gene", "iven3",
                 "zac")
SETS = ("train", "dev", "test")
SPEAKERS = 40  # speakers drawn per stream (voice x rate x pitch)


def voice_set(name: str) -> tuple[list[str], list[str]]:
    """(accents, variants) of a voice set: train, dev or test."""
    held = set(DEV_ACCENTS + TEST_ACCENTS), set(DEV_VARIANTS + TEST_VARIANTS)
    if name == "train":
        return ([a for a in espeak.ENGLISH_ACCENTS if a not in held[0]],
                [v for v in all_variants() if v not in held[1]])
    if name == "dev":
        return list(DEV_ACCENTS), list(DEV_VARIANTS)
    if name == "test":
        return list(TEST_ACCENTS), list(TEST_VARIANTS)
    raise UserError(f"--voices {name}: use one of {', '.join(SETS)}")


def speakers_for(name: str, seed: int) -> list:
    """SPEAKERS speakers of a voice set (prosody drawn with `seed`); 'flite' / 'festival':
    that engine's speakers (test streams only)."""
    if name == "flite":
        from . import flite_voices
        return flite_voices.speakers(SPEAKERS, seed)
    if name == "festival":
        from . import festival_voices
        return festival_voices.speakers(SPEAKERS, seed)
    accents, variants = voice_set(name)
    return make_speakers(SPEAKERS, seed, accents, variants)


def train_exclusions() -> tuple[str, str]:
    """`--exclude-accents` and `--exclude-variants` values that keep a training corpus off the
    dev and test voices."""
    return ",".join(DEV_ACCENTS + TEST_ACCENTS), ",".join(DEV_VARIANTS + TEST_VARIANTS)
