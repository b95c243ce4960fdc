"""Keyword-spotting streams rendered with eSpeak NG: keywords inside carrier phrases and between
other speech, look-alike and partial words as hard negatives, long negative streams of
non-keyword sentences, with noise and reverberation; each split speaks with its own voices.

    tdnn prepare kws-streams --out streams/dev --voices dev --negative-hours 5

Writes `stream_XXX.wav` (16 kHz), a sidecar `stream_XXX.json` per stream (its settings and
keyword events: what makes a build resumable; the spans of the look-alike words, to tell what a
false alarm fired on; and, with clips spliced in or Kokoro speaking, which words another engine
said), then `reference.csv` (file,label,start,end), `manifest.csv` (one row per stream) and the
completion marker. A keyword event spans the keyword's own phonemes (eSpeak's phoneme events),
not its carrier phrase. Test streams may speak with Flite or Festival instead (`--voices
flite|festival`, `flite_voices`, `festival_voices`); training and dev streams may take half
their keywords (`--keyword-clips`) and look-alike words (`--lookalike-clips`) from other
engines' clips of their own split's voices, spliced between eSpeak's words, and put one other
word of theirs into half of the keyword-free sentences (`--filler-clips`); and speak a share of
all their utterances with Kokoro's voices of their split, whole (`--kokoro-share`,
`data_prep.kokoro_voices`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tdnn.atomic import atomic_write_text
from tdnn.data.words import WORDS_10
from tdnn.errors import UserError
from tdnn.streams import REFERENCE, Event, write_reference

from . import corpus, espeak, festival_voices, flite_voices, kokoro_voices
from .stream_voices import speakers_for
from .words import LOOKALIKES, SENTENCE_WORDS

SAMPLE_RATE = 16000
SETTINGS = ".tdnn-kws-streams.json"

# Phrases a keyword (or a hard negative in its place) is spoken in; none holds a keyword.
CARRIERS = ("{}", "{}", "turn {} now", "I said {}", "{} please", "okay, {}", "the answer is {}",
            "and then {} again", "can you say {} for me", "just {}", "{}, I think", "it was {}")

NEGATIVE_WORDS = LOOKALIKES
SENTENCE_VOCAB = tuple(w for w in SENTENCE_WORDS if w not in WORDS_10)
NOISE_KINDS = ("white", "pink", "brown", "babble")
LOOKALIKE_SHARE = 0.3  # of the utterances in every stream (`--lookalike-share`)


@dataclass(frozen=True)
class StreamJob:
    """One stream to render: its file name, kind ('keyword' or 'negative'), length and seed."""
    out: str
    name: str
    kind: str
    seconds: float
    voices: str
    seed: int
    snr_db: tuple[float, float]
    reverb_prob: float
    keyword_clips: str = ""  # clip corpora (comma list) whose keywords replace half of eSpeak's
    lookalike_share: float = LOOKALIKE_SHARE  # share of utterances that are look-alike words
    lookalike_clips: str = ""  # clip corpora whose look-alike words replace half of eSpeak's
    filler_clips: str = ""  # clip corpora of other words, one put into half of the sentences
    kokoro_share: float = 0.0  # share of utterances Kokoro says whole (train and dev voices)


def job_record(job: StreamJob) -> dict:
    """The job as its sidecar records it (no folder; no `keyword_clips`, `lookalike_clips`,
    `filler_clips`, `lookalike_share` or `kokoro_share` at their defaults, so builds from before
    those options still count as done)."""
    record = json.loads(json.dumps(asdict(job) | {"out": None}))
    for key in ("keyword_clips", "lookalike_clips", "filler_clips"):
        if not record[key]:
            del record[key]
    if job.lookalike_share == LOOKALIKE_SHARE:
        del record["lookalike_share"]
    if not job.kokoro_share:
        del record["kokoro_share"]
    return record


def utterance_shares(kind: str, lookalike: float) -> dict[str, float]:
    """Share of each utterance kind in a keyword or negative stream: keywords 0.4 of a keyword
    stream, `lookalike` look-alike words, keyword-free sentences the rest."""
    keyword = 0.4 if kind == "keyword" else 0.0
    shares = {"keyword": keyword, "hard": lookalike, "sentence": 1.0 - keyword - lookalike}
    return {k: v for k, v in shares.items() if v > 0}


def sentence(rng: np.random.Generator) -> str:
    """A random 4-10 word sentence without any keyword."""
    return " ".join(rng.choice(SENTENCE_VOCAB, size=int(rng.integers(4, 11))))


def utterance_text(kind: str, rng: np.random.Generator) -> tuple[str, str | None]:
    """(text, its keyword or hard-negative word, None for a sentence) for an utterance of kind
    keyword/hard/sentence."""
    if kind == "sentence":
        return sentence(rng), None
    word = (WORDS_10[rng.integers(len(WORDS_10))] if kind == "keyword"
            else NEGATIVE_WORDS[rng.integers(len(NEGATIVE_WORDS))])
    text = CARRIERS[rng.integers(len(CARRIERS))].format(word)
    if rng.random() < 0.3:  # between other speech
        text = f"{sentence(rng)}, {text}" if rng.random() < 0.5 else f"{text}, {sentence(rng)}"
    return text, word


def word_span(syn: espeak.Synthesis, text: str, word: str) -> tuple[int, int]:
    """[start, end) samples (at the synthesis rate) of the phonemes of `word` in `text`."""
    pos = next(w.text_position for w in syn.words
               if text[w.text_position - 1:w.text_position - 1 + w.length].strip(",.").lower()
               == word)
    spans = [(p.start, p.end) for p in syn.phonemes
             if p.text_position == pos and p.end > p.start]
    return min(s for s, _ in spans), max(e for _, e in spans)


def speak(text: str, word: str | None, speaker, rng: np.random.Generator
          ) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The utterance at 16 kHz and the sample span of `word` in it (None without a word)."""
    import soxr
    if isinstance(speaker, flite_voices.FliteSpeaker):
        return flite_voices.speak(text, word, speaker)
    if isinstance(speaker, festival_voices.FestivalSpeaker):
        return festival_voices.speak(text, word, speaker)
    if isinstance(speaker, kokoro_voices.KokoroSpeaker):
        return kokoro_voices.speak(text, word, speaker)
    rate = int(np.clip(speaker.rate * rng.uniform(0.9, 1.1), espeak.RATE_MIN, 260))
    syn = espeak.synthesize(text, speaker.voice, rate=rate, pitch=speaker.pitch,
                            pitch_range=speaker.pitch_range, seed=int(rng.integers(2**31)))
    wave = soxr.resample(syn.wave, syn.sample_rate, SAMPLE_RATE).astype(np.float64)
    if word is None:
        return wave, None
    a, b = word_span(syn, text, word)
    scale = SAMPLE_RATE / syn.sample_rate
    return wave, (int(a * scale), min(len(wave), int(np.ceil(b * scale))))


