"""Festival voices for test keyword streams (`tdnn prepare kws-streams --voices festival`): the
second engine that no training corpus uses, beside Flite (`flite_voices`).

Festival loads a voice in ~0.5 s and then speaks an utterance in ~0.05-0.3 s, so each worker
keeps one `festival --pipe` process per voice and sends it Scheme; results come back on its
standard error, which Festival does not buffer. A keyword's span is its word's first segment
start and `word_end` in Festival's own Word relation.
"""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .heldout_tts import FESTIVAL_VOICES

SAMPLE_RATE = 16000
STRETCH = (0.85, 1.2)  # duration stretch per speaker (as flite_voices)
DONE = "@@tdnn-done@@"
TIMEOUT = 120.0  # seconds one utterance may take before the process counts as hung
_processes: dict[str, subprocess.Popen] = {}


@dataclass(frozen=True)
class FestivalSpeaker:
    """One Festival voice with its own tempo."""
    voice: str
    stretch: float


def speakers(count: int, seed: int) -> list[FestivalSpeaker]:
    """`count` speakers cycling through Festival's voices, tempo drawn with `seed`."""
    rng = np.random.default_rng([seed, 13])
    names = list(FESTIVAL_VOICES)
    return [FestivalSpeaker(names[i % len(names)], float(rng.uniform(*STRETCH)))
            for i in range(count)]


def _process(voice: str) -> subprocess.Popen:
    """This worker's Festival process for `voice`, started (and the voice loaded) once."""
    proc = _processes.get(voice)
    if proc is None or proc.poll() is not None:
        proc = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _processes[voice] = proc
        _run(proc, f"({FESTIVAL_VOICES[voice]})")
    return proc


def _run(proc: subprocess.Popen, scheme: str) -> list[str]:
    """Send `scheme` to a Festival process; the lines it wrote to standard error meanwhile."""
    proc.stdin.write(f'{scheme}\n(format stderr "{DONE}\\n")\n'.encode())
    proc.stdin.flush()
    data, fd = b"", proc.stderr.fileno()
    while not data.endswith(f"{DONE}\n".encode()):
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            proc.kill()
            raise RuntimeError(f"festival stopped answering: {data.decode(errors='replace')}")
        data += chunk
    return data.decode(errors="replace").splitlines()[:-1]


def speak(text: str, word: str | None, speaker: FestivalSpeaker
          ) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The utterance at 16 kHz and the sample span of `word` in it (None without a word).
    ValueError when Festival's words are not the text's words."""
    import soxr
    proc = _process(speaker.voice)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "u.wav"
        lines = _run(proc, f"""(Parameter.set 'Duration_Stretch {speaker.stretch})
(set! tdnn_utt (utt.synth (Utterance Text "{text}")))
(utt.save.wave tdnn_utt "{path}" 'riff)
(mapcar (lambda (w) (format stderr "W %s %f %f\\n" (item.name w)
  (item.feat w "R:SylStructure.daughter1.daughter1.segment_start") (item.feat w "word_end")))
  (utt.relation.items tdnn_utt 'Word))""")
        wave, sr = sf.read(path, dtype="float64")
    wave = soxr.resample(wave, sr, SAMPLE_RATE) if sr != SAMPLE_RATE else wave
    if word is None:
        return wave, None
    spoken = [line.split()[1:] for line in lines if line.startswith("W ")]
    words = [w.strip(",.").lower() for w in text.split()]
    if [name.lower() for name, _, _ in spoken] != words:
        raise ValueError(f"festival's words of {text!r} are not its words")
    _, start, end = spoken[words.index(word)]
    a, b = int(float(start) * SAMPLE_RATE), int(np.ceil(float(end) * SAMPLE_RATE))
    return wave, (a, min(len(wave), b))
