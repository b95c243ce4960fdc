"""Second-stage verification of keyword detections on streams: a clip classifier (any keyword
run, e.g. the speech_embedding TDNN) re-scores the audio around each detection of the causal
first stage, as two-stage wake-word systems do (the small detector runs on every frame, the
larger model only where it fires). The verifier's probability of the detected keyword becomes
the detection's score, so thresholds for a false-alarm budget are chosen on it as on the first
stage's."""

from __future__ import annotations

import numpy as np

from . import streams
from .errors import UserError
from .inference import predict_waves

# Ends of the verifier's 1 s windows, seconds after a first-stage detection: the stream
# detectors fire 0.15-0.65 s after a word's end (`data.fire`), so the word lies in
# the second before the detection; three windows catch it whether it was said fast or slow.
ENDS = (-0.3, -0.1, 0.1)


def windows(wave: np.ndarray, t: float, sample_rate: int, clip_samples: int,
            ends: tuple[float, ...] = ENDS) -> list[np.ndarray]:
    """The `clip_samples` windows of `wave` ending `ends` seconds after time `t`, zero-padded
    where they pass the stream's start or end."""
    out = []
    for e in ends:
        stop = int(round((t + e) * sample_rate))
        start = stop - clip_samples
        clip = np.zeros(clip_samples, dtype=wave.dtype)
        lo, hi = max(0, start), min(stop, len(wave))
        if hi > lo:
            clip[lo - start:hi - start] = wave[lo:hi]
        out.append(clip)
    return out


def keyword_index(verifier, label: str) -> int:
    """The verifier's class index of `label`; a verifier without that keyword is refused."""
    if label not in verifier.labels:
        raise UserError(f"--verify {verifier.path}: it has no class '{label}' (its classes: "
                        f"{', '.join(verifier.labels)}); verify with a run of the same keywords")
    return verifier.labels.index(label)


def rescored(verifier, wave: np.ndarray, fired: dict[str, list[float]], sample_rate: int
             ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{keyword: (times, scores)} for the first stage's firing times per keyword, each score
    the verifier's probability of that keyword, the highest over the windows (`windows`)."""
    if sample_rate != verifier.sample_rate:
        raise UserError(f"--verify {verifier.path}: it takes {verifier.sample_rate} Hz audio, "
                        f"the detector {sample_rate} Hz; verify with a run of the same rate")
    out = {}
    for label, times in fired.items():
        k = keyword_index(verifier, label)
        clips = [w for t in times for w in windows(wave, t, sample_rate, verifier.clip_samples)]
        probs = predict_waves(verifier.model, verifier.frontend, clips, verifier.clip_samples)
        best = probs[:, k].reshape(len(times), len(ENDS)).max(axis=1) if clips else np.zeros(0)
        out[label] = (np.asarray(times, dtype=float), best)
    return out


class SecondStage:
    """A verifier run re-scoring the first stage's detections at the shared threshold `gate`
    (`refractory` seconds apart per keyword), for `inference.stream_tracks`."""

    def __init__(self, verifier, gate: float, refractory: float = 1.0):
        if not 0.0 < gate <= 1.0:
            raise UserError(f"--gate {gate}: use a probability in (0, 1]")
        self.verifier, self.gate, self.refractory = verifier, gate, refractory

    def __call__(self, wave: np.ndarray, cands: dict, sample_rate: int) -> dict:
        """One stream's candidates ({keyword: (times, probabilities)}) re-scored."""
        fired = streams.detections_at({"": cands}, dict.fromkeys(cands, self.gate),
                                      self.refractory)[""]
        return rescored(self.verifier, wave, {lab: [d.time for d in fired if d.label == lab]
                                              for lab in cands}, sample_rate)