CLIP_SPLITS = {"train": "training", "dev": "validation"}  # stream voices -> clips they take


def engine_clips(folders: str, voices: str, words: tuple[str, ...], option: str
                 ) -> dict[str, list[tuple[str, int, int]]]:
    """Per word of `words`, (wav path, word start, word end) of the clips of the split that
    matches the stream voices (training clips for train streams, validation = dev voices for
    dev streams) in corpora (a comma list) whose manifest marks each word (`tdnn prepare
    tts-commands`: Kokoro and Piper voices); every word must have clips."""
    split = CLIP_SPLITS[voices]
    clips: dict[str, list] = {w: [] for w in words}
    for word, clip in clip_rows(folders, split):
        if word in clips:
            clips[word].append(clip)
    lacking = [w for w in words if not clips[w]]
    if lacking:
        more = f" (and {len(lacking) - 1} more words)" if len(lacking) > 1 else ""
        raise UserError(f"{option} {folders}: no {split} clips of '{lacking[0]}'{more} with "
                        "word_start/word_end in manifest.csv; render them with tdnn prepare "
                        "tts-commands")
    return clips


def clip_rows(folders: str, split: str):
    """Yield (word, (wav path, word start, word end)) of the `split` clips of corpora (a comma
    list) whose manifest marks each word."""
    for folder in folders.split(","):
        with open(Path(folder) / "manifest.csv") as f:
            for r in csv.DictReader(f):
                if r.get("split") == split:
                    yield r["word"], (str(Path(folder) / r["file"]), int(r["word_start"]),
                                      int(r["word_end"]))


