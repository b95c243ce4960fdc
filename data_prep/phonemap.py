"""eSpeak NG English phoneme mnemonics -> TIMIT-61 phone symbols.

eSpeak reports phonemes by its ASCII mnemonics (see espeak-ng `phsource/ph_english*`), prefixed
with stress marks (`'` primary, `,` secondary, `%`/`=` unstressed) that carry no phone identity.
The table maps every mnemonic the English accents produce (en, en-us, en-gb-scotland,
en-gb-x-rp, en-029, en-us-nyc, en-gb-x-gbclan, en-gb-x-gbcwmd) to the closest TIMIT phone:

    vowels      i: i -> iy      I -> ih        I2 I# -> ix   (reduced "roses")
                IR i@ i@3 -> ih (NEAR; the r, if any, is its own event)
                E e@ -> eh      a aa -> ae     a# -> ax      (reduced final "water", RP)
                A: A@ 0 0: -> aa                O: O@ o@ O2 -> ao
                V -> ah         VR 3: -> er    3 -> axr      (unstressed "letter")
                @ @2 @5 -> ax   @L -> el       U U@ -> uh    u: -> uw
    diphthongs  eI -> ey  aI aI2 aI@ aI3 -> ay  aU aU@ -> aw  OI -> oy  oU -> ow
    consonants  p b t d k g f v s z m n l r w h -> same (h -> hh)
                T -> th  D -> dh  S -> sh  Z -> zh  N -> ng  j -> y  tS -> ch  dZ -> jh
                t2 t[ d2 d[ -> t / d (allophones)   t# d# * -> dx (flap)   ? -> q (glottal stop)
                n- -> en  m- -> em  l/ l/2 -> l  r- -> r  w# -> w  x -> k
    pauses      _ _: _! _| -> pau  (leading/trailing silence becomes h#)

Stops and affricates get a TIMIT closure (`pcl`, `bcl`, ... `tcl` for ch, `dcl` for jh) from
the audio: eSpeak emits a stop's event at its release and puts the closure silence at the end of
the preceding phoneme; `synth_phones` relabels that silence as the closure. Mnemonics that are
not phones (`;` linking) map to None and are merged into the preceding phone.
"""

from __future__ import annotations

STRESS_MARKS = "',%="

ESPEAK_TO_TIMIT: dict[str, str | None] = {
    # vowels
    "i:": "iy", "i": "iy", "I": "ih", "I2": "ix", "I#": "ix", "IR": "ih", "i@": "ih", "i@3": "ih",
    "E": "eh", "e@": "eh", "a": "ae", "aa": "ae", "a#": "ax",
    "A:": "aa", "A@": "aa", "0": "aa", "0:": "aa",
    "O:": "ao", "O@": "ao", "o@": "ao", "O2": "ao",
    "V": "ah", "VR": "er", "3:": "er", "3": "axr",
    "@": "ax", "@2": "ax", "@5": "ax", "@L": "el",
    "U": "uh", "U@": "uh", "u:": "uw",
    # diphthongs
    "eI": "ey", "aI": "ay", "aI2": "ay", "aI@": "ay", "aI3": "ay", "aU": "aw", "aU@": "aw",
    "OI": "oy", "oU": "ow",
    # consonants
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g",
    "t2": "t", "t[": "t", "d2": "d", "d[": "d", "t#": "dx", "d#": "dx", "*": "dx", "?": "q",
    "f": "f", "v": "v", "T": "th", "D": "dh", "s": "s", "z": "z", "S": "sh", "Z": "zh",
    "h": "hh", "tS": "ch", "dZ": "jh", "x": "k",
    "m": "m", "n": "n", "N": "ng", "n-": "en", "m-": "em",
    "l": "l", "l/": "l", "l/2": "l", "r": "r", "r-": "r", "w": "w", "w#": "w", "j": "y",
    # pauses and non-phones
    "_": "pau", "_:": "pau", "_!": "pau", "_|": "pau", ";": None,
}

# TIMIT closure symbol of each stop / affricate release.
CLOSURES = {"p": "pcl", "t": "tcl", "k": "kcl", "b": "bcl", "d": "dcl", "g": "gcl",
            "ch": "tcl", "jh": "dcl"}
VOICELESS = {"p", "t", "k", "ch"}


def strip_stress(name: str) -> str:
    """The mnemonic without its leading stress marks ("'a" -> "a")."""
    return name.lstrip(STRESS_MARKS)


def to_timit(name: str) -> str | None:
    """TIMIT-61 symbol for an eSpeak mnemonic (None: not a phone); KeyError if unmapped."""
    return ESPEAK_TO_TIMIT[strip_stress(name)]
