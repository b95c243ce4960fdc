"""eSpeak NG through ctypes (library and voices from the `espeakng_loader` wheel).

`synthesize(text, voice, rate, pitch, pitch_range)` returns the waveform at eSpeak's native rate
(22050 Hz) together with phoneme and word events whose positions are exact sample indices into
that waveform. libespeak-ng keeps global state and is not thread safe: use one `Espeak` per
process (`engine()` gives this process's one) and parallelise with processes.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tdnn.errors import UserError
from tdnn.workers import remember_parent, stop_if_orphaned

# speak_lib.h constants.
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
PHONEME_INPUT = 0x100  # text inside [[ ]] is eSpeak phoneme mnemonics
POS_CHARACTER = 1
PHONEMES_IPA = 0x02  # espeak_TextToPhonemes: IPA (UTF-8) instead of eSpeak mnemonics
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_SENTENCE, EVENT_END = 0, 1, 2, 5
EVENT_MSG_TERMINATED, EVENT_PHONEME = 6, 7
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 2, 3, 4, 7
RATE_MIN, RATE_MAX = 80, 450

# Accents (language voices under espeak-ng-data/lang) that speak English.
ENGLISH_ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
                   "en-gb-x-gbclan", "en-gb-x-gbcwmd")


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT as laid out in speak_lib.h (API revision 12)."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass
class Phoneme:
    """One phoneme event: eSpeak mnemonic, its [start, end) sample span, its word's position."""
    name: str
    start: int
    end: int
    text_position: int = 0


@dataclass
class Word:
    """One word event: character span in the text and the sample where the word starts."""
    text_position: int
    length: int
    start: int


@dataclass
class Synthesis:
    """Waveform (float32 in [-1, 1]) at `sample_rate` plus phoneme and word events."""
    wave: np.ndarray
    sample_rate: int
    phonemes: list[Phoneme] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)


def data_path() -> Path:
    """The espeak-ng-data folder shipped with the espeakng_loader wheel."""
    import espeakng_loader
    return Path(espeakng_loader.get_data_path())


def variants() -> list[str]:
    """Names of the voice variants under espeak-ng-data/voices/!v (e.g. 'm3', 'klatt2')."""
    return sorted(p.name for p in (data_path() / "voices" / "!v").iterdir() if p.is_file())


def voice_name(accent: str, variant: str | None = None) -> str:
    """The eSpeak voice name for an accent and an optional variant, e.g. 'en-us+m3'."""
    return f"{accent}+{variant}" if variant else accent


class Espeak:
    """One initialised libespeak-ng (one per process): synthesise text with events."""

    def __init__(self):
        import espeakng_loader
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                                ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self._libc = ctypes.CDLL(None)  # eSpeak also draws from libc rand() (klatt noise)
        self._lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                           ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                           ctypes.c_void_p, ctypes.c_void_p]
        path = str(data_path().parent).encode()
        self.sample_rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, path,
                                                       INITIALIZE_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed with data in {path.decode()}")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                                    ctypes.c_int]
        self._voice = None

    def _on_synth(self, wav, n, events) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            name = e.id.string.decode("utf-8", "replace") if e.type == EVENT_PHONEME else ""
            self._events.append((e.type, e.sample, e.text_position, e.length, name))
            i += 1
        return 0

    def set_voice(self, name: str) -> None:
        """Select a voice by name ('en-us', 'en-gb-x-rp+f3'); UserError if eSpeak lacks it."""
        if name != self._voice:
            if self._lib.espeak_SetVoiceByName(name.encode()) != 0:
                raise UserError(f"eSpeak voice '{name}' not found: pick an accent from "
                                f"{', '.join(ENGLISH_ACCENTS)} and a variant from voices/!v")
            self._voice = name

    def ipa(self, text: str, voice: str = "en-us") -> str:
        """`text` as IPA phonemes (words separated by spaces), without synthesising it."""
        self.set_voice(voice)
        data = ctypes.c_char_p(text.encode("utf-8"))
        clauses = []
        while data.value:
            out = self._lib.espeak_TextToPhonemes(ctypes.byref(data), CHARS_UTF8, PHONEMES_IPA)
            clauses.append((out or b"").decode("utf-8", "replace").strip())
        return " ".join(c for c in clauses if c)

    def synthesize(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50, word_gap: int = 0, volume: int = 100,
                   seed: int = 0) -> Synthesis:
        """Speak `text`; rate in words/min (80-450), pitch and range 0-100 (50 = normal).

        Text inside [[ ]] is read as eSpeak phoneme mnemonics, e.g. "[[b'A:]]". eSpeak's random
        generators (breath and aspiration noise) are reseeded with `seed` first, so the output
        does not depend on what this process synthesised before.
        """
        self.set_voice(voice)
        for param, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range),
                             (PARAM_WORDGAP, word_gap), (PARAM_VOLUME, volume)):
            self._lib.espeak_SetParameter(param, int(value), 0)
        self._lib.espeak_ng_SetRandSeed(seed)
        self._libc.srand(ctypes.c_uint(seed & 0xFFFFFFFF))
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        err = self._lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0,
                                     CHARS_UTF8 | PHONEME_INPUT, None, None)
        if err != 0:
            raise RuntimeError(f"espeak_Synth failed ({err}) for {text!r}")
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        wave = pcm.astype(np.float32) / 32768.0
        return Synthesis(wave, self.sample_rate, *_spans(self._events, len(wave)))