def filler_clips(folders: str, voices: str) -> dict[str, list[tuple[str, int, int]]]:
    """Per word that is neither a keyword nor a look-alike, its clips of the split that matches
    the stream voices (as `engine_clips`); at least one such word."""
    clips: dict[str, list] = {}
    for word, clip in clip_rows(folders, CLIP_SPLITS[voices]):
        if word not in WORDS_10 and word not in NEGATIVE_WORDS:
            clips.setdefault(word, []).append(clip)
    if not clips:
        raise UserError(f"--filler-clips {folders}: no {CLIP_SPLITS[voices]} clips of a word "
                        "that is neither a keyword nor a look-alike; render some with tdnn "
                        "prepare tts-commands --words all")
    return clips


CLIP_WORDS = {"--keyword-clips": WORDS_10, "--lookalike-clips": NEGATIVE_WORDS}  # all needed


def job_clips(job: StreamJob) -> dict[str, list[tuple[str, int, int]]]:
    """The other engines' clips a job splices in: its keyword and look-alike clips by word."""
    clips = {}
    for option, folders in (("--keyword-clips", job.keyword_clips),
                            ("--lookalike-clips", job.lookalike_clips)):
        if folders:
            clips |= engine_clips(folders, job.voices, CLIP_WORDS[option], option)
    return clips


def spliced(text: str, word: str, clip: tuple[str, int, int], speaker,
            rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int]]:
    """`text` with eSpeak saying the words around `word` (a keyword or look-alike) and `word`
    itself cut from another engine's clip (its marked span and 30 ms either side) at the same
    loudness; the span."""
    import soundfile as sf
    tokens = text.split()
    i = next(k for k, t in enumerate(tokens) if t.strip(",.") == word)
    before, after = (" ".join(ts).strip(" ,") for ts in (tokens[:i], tokens[i + 1:]))
    path, a, b = clip
    wave, _ = sf.read(path, dtype="float64")
    pad = int(0.03 * SAMPLE_RATE)
    word_wave = wave[max(0, a - pad):b + pad]
    parts = [speak(t, None, speaker, rng)[0] if t else np.zeros(0) for t in (before, after)]
    said = np.concatenate(parts)
    loud = float(np.sqrt(np.mean(said[np.abs(said) > 1e-3] ** 2))) if said.any() else 0.1
    word_wave *= loud / max(float(np.sqrt(np.mean(word_wave ** 2))), 1e-9)
    gaps = [np.zeros(int(rng.uniform(0.02, 0.12) * SAMPLE_RATE)) if len(p) else np.zeros(0)
            for p in parts]
    start = len(parts[0]) + len(gaps[0]) + (a - max(0, a - pad))
    out = np.concatenate([parts[0], gaps[0], word_wave, gaps[1], parts[1]])
    return out, (start, start + b - a)


def with_filler(text: str, fillers: dict, rng: np.random.Generator) -> tuple[str, str]:
    """A sentence with one word of `fillers` put between two of its words (or at either end),
    and that word."""
    words = sorted(fillers)
    word = words[rng.integers(len(words))]
    tokens = text.split()
    at = int(rng.integers(len(tokens) + 1))
    return " ".join(tokens[:at] + [word] + tokens[at:]), word


