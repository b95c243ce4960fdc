"""Minimal-pair sets for the order probe that are true anagrams in eSpeak's own phonemes.

Within a set every word has the same multiset of phonemes and only their order differs, so a
model blind to order cannot beat chance among them. Checked against the phoneme events eSpeak
NG emits for each accent (stress marks dropped; any other difference, e.g. [z] for [s], [aa]
for [a] or en-us's flapped [t2], breaks a set).
"""

from __future__ import annotations

from collections import Counter

from ..errors import ConfigError

ANAGRAM_SETS = (
    ("spot", "pots", "opts"),
    ("cats", "scat", "acts"),
    ("tips", "spit", "pits"),
    ("nets", "nest", "sent"),
    ("lips", "slip", "lisp"),
    ("pets", "pest", "step"),
    ("cat", "act", "tack"),
    ("team", "meat"),
    ("mate", "tame"),
    ("pat", "apt"),
    ("stab", "bats"),
    ("dog", "god"),
    ("sub", "bus"),
)


def words() -> list[str]:
    """Every word of the sets, once, in set order."""
    return list(dict.fromkeys(w for group in ANAGRAM_SETS for w in group))


def phonemes(word: str, accent: str) -> tuple[str, ...]:
    """eSpeak NG's phoneme names for `word` in `accent`, stress marks and pauses dropped."""
    from data_prep import espeak
    syn = espeak.synthesize(word, accent)
    return tuple(p.name.replace("'", "").replace(",", "") for p in syn.phonemes
                 if not p.name.startswith("_"))


def broken_sets(sets, accents) -> list[tuple[str, tuple[str, ...], dict]]:
    """(accent, set, {word: phonemes}) for each set that is not an anagram set in an accent."""
    bad = []
    for accent in accents:
        for group in sets:
            ph = {w: phonemes(w, accent) for w in group}
            if len({frozenset(Counter(p).items()) for p in ph.values()}) > 1:
                bad.append((accent, tuple(group), ph))
    return bad


def check(sets, accents) -> None:
    """ConfigError naming the first set whose words are not anagrams in some accent."""
    bad = broken_sets(sets, accents)
    if bad:
        accent, group, ph = bad[0]
        shown = "; ".join(f"{w} = {' '.join(p)}" for w, p in ph.items())
        raise ConfigError(f"minimal-pair set {'/'.join(group)} is not an anagram set in eSpeak "
                          f"accent {accent}: {shown}")
