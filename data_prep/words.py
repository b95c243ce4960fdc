"""Word lists for the synthetic corpora: Speech Commands words, extra `_unknown_` words,
minimal-pair sets (same phones, different order) for the timing probes, and a sentence vocabulary.
"""

from __future__ import annotations

from tdnn.data.words import WORDS_10, WORDS_35
from tdnn.errors import UserError

# The Speech Commands words (35) and the ten keywords of the 12-class task.
COMMANDS_35, COMMANDS_10 = WORDS_35, WORDS_10

# Extra words that only ever appear as `_unknown_`; several sound close to a keyword.
UNKNOWN_EXTRA = ("yet", "nor", "cup", "town", "lift", "night", "own", "of", "shop", "goal",
                 "apple", "window", "music", "table", "water", "yellow", "number", "people",
                 "morning", "garden", "little", "paper", "orange", "button", "silver", "summer")

# Minimal-pair sets: the words of a set share their phones in a different order, so a model
# must keep phone timing to tell them apart (the pooling ablation's probes).
MINIMAL_PAIRS = (
    ("stop", "spot", "tops", "pots", "post", "opts"),
    ("cast", "cats", "scat", "acts"),
    ("tips", "spit", "pits"),
    ("nets", "nest", "sent", "tens"),
    ("lips", "slip", "lisp"),
    ("team", "meat", "mate", "tame"),
    ("pat", "tap", "apt"),
    ("stab", "bats", "tabs", "bast"),
)


def minimal_pair_words() -> tuple[str, ...]:
    """All words of the minimal-pair sets, each once, in set order."""
    return tuple(dict.fromkeys(w for group in MINIMAL_PAIRS for w in group))


# Look-alike and partial words per keyword: never a keyword, always a false alarm if detected.
# Exact homophones (know/no, write/right) are left out: no detector can tell them apart.
HARD_NEGATIVES = {
    "yes": ("yet", "yesterday", "less", "chess", "yeah"),
    "no": ("snow", "note", "nor", "low", "nobel"),
    "up": ("cup", "pup", "upon", "hub"),
    "down": ("town", "gown", "brown", "dawn", "downy"),
    "left": ("lift", "theft", "loft", "lent", "lefty"),
    "right": ("bright", "light", "ride", "rate", "ripe"),
    "on": ("gone", "one", "john", "honest"),
    "off": ("of", "cough", "often", "scoff"),
    "stop": ("top", "spot", "shop", "step", "stock"),
    "go": ("goat", "goal", "grow", "toe", "ghost"),
}
LOOKALIKES = tuple(w for ws in HARD_NEGATIVES.values() for w in ws)

# Named word sets for `--words`; 'all' is the default corpus.
WORD_SETS = {
    "commands": COMMANDS_35,
    "kws10": COMMANDS_10,
    "unknown": UNKNOWN_EXTRA,
    "pairs": minimal_pair_words(),
    "lookalikes": LOOKALIKES,
    "all": tuple(dict.fromkeys(COMMANDS_35 + UNKNOWN_EXTRA + minimal_pair_words())),
}


def resolve(spec: str) -> list[str]:
    """Words named by a comma list mixing set names (see WORD_SETS) and plain words."""
    words: list[str] = []
    for item in (s.strip().lower() for s in spec.split(",")):
        if not item:
            continue
        if item in WORD_SETS:
            words.extend(WORD_SETS[item])
        elif item.isalpha():
            words.append(item)
        else:
            raise UserError(f"--words: '{item}' is neither a word set ({', '.join(WORD_SETS)}) "
                            "nor a plain word of letters")
    if not words:
        raise UserError("--words: no words given; use e.g. 'all' or 'commands,pairs'")
    return list(dict.fromkeys(words))