def speech_track(n: int, shares: dict[str, float], speakers: list, rng: np.random.Generator,
                 gap: tuple[float, float] = (0.3, 2.0), clips: dict | None = None,
                 fillers: dict | None = None, kokoro: tuple[list, float] = ([], 0.0)
                 ) -> tuple[np.ndarray, list, list, list]:
    """`n` samples of utterances one after another, drawn by `shares` of kind, each by a random
    speaker at a random level; returns the track, (keyword, start, end) in seconds, the same
    for the look-alike words eSpeak, Kokoro or a clip said (Flite's and Festival's are not
    marked), and for the words another engine said. With `clips` (`job_clips`), half the
    keywords and look-alike words it holds are another engine's; with `fillers`
    (`filler_clips`), half the sentences hold one other word of another engine; `kokoro`
    (speakers, share): that share of the utterances is one of these Kokoro speakers', whole."""
    kinds, p = list(shares), np.array(list(shares.values()))
    track, events, lookalikes, other = np.zeros(n), [], [], []
    t = int(rng.uniform(*gap) * SAMPLE_RATE)
    while True:
        kind = kinds[rng.choice(len(kinds), p=p / p.sum())]
        text, word = utterance_text(kind, rng)
        speaker = speakers[rng.integers(len(speakers))]
        whole = kokoro[1] > 0 and rng.random() < kokoro[1]
        if whole:
            speaker = kokoro[0][rng.integers(len(kokoro[0]))]
        pool = clips
        if not whole and fillers and kind == "sentence" and rng.random() < 0.5:
            text, word = with_filler(text, fillers, rng)
            pool = fillers
        try:
            cut = (not whole and bool(pool) and word in pool
                   and (kind == "sentence" or rng.random() < 0.5))
            if cut:
                pick = pool[word]
                wave, span = spliced(text, word, pick[rng.integers(len(pick))], speaker, rng)
            else:
                marked = kind == "keyword" or (kind == "hard" and not isinstance(
                    speaker, (flite_voices.FliteSpeaker, festival_voices.FestivalSpeaker)))
                wave, span = speak(text, word if marked else None, speaker, rng)
        except ValueError:  # keyword not found in Flite's/Festival's timing: another utterance
            continue
        if t + len(wave) > n:
            return track, events, lookalikes, other
        peak = np.max(np.abs(wave)) or 1.0
        track[t:t + len(wave)] += wave / peak * 10 ** (rng.uniform(-12, 0) / 20)
        if span is not None:
            said = (word, (t + span[0]) / SAMPLE_RATE, (t + span[1]) / SAMPLE_RATE)
            if kind != "sentence":
                (events if kind == "keyword" else lookalikes).append(said)
            if cut or whole:
                other.append(said)
        t += len(wave) + int(rng.uniform(*gap) * SAMPLE_RATE)


