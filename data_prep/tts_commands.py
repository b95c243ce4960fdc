"""Speech Commands-layout corpus spoken by several engines (eSpeak NG, Kokoro, Piper).

    OUT/<word>/<engine>-<voice tag>_nohash_<take>.wav   1 s, 16 kHz, 16-bit clips
    OUT/validation_list.txt, OUT/testing_list.txt       by voice set (dev -> validation) or hashing
    OUT/_background_noise_/*.wav                        white, pink, brown, hum, babble
    OUT/manifest.csv                                    engine, voice, set, settings of every clip

A speaker is one voice of one engine (`kokoro-afheart`, `kokoro-afbella70+afnova30`,
`piper-joe`, `espeak-enus+m3`); everything before `_nohash_` is the voice, so the TensorFlow
hashing and per-speaker scores keep a voice's clips together. Take n of a speaker says every
word with that take's settings (speed, rate and pitch, noise scales), drawn from the seed and
the speaker id. Rendered words are cached outside OUT (see tts_cache), so a re-run, a resumed
run or another corpus with the same voices only places cached words into clips.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tdnn.data.words import WORDS_10
from tdnn.errors import UserError

from . import corpus, engines, espeak, noise, synth_commands, tts_cache, voice_sets
from .synth_commands import CLIP_SAMPLES, SAMPLE_RATE, place_word, split_counts
from .voice_sets import SPLIT_OF_SET

MAX_WORD_SAMPLES = int(0.95 * CLIP_SAMPLES)
MANIFEST_FIELDS = ("file", "word", "speaker", "engine", "voice", "voice_set", "take", "settings",
                   "level_db", "floor_db", "word_start", "word_end", "split")


@dataclass(frozen=True)
class Speaker:
    """One voice of one engine and the set (train, dev, custom) it belongs to."""
    engine: str
    voice: str
    voice_set: str

    @property
    def id(self) -> str:
        """'<engine>-<voice tag>', e.g. 'kokoro-afheart'."""
        return f"{self.engine}-{engines.voice_tag(self.voice)}"


@dataclass(frozen=True)
class _Job:
    """One speaker's clips, rendered in a worker process."""
    out: str
    cache: str
    speaker: Speaker
    said: str  # JSON list, one per take: the words that take says
    takes: str  # JSON list of settings dicts, one per take
    seed: int
    options: str  # JSON engine options (model paths...)


def _stable(text: str) -> int:
    """A 32-bit integer from a string, the same in every process and run."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def draw_takes(engine, speaker: Speaker, takes: int, seed: int) -> list[dict]:
    """Settings of each take of a speaker, drawn from the seed and the speaker id only."""
    rng = np.random.default_rng([seed, 3, _stable(speaker.id)])
    return [engine.draw_settings(rng) for _ in range(takes)]


_ENGINES: dict[str, engines.Engine] = {}


def take_words(speakers: list[Speaker], n_takes: int, words: list[str],
               others: int | None = None, seed: int = 0) -> dict[str, list[list[str]]]:
    """The words each take of each speaker says: every word. With `others`, a training voice
    says the ten keywords in every take but only `others` of the remaining words (drawn from the
    seed and the voice), in its first take: the 12-class task draws a few of a voice's other-word
    clips as `_unknown_`, and rendering all of them was most of the rendering time."""
    plan = {}
    for sp in speakers:
        if others is None or sp.voice_set != "train":
            plan[sp.id] = [list(words)] * n_takes
            continue
        rest = [w for w in words if w not in WORDS_10]
        rng = np.random.default_rng([seed, 5, _stable(sp.id)])
        chosen = {rest[i] for i in rng.choice(len(rest), min(others, len(rest)), replace=False)}
        keywords = [w for w in words if w in WORDS_10]
        plan[sp.id] = [[w for w in words if w in WORDS_10 or w in chosen]] + \
            [keywords] * (n_takes - 1)
    return plan


def _engine(name: str, options: dict) -> engines.Engine:
    """This process's engine `name` (loaded once per process)."""
    if name not in _ENGINES:
        _ENGINES[name] = engines.load(name, **options.get(name, {}))
    return _ENGINES[name]


