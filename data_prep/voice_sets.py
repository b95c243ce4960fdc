"""The default split of synthetic voices into training and dev sets (disjoint by construction).

Choices (engines, voice mix, frontend, epochs...) are made on dev voices; the test voices are
the Flite and Festival ones of `tdnn prepare heldout-tts`, never rendered here and never
trained on. A blend only mixes training voices, so no dev voice leaks into training.

    train  eSpeak NG: every accent x variant
           Kokoro: 24 whole English voices + the 20 blends below
    dev    Kokoro: af_sarah, am_fenrir, bf_isabella, bm_fable (one per accent x gender)
           Piper: joe
    test   Flite kal, kal16, awb, rms, slt; Festival kal_diphone, slt_hts (heldout-tts)
"""

from __future__ import annotations

from tdnn.errors import UserError

SETS = ("train", "dev")
SPLIT_OF_SET = {"train": "training", "dev": "validation"}  # Speech Commands list names
KOKORO_DEV = ("af_sarah", "am_fenrir", "bf_isabella", "bm_fable")
# Twenty two-voice blends of training voices, weights drawn once (numpy seed 15) and fixed here.
KOKORO_BLENDS = (
    "am_puck:0.4+bm_daniel:0.6", "af_jessica:0.5+bf_alice:0.5", "af_heart:0.4+bm_george:0.6",
    "am_puck:0.7+bm_lewis:0.3", "af_heart:0.7+bf_emma:0.3", "af_alloy:0.5+bf_lily:0.5",
    "am_adam:0.5+bf_lily:0.5", "am_onyx:0.7+bm_george:0.3", "af_bella:0.7+af_nova:0.3",
    "af_sky:0.4+bf_alice:0.6", "bf_alice:0.4+bm_george:0.6", "af_aoede:0.6+bf_emma:0.4",
    "af_kore:0.4+bf_alice:0.6", "af_river:0.4+bf_alice:0.6", "af_alloy:0.3+af_heart:0.7",
    "af_river:0.5+am_onyx:0.5", "af_bella:0.4+af_river:0.6", "am_liam:0.6+am_michael:0.4",
    "am_adam:0.6+bm_daniel:0.4", "am_eric:0.6+am_liam:0.4",
)
PIPER_DEV = ("joe",)


def default_sets(engine: str, voices: list[str]) -> dict[str, list[str]]:
    """Train and dev voices of one engine, given the whole voices it offers."""
    if engine == "kokoro":
        train = [v for v in voices if v not in KOKORO_DEV]
        blends = [b for b in KOKORO_BLENDS
                  if all(part.split(":")[0] in train for part in b.split("+"))]
        return {"train": train + blends, "dev": [v for v in voices if v in KOKORO_DEV]}
    if engine == "piper":
        return {"train": [v for v in voices if v not in PIPER_DEV],
                "dev": [v for v in voices if v in PIPER_DEV]}
    return {"train": list(voices), "dev": []}


def select(spec: str, engine: str, voices: list[str], pool: list[str] | None = None
           ) -> list[tuple[str, str]]:
    """(voice, set) pairs chosen by `spec`: a comma list of set names (train, dev, all) and/or
    `<engine>:<voice>` items (voices of other engines are ignored here); a named voice keeps
    its set, or 'custom' if it is in none. Set names expand to the voices in `pool` (default:
    all `voices`), e.g. the eSpeak voices drawn for a corpus."""
    set_of = {v: s for s, vs in default_sets(engine, voices).items() for v in vs}
    sets = default_sets(engine, voices if pool is None else pool)
    chosen: dict[str, str] = {}
    for item in (s.strip() for s in spec.split(",")):
        if item in SETS:
            chosen.update((v, item) for v in sets[item])
        elif item == "all":
            chosen.update((v, s) for s in SETS for v in sets[s])
        elif ":" in item:
            name, _, voice = item.partition(":")
            if name == engine:
                chosen[voice] = set_of.get(voice, "custom")
        elif item:
            raise UserError(f"--voices: '{item}' is neither a set ({', '.join(SETS)}, all) nor "
                            "an '<engine>:<voice>' item such as kokoro:af_heart")
    return list(chosen.items())