def noise(kind: str, n: int, speakers: list, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of unit-RMS background noise: coloured noise or babble of four talkers."""
    from . import noise as coloured
    if kind == "babble":
        x = sum(speech_track(n, {"sentence": 1.0}, speakers, rng, gap=(0.0, 0.3))[0]
                for _ in range(4))
    else:
        x = {"white": coloured.white, "pink": coloured.pink, "brown": coloured.brown}[kind](n, rng)
    return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-9)


def reverb(wave: np.ndarray, rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """`wave` in a synthetic room: a unit direct path plus Gaussian noise decaying by 60 dB over
    `rt60` s with its energy `drr_db` below the direct path (as `tdnn.augment.add_reverb`, in
    numpy alone so workers skip the torch import); same length, RMS kept."""
    t = np.arange(max(int(rt60 * SAMPLE_RATE), 2)) / SAMPLE_RATE
    rir = rng.standard_normal(len(t)) * np.exp(-np.log(1000.0) * t / rt60)
    rir[0] = 0.0
    rir *= np.sqrt(10 ** (-drr_db / 10) / np.sum(rir ** 2))
    rir[0] = 1.0
    n = 1 << (len(wave) + len(rir) - 2).bit_length()  # a power of two: a fast FFT
    out = np.fft.irfft(np.fft.rfft(wave, n) * np.fft.rfft(rir, n), n)[:len(wave)]
    return out * np.sqrt(np.mean(wave ** 2) / max(np.mean(out ** 2), 1e-20))


def render(job: StreamJob) -> dict:
    """Render one stream into job.out (WAV, then its sidecar JSON); return the sidecar."""
    rng = np.random.default_rng(job.seed)
    speakers = speakers_for(job.voices, job.seed)
    n = int(job.seconds * SAMPLE_RATE)
    shares = utterance_shares(job.kind, job.lookalike_share)
    clips = job_clips(job)
    fillers = filler_clips(job.filler_clips, job.voices) if job.filler_clips else None
    kokoro = (kokoro_voices.speakers(job.voices, job.seed) if job.kokoro_share else [],
              job.kokoro_share)
    speech, events, lookalikes, other = speech_track(n, shares, speakers, rng, clips=clips,
                                                     fillers=fillers, kokoro=kokoro)
    rt60 = float(rng.uniform(0.2, 0.7)) if rng.random() < job.reverb_prob else 0.0
    if rt60:
        speech = reverb(speech, rt60, float(rng.uniform(0, 10)), rng)
    kind = NOISE_KINDS[rng.integers(len(NOISE_KINDS))]
    snr = float(rng.uniform(*job.snr_db))
    active = speech[np.abs(speech) > 1e-3]
    level = float(np.sqrt(np.mean(active ** 2))) if len(active) else 0.1
    mix = speech + noise(kind, n, speakers, rng) * level / 10 ** (snr / 20)
    mix *= 0.7 / max(float(np.max(np.abs(mix))), 1e-9)
    corpus.write_wav(Path(job.out) / job.name, mix.astype(np.float32), SAMPLE_RATE)
    side = {"job": job_record(job), "seconds": n / SAMPLE_RATE, "noise": kind,
            "snr_db": snr, "rt60": rt60, "events": events, "lookalikes": lookalikes}
    if clips or fillers or job.kokoro_share:  # words another engine said (older: absent)
        side["spliced"] = other
    atomic_write_text(Path(job.out) / sidecar(job.name), json.dumps(side) + "\n", durable=False)
    return side


def render_or_fail(job: StreamJob) -> str | None:
    """Render one stream; None, or the error that stopped it (a full disk stops the build)."""
    try:
        render(job)
        return None
    except Exception as e:  # one bad stream must not stop the others
        if corpus.fatal(e):
            raise
        return f"{type(e).__name__}: {e}"


def worker_died(job: StreamJob) -> str:
    """The failure of a stream whose worker process died rendering it."""
    return "its worker process died (libespeak-ng crashed); the other streams are built"


def sidecar(name: str) -> str:
    """The sidecar JSON of a stream WAV."""
    return name[:-len(".wav")] + ".json"


def plan(out: Path, voices: str, keyword_streams: int, keyword_seconds: float,
         negative_streams: int, negative_seconds: float, seed: int,
         snr_db: tuple[float, float] = (5.0, 25.0), reverb_prob: float = 0.5,
         keyword_clips: str = "", lookalike_share: float = LOOKALIKE_SHARE,
         lookalike_clips: str = "", filler_clips: str = "", kokoro_share: float = 0.0
         ) -> list[StreamJob]:
    """Every stream of a build: keyword streams first, then negative streams."""
    kinds = ([("keyword", keyword_seconds)] * keyword_streams
             + [("negative", negative_seconds)] * negative_streams)
    return [StreamJob(str(out), f"stream_{i:03d}.wav", kind, float(sec), voices,
                      int(np.random.default_rng([seed, i]).integers(2**31)), tuple(snr_db),
                      reverb_prob, keyword_clips, lookalike_share, lookalike_clips,
                      filler_clips, kokoro_share)
            for i, (kind, sec) in enumerate(kinds)]


def done(job: StreamJob) -> bool:
    """True when the stream and its sidecar exist for exactly this job (resume skips it)."""
    out = Path(job.out)
    try:
        side = json.loads((out / sidecar(job.name)).read_text())
    except (OSError, ValueError):
        return False
    return (out / job.name).is_file() and side.get("job") == job_record(job)


def build(out: Path, jobs_list: list[StreamJob], jobs: int = 1, progress: bool = True) -> dict:
    """Render the streams not yet done (in `jobs` processes), then write reference.csv and
    manifest.csv of the streams done, and the completion marker when none failed. Returns a
    summary with the failures."""
    from tqdm import tqdm
    out.mkdir(parents=True, exist_ok=True)
    (out / corpus.DONE).unlink(missing_ok=True)
    todo = [j for j in jobs_list if not done(j)]
    bar = tqdm(total=len(todo), desc="streams", unit="stream", disable=not progress)
    failures = []
    rendered = espeak.map_processes(render_or_fail, todo, jobs, crashed=worker_died)
    for job, error in zip(todo, rendered):
        if error:
            failures.append((job.name, error))
        bar.update()
    bar.close()
    failed = {name for name, _ in failures}
    sides = [(j, json.loads((out / sidecar(j.name)).read_text())) for j in jobs_list
             if j.name not in failed]
    events = [Event(j.name, lab, a, b) for j, s in sides for lab, a, b in s["events"]]
    write_reference(events, out / REFERENCE)
    rows = [{"file": j.name, "kind": j.kind, "seconds": s["seconds"], "voices": j.voices,
             "keywords": len(s["events"]), "noise": s["noise"], "snr_db": round(s["snr_db"], 2),
             "rt60": round(s["rt60"], 3), "seed": j.seed} for j, s in sides]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["file"])
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "manifest.csv", buf.getvalue())
    if not failures:
        corpus.finish(out)
    hours = sum(r["seconds"] for r in rows) / 3600
    negative = sum(r["seconds"] for r in rows if r["kind"] == "negative") / 3600
    return {"streams": len(rows), "rendered": len(todo), "keywords": len(events),
            "hours": round(hours, 3), "negative_stream_hours": round(negative, 3),
            "failures": failures}