def rendered(engine, cache: Path, voice: str, words: list[str], settings: dict) -> list[np.ndarray]:
    """The words spoken by `voice` with `settings`: from the cache, else rendered and cached.

    Words are rendered in groups of `engine.words_per_call` (one model call each); a word's
    cache key includes its group, since the words spoken with it change its audio.
    """
    tag = engines.voice_tag(voice)
    waves = []
    size = engine.words_per_call
    for i in range(0, len(words), size):
        group = words[i:i + size]
        paths = [tts_cache.word_path(cache, engine.name, tag, w, tts_cache.key(
            engine=engine.name, model=engine.model_id, voice=voice, settings=settings, word=w,
            group=group)) for w in group]
        cached = [tts_cache.read(p) for p in paths]
        if any(c is None for c in cached):
            cached = engine.render(group, voice, settings)
            for path, wave in zip(paths, cached):
                tts_cache.write_atomic(path, wave, SAMPLE_RATE)
        waves += cached
    return waves


def _speaker_clips(job: _Job) -> tuple[list[dict], list[tuple[str, str]]]:
    """Render (or fetch) and write every clip of one speaker; rows and (file, reason) failures."""
    sp = job.speaker
    rows, failures = [], []
    engine = _engine(sp.engine, json.loads(job.options))
    for take, (settings, words) in enumerate(zip(json.loads(job.takes), json.loads(job.said))):
        try:
            waves = rendered(engine, Path(job.cache), sp.voice, words, settings)
        except Exception as e:  # noqa: BLE001 - report the take, keep building the rest
            if corpus.fatal(e):  # a full disk (e.g. in the word cache) stops the build
                raise
            failures += [(f"{w}/{sp.id}_nohash_{take}.wav", f"{type(e).__name__}: {e}")
                         for w in words]
            continue
        for word, wave in zip(words, waves):
            rel = f"{word}/{sp.id}_nohash_{take}.wav"
            if not 0 < len(wave) <= MAX_WORD_SAMPLES:
                failures.append((rel, f"rendered word lasts {len(wave) / SAMPLE_RATE:.2f} s "
                                      "(need 0-0.95 s)"))
                continue
            rng = np.random.default_rng([job.seed, 4, _stable(sp.id), _stable(word), take])
            clip, info = place_word(engines.fade(wave), rng)
            tts_cache.write_atomic(Path(job.out) / rel, clip, SAMPLE_RATE, subtype="PCM_16")
            rows.append({"file": rel, "word": word, "speaker": sp.id, "engine": sp.engine,
                         "voice": sp.voice, "voice_set": sp.voice_set, "take": take,
                         "settings": json.dumps(settings, sort_keys=True), **info})
    return rows, failures


def _run(tasks: list[_Job], jobs: int):
    """Yield each task's (rows, failures): eSpeak speakers in fresh processes (libespeak-ng
    carries state from one utterance to the next, see espeak.map_processes), the others in
    `jobs` lasting workers that load their engine once, as each speaker finishes."""
    yield from espeak.map_processes(_speaker_clips,
                                    [t for t in tasks if t.speaker.engine == "espeak"], jobs,
                                    crashed=corpus.speaker_died)
    rest = [t for t in tasks if t.speaker.engine != "espeak"]
    if rest:
        with multiprocessing.get_context("spawn").Pool(min(jobs, len(rest))) as pool:
            yield from pool.imap_unordered(_speaker_clips, rest)


def write_lists(out: Path, rows: list[dict], split: str) -> None:
    """Set each row's split (by voice set, 'hash' = TensorFlow hashing, or 'train' = every
    clip, e.g. to train on a voice that is dev by default) and write the lists."""
    from tdnn.data.speech_commands import which_set  # here: keeps torch out of the workers
    for r in rows:
        r["split"] = (which_set(r["file"]) if split == "hash" else "training" if split == "train"
                      else SPLIT_OF_SET.get(r["voice_set"], "training"))
    for name, chosen in (("validation_list.txt", "validation"), ("testing_list.txt", "testing")):
        files = sorted(r["file"] for r in rows if r["split"] == chosen)
        (out / name).write_text("".join(f + "\n" for f in files))