# Sentence vocabulary for the aligned phone corpus: common English words chosen to cover the
# TIMIT phone set (stops, fricatives, affricates, nasals, liquids, glides, diphthongs).
SENTENCE_WORDS = (
    "the", "a", "she", "he", "we", "they", "you", "it", "that", "this", "these", "those", "her",
    "his", "their", "our", "my", "your", "some", "every", "each", "no", "all", "any",
    "had", "has", "was", "is", "are", "were", "will", "would", "could", "should", "may", "might",
    "did", "does", "saw", "took", "gave", "made", "found", "kept", "left", "brought", "thought",
    "caught", "bought", "washed", "judged", "pushed", "pulled", "joined", "reached", "moved",
    "played", "watched", "needed", "wanted", "liked", "loved", "hated", "opened", "closed",
    "dark", "suit", "greasy", "wash", "water", "year", "don't", "ask", "me", "carry", "oily",
    "rag", "like", "that", "cold", "warm", "young", "old", "big", "small", "quick", "slow",
    "bright", "heavy", "smooth", "rough", "thick", "thin", "good", "bad", "new", "fresh",
    "boy", "girl", "child", "man", "woman", "teacher", "doctor", "judge", "father", "mother",
    "brother", "sister", "friend", "neighbor", "farmer", "soldier", "singer", "player",
    "house", "garden", "church", "kitchen", "village", "bridge", "river", "mountain", "valley",
    "window", "door", "chair", "table", "bottle", "glass", "cup", "book", "paper", "letter",
    "song", "voice", "noise", "toy", "coin", "oil", "boat", "road", "coat", "goat", "shoe",
    "food", "fruit", "bread", "cheese", "sugar", "juice", "measure", "pleasure", "treasure",
    "vision", "nothing", "something", "thing", "think", "three", "thousand", "month", "bath",
    "with", "without", "other", "mother", "weather", "either", "rather", "then", "there",
    "here", "where", "when", "why", "what", "how", "who", "which", "while", "wheel", "whistle",
    "yellow", "yesterday", "usually", "beautiful", "music", "huge", "human", "hour", "honest",
    "ring", "sing", "bring", "long", "strong", "wrong", "finger", "hunger", "angry", "english",
    "button", "mountain", "little", "middle", "bottle", "kettle", "apple", "purple", "pencil",
    "butter", "better", "water", "city", "party", "pretty", "ladder", "matter", "letter",
    "about", "around", "above", "across", "after", "again", "against", "along", "among",
    "before", "behind", "below", "beside", "between", "beyond", "during", "under", "over",
    "into", "onto", "toward", "through", "across", "near", "far", "away", "down", "up",
    "cheap", "chain", "change", "choose", "jump", "joy", "gentle", "large", "orange", "edge",
    "fish", "ship", "shop", "wish", "push", "sheep", "sure", "nation", "special", "ocean",
    "zoo", "zero", "busy", "easy", "lazy", "rose", "nose", "has", "his", "was", "seize",
    "very", "voice", "seven", "over", "five", "love", "move", "give", "every", "never",
    "fine", "fair", "before", "often", "laugh", "enough", "phone", "coffee", "after", "soft",
    "pick", "peak", "pack", "park", "pool", "pull", "put", "paint", "point", "pound", "pie",
    "bed", "bad", "bid", "bird", "bag", "boot", "boy", "bite", "bow", "bean", "bear", "bone",
    "deep", "dog", "duck", "dim", "dust", "day", "dead", "date", "dive", "dull", "dine", "dare",
    "good", "game", "gate", "goal", "gold", "gift", "girl", "goose", "gun", "gas", "guess",
    "king", "key", "cat", "kite", "cake", "coal", "cook", "cool", "keep", "kind", "kiss",
    "tea", "time", "top", "tall", "tent", "ten", "toe", "tune", "turn", "tie", "town",
    "light", "late", "lake", "lamp", "leaf", "lion", "lunch", "law", "lot", "look", "loud",
    "rain", "red", "rock", "rest", "road", "rule", "run", "rice", "round", "ripe", "rush",
    "wet", "win", "wall", "wood", "word", "work", "world", "wide", "wild", "wise", "wine",
    "morning", "evening", "night", "summer", "winter", "spring", "autumn", "today", "tomorrow",
    "always", "often", "sometimes", "never", "quickly", "slowly", "carefully", "quietly",
    "strange", "street", "string", "stripe", "spray", "splash", "scratch", "square", "squeeze",
)
