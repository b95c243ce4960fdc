"""Inference with a trained run: clip prediction (top-k), frame labelling (a frame-head run's
segments of equal labels) and streaming keyword detection.

Streaming splits the network into stages along time: the frontend (samples -> frames), each
trunk block (TDNN layer, time pooling, 2D-conv block) and the clip head. Every stage keeps only
the left context its next output needs and emits an output as soon as all the input it depends
on has arrived, so a chunked run computes exactly what one pass over the whole audio computes
(`offline_scores`), whatever the chunk sizes. A causal model (`ModelConfig(causal=True)`) emits
each frame as soon as its audio is in; a symmetric one waits for its look-ahead.

The score at trunk frame t is the clip head (statistics pooling + classifier) over the last W
trunk frames, W being what one training clip yields (fewer at the very start of a stream).
A frontend with per-utterance normalisation ('mean'/'meanvar') is streamed with
`trailing_normalize`: each frame normalised over the clip-long window ending at it, the
stream's stand-in for the utterance (the offline pass does the same, so they still agree).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.special import log_softmax
from torch import Tensor, nn

from . import audio
from .data.speech_commands import SILENCE, UNKNOWN
from .errors import UserError
from .features import Frontend, PcenState
from .layers import TDNNLayer, receptive_field
from .streams import Detection



# ---------------------------------------------------------------- clip prediction

def loudest_window(wave: np.ndarray, n: int) -> np.ndarray:
    """The `n`-sample window of highest energy, or the wave zero-padded at the end to `n`
    (a training clip's length: short files are padded as in training, long ones are scored
    where the speech most likely is)."""
    if len(wave) <= n:
        return np.pad(wave, (0, n - len(wave)))
    energy = np.concatenate([[0.0], np.cumsum(np.square(wave, dtype=np.float64))])
    start = int(np.argmax(energy[n:] - energy[:-n]))
    return wave[start:start + n]


@torch.inference_mode()
def predict_waves(model: nn.Module, frontend: nn.Module, waves: list[np.ndarray],
                  clip_samples: int, batch_size: int = 64) -> np.ndarray:
    """Class probabilities [N, C] for waveforms, each cut to its loudest `clip_samples` window
    (or zero-padded to it)."""
    out = []
    for i in range(0, len(waves), batch_size):
        batch = np.stack([loudest_window(w, clip_samples) for w in waves[i:i + batch_size]])
        logits = model(frontend(torch.from_numpy(batch)))
        out.append(torch.softmax(logits.float(), dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def top_k(probs: np.ndarray, labels: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
    """The `k` most probable (label, probability) pairs of each row, best first."""
    k = max(1, min(k, len(labels)))
    order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    return [[(labels[j], float(p[j])) for j in row] for p, row in zip(probs, order)]


def expand_paths(paths: list[str | Path], skipped: list | None = None) -> list[Path]:
    """Files as given, and the audio files inside folders (recursively, sorted); a folder with
    no audio files stays in the list, so that it is reported. FIFOs and dangling links inside
    folders are kept (reading reports them); linked folders are not followed: each is appended
    to `skipped` as (path, reason)."""
    out = []
    for p in map(Path, paths):
        inside, passed = audio.scan_folder(p, audio.AUDIO_SUFFIXES) if p.is_dir() else ([], [])
        if skipped is not None:
            skipped += passed
        out += inside or [p]
    return out


@torch.inference_mode()
def frame_segments(model: nn.Module, frontend: Frontend, wave: np.ndarray, labels: list[str]
                   ) -> list[tuple[float, float, str, float]]:
    """A frame-head model over a whole recording: (start s, end s, label, mean probability) of
    each run of frames with the same most probable label."""
    feats = frontend(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None])
    probs = torch.softmax(model(feats)[0].float(), dim=0).numpy()  # [C, L_out]
    best = probs.argmax(0)
    frame_s = feats.shape[-1] / probs.shape[-1] / frontend.frame_rate
    edges = np.flatnonzero(np.diff(best)) + 1
    return [(float(a * frame_s), float(b * frame_s), labels[best[a]],
             float(probs[best[a], a:b].mean()))
            for a, b in zip([0, *edges], [*edges, len(best)])]


@dataclass
class Prediction:
    """Top-k labels of one file (segments, for a frame-head run), or why it failed."""

    path: Path
    top: list[tuple[str, float]] | None = None
    error: str | None = None
    segments: list[tuple[float, float, str, float]] | None = None


def predict_files(run, paths: list[str | Path], k: int = 3, batch_size: int = 64
                  ) -> list[Prediction]:
    """Top-k predictions for files and folders (labelled segments for a frame-head run);
    unreadable files get an error, not an exception."""
    preds, waves = [], []
    for path in expand_paths(paths):
        if path.is_dir():
            preds.append(Prediction(path, error=f"{path}: folder holds no audio files "
                                    f"({', '.join(sorted(audio.AUDIO_SUFFIXES))}); pass audio files"))
            continue
        try:
            waves.append(audio.load(path, run.sample_rate))
            preds.append(Prediction(path))
        except UserError as e:
            preds.append(Prediction(path, error=str(e)))
    ok = [p for p in preds if p.error is None]
    if ok and run.frame_head:
        for p, wave in zip(ok, waves):
            p.segments = frame_segments(run.model, run.frontend, wave, run.labels)
    elif ok:
        probs = predict_waves(run.model, run.frontend, waves, run.clip_samples, batch_size)
        for p, top in zip(ok, top_k(probs, run.labels, k)):
            p.top = top
    return preds


# ---------------------------------------------------------------- streaming stages

class Stage:
    """One streaming stage along the last (time) axis: output g reads inputs
    g*stride + [first, last] (zero or edge padding beyond the ends of the stream).

    `fn(buffer, lo, hi)` returns outputs lo..hi (local indices, inclusive) of `buffer`, and
    `count(n)` the number of outputs n inputs give. `push` appends inputs and returns every
    output whose inputs have all arrived; the buffer keeps only what later outputs need."""

    def __init__(self, fn, first: int, last: int, stride: int, count):
        self.fn, self.first, self.last, self.stride, self.count = fn, first, last, stride, count
        self.buffer: Tensor | None = None
        self.start = 0      # global index of buffer[..., 0]; a multiple of stride
        self.next_out = 0   # global index of the next output to emit

    def push(self, x: Tensor, final: bool = False) -> Tensor | None:
        """Append inputs [..., k]; return the newly complete outputs (None if there are none)."""
        self.buffer = x if self.buffer is None else torch.cat([self.buffer, x], dim=-1)
        n = self.buffer.shape[-1]
        if n == 0:
            return None
        base = self.start // self.stride
        hi = base + self.count(n) - 1
        if not final:  # the last output whose inputs are all in
            hi = min(hi, (self.start + n - 1 - self.last) // self.stride)
        if hi < self.next_out:
            return None
        out = self.fn(self.buffer, self.next_out - base, hi - base)
        self.next_out = hi + 1
        keep = max(0, (self.next_out * self.stride + self.first) // self.stride * self.stride)
        if keep > self.start:
            self.buffer = self.buffer[..., keep - self.start:]
            self.start = keep
        return out


def module_stage(block: nn.Module) -> Stage:
    """A stage running a trunk block (anything with `time_ops` and 'same' padding) on the
    buffer; plain TDNN layers compute only the outputs asked for (`tdnn_layer_fn`)."""
    first, last = receptive_field(block.time_ops)
    stride = math.prod(s for _, s in block.time_ops)
    if isinstance(block, TDNNLayer) and block.factor is None and isinstance(
            block.norm, (nn.BatchNorm1d, nn.Identity)):
        fn = tdnn_layer_fn(block)
    else:
        def fn(buf, lo, hi):
            return block(buf)[..., lo:hi + 1]
    return Stage(fn, first, last, stride, lambda n: -(-n // stride))


def tdnn_layer_fn(layer: TDNNLayer):
    """Outputs lo..hi of an eval-mode TDNN layer as one gather + matmul (batch norm folded into
    a scale and shift): for short streaming chunks several times faster than conv1d over the
    whole buffer, and the same numbers up to float rounding."""
    context = torch.tensor(layer.context)
    weight = layer.affine.weight.detach()                       # [out, in, K]
    w_flat = weight.permute(0, 2, 1).reshape(weight.shape[0], -1).T.contiguous()  # [K*in, out]
    bias = layer.affine.bias.detach() if layer.affine.bias is not None else None
    norm = layer.norm
    if isinstance(norm, nn.BatchNorm1d):
        scale = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).detach()
        shift_bn = (norm.bias - norm.running_mean * scale).detach()
    left, right = max(0, -layer.context[0]), max(0, layer.context[-1])
    stride, c0, c1 = layer.stride, layer.context[0], layer.context[-1]
    offsets: dict[int, Tensor] = {}  # window index pattern per number of outputs

    def fn(buf: Tensor, lo: int, hi: int) -> Tensor:
        x, m = buf[0], hi - lo + 1                                # x: [in, n]
        shift = lo * stride
        if shift + c0 < 0 or hi * stride + c1 >= x.shape[-1]:   # stream edge: zero padding
            x, shift = nn.functional.pad(x, (left, right)), shift + left
        if m not in offsets:
            offsets[m] = stride * torch.arange(m)[:, None] + context
        win = x[:, offsets[m] + shift].permute(1, 2, 0).reshape(m, -1)   # [m, K*in]
        y = win @ w_flat if bias is None else torch.addmm(bias, win, w_flat)
        y = layer.activation(y)
        if isinstance(norm, nn.BatchNorm1d):
            y = torch.addcmul(shift_bn, y, scale)
        return y.T[None]
    return fn


def frontend_span(frontend: nn.Module) -> tuple[int, int]:
    """(first, last) sample offsets around a frame's centre that the frame depends on,
    deltas included (normalisation aside)."""
    cfg = frontend.cfg
    if cfg.kind in ("fbank", "speech_embedding"):
        first = -(frontend.win_length // 2)
        last = first + frontend.win_length - 1
    else:
        first, last = -(frontend.n_fft // 2), frontend.n_fft // 2 - 1
    extra = 2 * cfg.deltas * frontend.hop_length  # each delta order reads +-2 frames
    return first - extra, last + extra


def raw_frontend(frontend: Frontend) -> Frontend:
    """The frontend without its per-utterance normalisation (itself if it has none)."""
    if frontend.cfg.normalize == "none":
        return frontend
    return Frontend(dataclasses.replace(frontend.cfg, normalize="none")).eval()


def trailing_normalize(x: Tensor, window: int, kind: str, lo: int = 0, hi: int | None = None
                       ) -> Tensor:
    """Streaming stand-in for per-utterance normalisation: frames lo..hi of x [D, n], each
    normalised by the mean (and std, clamped like the frontend's) of the last `window` frames up
    to it (fewer at the start). A training clip is normalised over itself; a stream over the
    clip-long window ending at each frame, so a word ending the window sees about the statistics
    it was trained with. Float64 running sums keep it exact to rounding."""
    hi = x.shape[-1] - 1 if hi is None else hi
    x64 = x.double()
    zero = x64.new_zeros(x64.shape[0], 1)
    end = torch.arange(lo, hi + 1) + 1
    start = (end - window).clamp(min=0)
    count = (end - start).double()
    cs = torch.cat([zero, x64.cumsum(-1)], dim=-1)
    mean = (cs[:, end] - cs[:, start]) / count
    out = x64[:, lo:hi + 1] - mean
    if kind == "meanvar":
        cs2 = torch.cat([zero, (x64 * x64).cumsum(-1)], dim=-1)
        var = ((cs2[:, end] - cs2[:, start]) / count - mean * mean).clamp(min=0)
        out = out / var.sqrt().clamp(min=1e-5)
    return out.float()


def check_streamable(model: nn.Module) -> None:
    """UserError unless the model is a clip classifier with 'same' padding (what streams need)."""
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(model, "trunk"):
        raise UserError("streaming needs a tdnn.models.Model (trunk + clip head)")
    if cfg.head != "clip":
        raise UserError("streaming detection needs a clip-head model (model.head=clip)")
    if cfg.padding != "same":
        raise UserError("streaming needs model.padding=same (valid padding drops edge frames)")


def clip_frames(model: nn.Module, frontend: nn.Module, clip_samples: int) -> int:
    """Trunk output frames of one training clip: the width W of the streaming head window."""
    n = frontend.num_frames(clip_samples)
    for _, stride in model.time_ops:
        n = math.ceil(n / stride)
    return n


def score_times(index: np.ndarray, model: nn.Module, frame_s: float) -> np.ndarray:
    """Seconds at which trunk frames `index` can be scored: the centre of the last input frame
    they read (anchor frame index*stride plus the model's look-ahead)."""
    lookahead = max(0, receptive_field(model.time_ops)[1])
    return (np.asarray(index) * model.stride + lookahead) * frame_s


class StreamScorer:
    """Chunked scoring of a long waveform: `push(samples)` returns (times, logits [n, C]) for
    the trunk frames completed by these samples; `flush()` ends the stream.

    `times[i]` is when score i can be known: the centre (seconds) of the last frame it reads."""

    def __init__(self, model: nn.Module, frontend: nn.Module, clip_samples: int):
        check_streamable(model)
        self.model, self.frontend = model.eval(), frontend.eval()
        first, last = frontend_span(frontend)
        hop, raw = frontend.hop_length, raw_frontend(frontend)
        self.pcen = PcenState(frontend.pcen_b) if frontend.cfg.kind == "pcen" else None
        local = raw.frames if self.pcen is None else (
            lambda w, lo, hi: raw.mel_magnitude(w[None])[0, :, lo:hi + 1])
        self.features = Stage(local, first, last, hop, lambda n: 1 + n // hop)
        self.norm = None
        if frontend.cfg.normalize != "none":
            width, kind = frontend.num_frames(clip_samples), frontend.cfg.normalize
            self.norm = Stage(lambda x, lo, hi: trailing_normalize(x[0], width, kind, lo, hi)[None],
                              -(width - 1), 0, 1, lambda n: n)
        self.stages = [module_stage(b) for b in model.trunk.blocks]
        self.is_2d = model.config.arch == "cnn2d"
        self.window = clip_frames(model, frontend, clip_samples)
        self.frame_s = hop / frontend.cfg.sample_rate
        self.history: Tensor | None = None  # last W trunk frames (x and x^2 for running sums)
        self.sums: Tensor | None = None
        self.emitted = 0

    @torch.inference_mode()
    def push(self, samples: np.ndarray, final: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Feed float32 samples; return times [n] and logits [n, C] of the newly ready frames."""
        x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
        x = self.features.push(x, final)
        if x is not None and self.pcen is not None:
            x = self.pcen(x)
        if x is not None and self.norm is not None:
            x = self.norm.push(x[None], final)
            x = None if x is None else x[0]
        if x is not None and self.is_2d:
            x = x[None]  # [D, L] -> [1, D, L]: one input channel of (frequency, time)
        for stage in self.stages:
            if x is None:
                break
            x = stage.push(x[None], final)
            x = None if x is None else x[0]
        if x is None:
            return np.zeros(0), np.zeros((0, 0), dtype=np.float32)
        if self.is_2d:
            x = x.flatten(0, 1)
        return self._head(x)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """End of stream: emit the frames that were waiting for look-ahead."""
        return self.push(np.zeros(0, dtype=np.float32), final=True)

    def _head(self, h: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Scores of new trunk frames h [C, n] over windows of the last W frames."""
        n_new, w = h.shape[-1], self.window
        pool, m = self.model.pool, self.model
        if pool.kind == "attention":
            hist = h if self.history is None else torch.cat([self.history, h], dim=-1)
            stats = torch.cat([pool(hist[None, :, max(0, p - w + 1):p + 1])
                               for p in range(hist.shape[-1] - n_new, hist.shape[-1])])
            self.history = hist[:, -(w - 1):] if w > 1 else hist[:, :0]
        else:
            stats = self._running_stats(h, pool.kind)
        logits = m.classifier(m.dropout(stats))
        times = score_times(self.emitted + np.arange(n_new), self.model, self.frame_s)
        self.emitted += n_new
        return times, logits.float().numpy()

    def _running_stats(self, h: Tensor, kind: str) -> Tensor:
        """Mean (and std, clamped as `StatsPool` does) over the last W frames (fewer at the
        start) at each new frame, from float64 running sums of x and x^2: each new frame adds
        itself and takes away the frame leaving the window."""
        c, n, w = h.shape[0], h.shape[-1], self.window
        x = h.double()
        x2 = torch.cat([x, x * x])                                   # [2C, n]
        if self.history is None:
            self.history, self.sums = x2[:, :0], x2.new_zeros(2 * c)
        hist = torch.cat([self.history, x2], dim=-1)
        held = self.history.shape[-1]
        delta = x2
        first = max(0, w - held)       # new frames from which one frame leaves the window
        if first < n:
            delta = x2.clone()
            delta[:, first:] -= hist[:, held + first - w:held + n - w]
        sums = self.sums[:, None] + delta.cumsum(-1)
        self.sums, self.history = sums[:, -1], hist[:, -w:]
        count = (self.emitted + torch.arange(1, n + 1)).clamp(max=w).double()
        mean = sums[:c] / count
        if kind == "mean":
            return mean.T.float()
        var = sums[c:] / count - mean * mean
        return torch.cat([mean, var.clamp(min=1e-6).sqrt()]).T.float()


@torch.inference_mode()
def offline_scores(model: nn.Module, frontend: nn.Module, wave: np.ndarray,
                   clip_samples: int, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The scores `StreamScorer` produces, computed in one pass over the whole waveform:
    frontend and trunk over everything, then the model's own pooling and classifier over the
    trailing window of W trunk frames at each frame (in blocks of `block` frames)."""
    check_streamable(model)
    model.eval()
    feats = raw_frontend(frontend)(torch.as_tensor(np.asarray(wave, dtype=np.float32))[None])
    if frontend.cfg.normalize != "none":
        width = frontend.num_frames(clip_samples)
        feats = trailing_normalize(feats[0], width, frontend.cfg.normalize)[None]
    h = model.trunk(feats)[0]
    w = clip_frames(model, frontend, clip_samples)
    logits = [model.classifier(model.pool(h[None, :, :t + 1])) for t in range(min(w - 1, h.shape[-1]))]
    for t0 in range(w - 1, h.shape[-1], block):
        part = h[:, t0 - w + 1:t0 + block]
        logits.append(model.classifier(model.pool(part.unfold(-1, w, 1).permute(1, 0, 2))))
    frame_s = frontend.hop_length / frontend.cfg.sample_rate
    return score_times(np.arange(h.shape[-1]), model, frame_s), torch.cat(logits).float().numpy()


@torch.inference_mode()
def window_scores(model: nn.Module, frontend: nn.Module, wave: np.ndarray, clip_samples: int,
                  hop_samples: int | None = None, batch_size: int = 64
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Sliding-window baseline: every `hop_samples` (default 100 ms at the frontend's rate), the
    clip-long window of audio ending there classified as a training clip (own zero padding, own
    normalisation). Exactly the training conditions, at the cost of a whole clip per step.
    Returns (window end times, logits)."""
    hop_samples = hop_samples or frontend.cfg.sample_rate // 10
    wave = np.asarray(wave, dtype=np.float32)
    padded = np.concatenate([np.zeros(clip_samples - 1, np.float32), wave])
    ends = np.arange(hop_samples, len(wave) + 1, hop_samples)
    logits = []
    for i in range(0, len(ends), batch_size):
        batch = np.stack([padded[e - 1:e - 1 + clip_samples] for e in ends[i:i + batch_size]])
        logits.append(model(frontend(torch.from_numpy(batch))).float())
    sr = frontend.cfg.sample_rate
    return ends / sr, (torch.cat(logits).numpy() if logits else np.zeros((0, 0), np.float32))


def stream_scores(model: nn.Module, frontend: nn.Module, wave: np.ndarray, clip_samples: int,
                  chunk_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scores of `wave` fed to a StreamScorer in chunks of `chunk_samples` (default 100 ms at the
    frontend's rate), then flushed."""
    chunk_samples = chunk_samples or frontend.cfg.sample_rate // 10
    scorer = StreamScorer(model, frontend, clip_samples)
    parts = [scorer.push(wave[i:i + chunk_samples]) for i in range(0, len(wave), chunk_samples)]
    parts.append(scorer.flush())
    times = np.concatenate([t for t, _ in parts])
    logits = np.concatenate([s for t, s in parts if len(t)]) if len(times) else np.zeros((0, 0))
    return times, logits


class EnsembleScorer:
    """`StreamScorer` for an ensemble run (`tdnn.ensemble`): each member scores the stream and
    each frame's score is the weighted sum of their log-softmax outputs, as `LogProbAverage`
    gives for a clip (its softmax is the renormalised weighted geometric mean). The members
    must score at the same times (one frame rate and look-ahead), else UserError."""

    def __init__(self, run):
        self.scorers = [StreamScorer(m.model, m.frontend, m.clip_samples) for m in run.members]
        self.paths = [m.path for m in run.members]
        self.weights = run.model.weights

    def push(self, samples: np.ndarray, final: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Feed samples to every member; times [n] and combined scores [n, C] of new frames."""
        return combine_scores([s.push(samples, final) for s in self.scorers], self.weights,
                              self.paths)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """End of stream for every member."""
        return self.push(np.zeros(0, dtype=np.float32), final=True)


def run_scorer(run) -> "StreamScorer | EnsembleScorer":
    """The chunked scorer of a loaded run: its own, or for an ensemble its members' combined."""
    if run.members:
        return EnsembleScorer(run)
    return StreamScorer(run.model, run.frontend, run.clip_samples)


def combine_scores(parts: list, weights: list[float], paths: list) -> tuple[np.ndarray, np.ndarray]:
    """(times, weighted sum of log-softmax logits) of the members' (times, logits), which must
    hold the same times (UserError naming the member that differs)."""
    times = parts[0][0]
    for path, (t, _) in zip(paths[1:], parts[1:]):
        if len(t) != len(times) or not np.allclose(t, times):
            raise UserError(f"{path}: scores a stream at other times than {paths[0]} (another "
                            "frame rate or look-ahead); a stream ensemble needs members of one "
                            "frontend and model shape")
    if not len(times):
        return parts[0]
    return times, sum(w * log_softmax(logits, axis=-1) for w, (_, logits) in zip(weights, parts))


def run_scores(run, wave: np.ndarray, windowed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a whole stream by `run`: `offline_scores` (or `window_scores`), and for an
    ensemble run its members' combined as `EnsembleScorer` combines them."""
    scorer = window_scores if windowed else offline_scores
    if not run.members:
        return scorer(run.model, run.frontend, wave, run.clip_samples)
    parts = [scorer(m.model, m.frontend, wave, m.clip_samples) for m in run.members]
    return combine_scores(parts, run.model.weights, [m.path for m in run.members])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of numpy logits."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- detection

class Patience:
    """Each class's lowest probability over its last `frames` frames, frames before the stream
    counting as 0: a keyword whose lowest value reaches its threshold has held it that long
    (openWakeWord's `patience`, against one-frame spikes). Stateful, so pieces = one pass."""

    def __init__(self, frames: int):
        if frames < 1:
            raise UserError(f"patience of {frames} frames: use at least one frame")
        self.frames = frames
        self.tail: np.ndarray | None = None  # the last frames - 1 rows seen

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        """The held probabilities of these frames (probs [n, C])."""
        from scipy.ndimage import minimum_filter1d

        w = self.frames
        if w == 1:
            return probs
        if self.tail is None:
            self.tail = np.zeros((w - 1, probs.shape[1]), probs.dtype)
        x = np.concatenate([self.tail, probs])
        self.tail = x[len(x) - (w - 1):]
        # window [i - w + 1, i] for every row i >= w - 1 of x: those rows are the new frames
        return minimum_filter1d(x, w, axis=0, origin=(w - 1) // 2)[w - 1:]


def patience_frames(seconds: float, frame_s: float) -> int:
    """Frames of `frame_s` seconds that make a patience of `seconds` (at least one)."""
    if seconds < 0:
        raise UserError(f"patience {seconds}: use a number of seconds >= 0")
    return max(1, int(round(seconds / frame_s)))


class Detector:
    """Keyword detections from a stream of class probabilities: fires when the most probable
    keyword class (not silence or unknown) reaches its threshold, then that keyword stays silent
    for `refractory` seconds (one utterance fires once; another keyword may still fire).
    `threshold` is one probability for every keyword or a {keyword: probability} map (from a
    thresholds file). With `patience` frames > 1 each class's probability is first its lowest
    over that many frames (`Patience`). Stateful, so feeding the scores in pieces fires exactly
    as feeding them at once."""

    def __init__(self, labels: list[str], threshold: float | dict[str, float] = 0.8,
                 refractory: float = 1.0, patience: int = 1):
        if refractory < 0:
            raise UserError(f"refractory time {refractory}: use a number of seconds >= 0")
        self.patience = Patience(patience)
        self.labels = list(labels)
        self.keywords = np.array([i for i, lab in enumerate(labels)
                                  if lab not in (SILENCE, UNKNOWN)])
        if not len(self.keywords):
            raise UserError("the model has no keyword classes (only silence/unknown)")
        names = [self.labels[k] for k in self.keywords]
        if isinstance(threshold, dict):
            missing = [n for n in names if n not in threshold]
            if missing:
                raise UserError(f"thresholds: no threshold for keyword(s) {', '.join(missing)}")
            values = [float(threshold[n]) for n in names]
        else:
            if not 0.0 < threshold <= 1.0:
                raise UserError(f"threshold {threshold}: use a probability in (0, 1]")
            values = [float(threshold)] * len(names)
        for n, v in zip(names, values):
            if not 0.0 < v <= 1.0:
                raise UserError(f"threshold {v} for '{n}': use a probability in (0, 1]")
        self.thresholds = np.array(values)
        self.refractory = refractory
        self.last_fire = np.full(len(self.keywords), -math.inf)

    def __call__(self, times: np.ndarray, probs: np.ndarray) -> list[Detection]:
        """Detections among these frames (times [n] seconds, probs [n, C])."""
        out = []
        if not len(times):
            return out
        kw = self.patience(probs)[:, self.keywords]
        best = kw.argmax(axis=1)
        best_p = kw[np.arange(len(kw)), best]
        for t, j, p in zip(times, best, best_p):
            if p >= self.thresholds[j] and t - self.last_fire[j] >= self.refractory:
                out.append(Detection(float(t), self.labels[self.keywords[j]], float(p)))
                self.last_fire[j] = t
        return out


def detect(labels: list[str], times: np.ndarray, probs: np.ndarray,
           threshold: float | dict[str, float] = 0.8,
           refractory: float = 1.0, patience: int = 1) -> list[Detection]:
    """Detections over a whole score track (one fresh Detector)."""
    return Detector(labels, threshold, refractory, patience)(times, probs)


# ---------------------------------------------------------------- evaluation on streams

BUDGETS = (0.5, 1.0, 10.0)  # false alarms per hour at which `tdnn stream --eval` reports misses


def score_period(model: nn.Module, frontend: nn.Module, windowed: bool = False) -> float:
    """Seconds between two scores of a stream: a trunk frame (the frame hop times the trunk's
    stride), or the 100 ms step of the `windowed` baseline."""
    return 0.1 if windowed else model.stride * frontend.hop_length / frontend.cfg.sample_rate


def stream_tracks(run, folder: str | Path, windowed: bool = False, patience: float = 0.0,
                  second=None):
    """Score every stream of `folder` (its reference.csv and stream WAVs): the reference events,
    each stream's keyword candidates (`streams.keyword_candidates`, after `patience` seconds of
    `Patience`) and its length in seconds. Scores come from `offline_scores`, which equal the
    chunked ones (or, with `windowed`, from the `window_scores` baseline); an ensemble run's
    are its members' combined (`run_scores`). A `second` stage (`verify.SecondStage`) replaces
    each stream's candidates with its re-scored detections."""
    from . import streams

    folder = Path(folder)
    events = streams.read_reference(folder / streams.REFERENCE)
    files = sorted({e.file for e in events} | {p.name for p in folder.glob("stream_*.wav")})
    keywords = [i for i, lab in enumerate(run.labels) if lab not in (SILENCE, UNKNOWN)]
    lead = run.lead  # an ensemble's members share its framing
    frames = patience_frames(patience, score_period(lead.model, lead.frontend, windowed))
    cands, durations = {}, {}
    for name in files:
        wave = audio.load(folder / name, run.sample_rate)
        durations[name] = len(wave) / run.sample_rate
        times, logits = run_scores(run, wave, windowed)
        held = Patience(frames)(softmax(logits))
        cands[name] = streams.keyword_candidates(times, held, run.labels, keywords)
        if second is not None:
            cands[name] = second(wave, cands[name], run.sample_rate)
    return events, cands, durations


def evaluate_streams(run, folder: str | Path, threshold: float = 0.8, refractory: float = 1.0,
                     tolerance: float = 1.0, windowed: bool = False,
                     budgets: tuple[float, ...] = BUDGETS, given: dict | None = None,
                     patience: float = 0.0, second=None
                     ) -> tuple[dict, dict[str, list[Detection]]]:
    """Detect keywords in the streams of `folder` and score them: counts at one shared
    `threshold`, a DET sweep of shared thresholds, and for each false-alarm budget the
    per-keyword thresholds chosen on these streams with the misses and false alarms they give
    (exact intervals). `given` ({budget: {keyword: threshold}}, from a thresholds file chosen on
    other streams) is scored as well: the honest figures for a test set. `patience`: seconds a
    keyword must hold its threshold (`Patience`); `second`: a second stage (`stream_tracks`).
    Returns (metrics, detections per file: at the first given budget, else
    at `threshold`)."""
    from . import streams

    Detector(run.labels, threshold, refractory)  # checks the options
    events, cands, durations = stream_tracks(run, folder, windowed, patience, second)
    seconds = sum(durations.values())
    negative_s = streams.negative_seconds(events, durations, tolerance)
    labels = [lab for lab in run.labels if lab not in (SILENCE, UNKNOWN)]
    shared = dict.fromkeys(labels, threshold)
    at = streams.score(streams.detections_at(cands, shared, refractory), events, seconds, tolerance)
    sweep = streams.det_sweep(cands, events, seconds, refractory, tolerance)

    def point(ths: dict[str, float]) -> dict:
        dets = streams.detections_at(cands, ths, refractory)
        return {"thresholds": ths, **streams.operating_point(dets, events, negative_s, tolerance)}

    chosen_here = {_key(b): point(streams.choose_thresholds(cands, events, negative_s, b,
                                                            refractory, tolerance))
                   for b in budgets}
    metrics = {"threshold": threshold, "refractory": refractory, "patience": patience,
               "tolerance": tolerance, "streams": len(cands), "keywords": len(events),
               **at.as_dict(),
               "negative_hours": negative_s / 3600.0, "det": streams.det_points(sweep),
               "operating_points": chosen_here}
    if given:
        metrics["given_thresholds"] = {_key(float(b)): point(ths) for b, ths in given.items()}
        first = next(iter(given.values()))
        return metrics, streams.detections_at(cands, first, refractory)
    return metrics, streams.detections_at(cands, shared, refractory)


def _key(budget: float) -> str:
    """A budget as a JSON key: '0.5', '1', '10'."""
    return f"{budget:g}"