def choose_speakers(loaded: dict, voices: str, espeak_voices: int, seed: int) -> list[Speaker]:
    """The speakers of every loaded engine chosen by `voices` (sets and/or engine:voice items);
    for eSpeak the sets expand to `espeak_voices` voices drawn over the accents."""
    speakers = []
    for name, engine in loaded.items():
        pool = None
        if name == "espeak":
            drawn = synth_commands.make_speakers(espeak_voices, seed,
                                                 list(espeak.ENGLISH_ACCENTS),
                                                 synth_commands.all_variants())
            pool = list(dict.fromkeys(sp.voice for sp in drawn))
        speakers += [Speaker(name, v, s)
                     for v, s in voice_sets.select(voices, name, engine.voices(), pool)]
    if not speakers:
        raise UserError(f"--voices {voices}: no voice of --engines {','.join(loaded)} chosen")
    return speakers


def build_takes(out: Path, loaded: dict, speakers: list[Speaker], n_takes: int,
                words: list[str], options: dict, cache: Path, seed: int = 0,
                others: int | None = None, **build_options) -> dict:
    """`build` with `n_takes` takes per speaker, each drawn from the seed and the speaker id;
    with `others`, training voices say only that many other words (`take_words`)."""
    takes = {sp.id: draw_takes(loaded[sp.engine], sp, n_takes, seed) for sp in speakers}
    said = take_words(speakers, n_takes, words, others, seed)
    return build(out, speakers, takes, words, options, cache, seed=seed, said=said,
                 **build_options)


def planned_files(speakers: list[Speaker], said: dict[str, list[list[str]]],
                  noise_seconds: float) -> list[str]:
    """Every file `build` writes, relative to the corpus folder."""
    clips = [f"{w}/{sp.id}_nohash_{n}.wav" for sp in speakers
             for n, words in enumerate(said[sp.id]) for w in words]
    noises = ([f"{noise.FOLDER}/{name}.wav" for name in noise.NOISES] if noise_seconds > 0
              else [])
    return clips + noises + ["validation_list.txt", "testing_list.txt", "manifest.csv"]


def build(out: Path, speakers: list[Speaker], takes: dict[str, list[dict]], words: list[str],
          options: dict, cache: Path, seed: int = 0, jobs: int = 2, split: str = "voice-set",
          noise_seconds: float = 60.0, progress: bool = True,
          said: dict[str, list[list[str]]] | None = None) -> dict:
    """Build the corpus in `out` (resuming: finished renders come from `cache`); a summary.
    `said`: the words of each take of each speaker (default: every word in every take).

    Files an earlier build recorded are removed first; the completion marker is written last."""
    said = said or {sp.id: [list(words)] * len(takes[sp.id]) for sp in speakers}
    corpus.begin(out, planned_files(speakers, said, noise_seconds))
    for word in words:
        (out / word).mkdir(exist_ok=True)
    tasks = [_Job(str(out), str(cache), sp, json.dumps(said[sp.id]), json.dumps(takes[sp.id]),
                  seed, json.dumps(options)) for sp in speakers]
    rows, failures = corpus.collect(_run(tasks, jobs),
                                    sum(len(w) for sp in speakers for w in said[sp.id]),
                                    "tts-commands", progress=progress)
    if noise_seconds > 0:
        noise.write_noises(out / noise.FOLDER, noise_seconds, seed, SAMPLE_RATE, jobs)
    write_lists(out, rows, split)
    rows.sort(key=lambda r: r["file"])
    corpus.write_csv(out / "manifest.csv", list(MANIFEST_FIELDS), rows)
    corpus.finish(out)
    by_engine = {e: sum(1 for r in rows if r["engine"] == e) for e in dict.fromkeys(
        sp.engine for sp in speakers)}
    return {"clips": len(rows), "speakers": len(speakers), "words": len(words),
            "by_engine": by_engine,
            "splits": split_counts({r["file"]: r["split"] for r in rows}), "failures": failures}