def _spans(events: list[tuple], n_samples: int) -> tuple[list[Phoneme], list[Word]]:
    """Phoneme spans and word starts from raw events.

    A phoneme ends where the next phoneme starts; the last one ends at the end of the audio.
    Events at the same sample give zero-length spans (kept, so no event is lost).
    """
    starts = [(min(s, n_samples), name, pos) for t, s, pos, _, name in events
              if t == EVENT_PHONEME]
    ends = [s for s, _, _ in starts[1:]] + [n_samples]
    phonemes = [Phoneme(name, s, max(s, e), pos) for (s, name, pos), e in zip(starts, ends)]
    words = [Word(pos, length, min(s, n_samples))
             for t, s, pos, length, _ in events if t == EVENT_WORD]
    return phonemes, words


_ENGINE: Espeak | None = None
_ENGINE_PID: int | None = None


def engine() -> Espeak:
    """This process's libespeak-ng (created on first use, again after a fork)."""
    global _ENGINE, _ENGINE_PID
    if _ENGINE is None or _ENGINE_PID != os.getpid():
        _ENGINE, _ENGINE_PID = Espeak(), os.getpid()
    return _ENGINE


def synthesize(text: str, voice: str = "en-us", **params) -> Synthesis:
    """Speak `text` with this process's engine; see `Espeak.synthesize` for the parameters."""
    return engine().synthesize(text, voice, **params)


TASKS_PER_PROCESS = 4


def _serve_chunk(fn, chunk: list, conn, parent_pid: int) -> None:
    """Worker: send ("ok", fn(task)) for each task in order, or ("error", exception) and stop;
    stop at once when the parent has died."""
    remember_parent(parent_pid)
    for task in chunk:
        stop_if_orphaned()
        try:
            conn.send(("ok", fn(task)))
        except Exception as e:  # noqa: BLE001 - raised again in the parent
            try:
                conn.send(("error", e))
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                conn.send(("error", RuntimeError(f"{type(e).__name__}: {e}")))
            return
    conn.close()


def map_processes(fn, tasks: list, jobs: int, crashed=None):
    """Yield fn(task) for each task, in order, from `jobs` worker processes.

    libespeak-ng's wave generator keeps state from one utterance to the next (a few samples of
    timing) that no API call resets, so each fixed chunk of TASKS_PER_PROCESS tasks runs in a
    fresh spawned process: the output is the same for any `jobs` and any earlier use of the
    library in this process. `fn` must be a module-level function. Workers stop once this
    process is gone (a killed build stops writing; see `tdnn.workers`).

    libespeak-ng segfaults on a few texts and voices, every time. A task whose worker is killed
    by a signal yields `crashed(task)` (the caller's failure record) and the rest of its chunk
    goes on in a fresh process; with `crashed` None the build stops with a UserError. An
    exception in `fn` is raised here; an error or an early stop ends the workers at once.
    (Plain processes, not multiprocessing.Pool, which waits forever for a dead worker's task.)
    """
    chunks = [tasks[i:i + TASKS_PER_PROCESS] for i in range(0, len(tasks), TASKS_PER_PROCESS)]
    context = multiprocessing.get_context("spawn")
    results: dict[int, list] = {i: [] for i in range(len(chunks))}
    waiting = list(range(len(chunks)))[::-1]  # chunk indices, the next one last
    running: dict = {}  # a worker's receiving pipe end -> (its process, its chunk index)
    ready = 0
    try:
        while ready < len(chunks):
            while waiting and len(running) < max(1, jobs):
                i = waiting.pop()
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_serve_chunk, daemon=True, args=(
                    fn, chunks[i][len(results[i]):], send, os.getpid()))
                process.start()
                send.close()
                running[receive] = (process, i)
            for receive in multiprocessing.connection.wait(list(running)):
                i = running[receive][1]
                try:
                    kind, value = receive.recv()
                except EOFError:  # the worker ended before its next result
                    code = _end(running, receive)
                    if code >= 0:  # not killed by a signal: it could not start (or run) at all
                        raise RuntimeError(f"a worker process ended with exit code {code} "
                                           "before its tasks were done") from None
                    if crashed is None:
                        raise UserError(
                            f"a worker process died (signal {-code}): libespeak-ng crashed on "
                            "one item (it does again for the same text and voice); what was "
                            "written is kept; try another --seed") from None
                    results[i].append(crashed(chunks[i][len(results[i])]))
                    if len(results[i]) < len(chunks[i]):
                        waiting.append(i)  # the rest of the chunk next, in a fresh process
                    continue
                if kind == "error":
                    raise value
                results[i].append(value)
                if len(results[i]) == len(chunks[i]):
                    _end(running, receive)
            while ready < len(chunks) and len(results[ready]) == len(chunks[ready]):
                yield from results.pop(ready)
                ready += 1
    finally:
        for receive in list(running):
            running[receive][0].terminate()
            _end(running, receive)


def _end(running: dict, receive) -> int:
    """Close a worker's pipe, wait for its process to end; its exit code."""
    process, _ = running.pop(receive)
    receive.close()
    process.join()
    return process.exitcode
