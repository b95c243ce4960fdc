"""Training a keyword spotter for streams: the scores a streaming detector sees at every frame,
and losses over time on them.

A clip-head model on a stream scores, at each frame, the clip head over the trailing window of
W trunk frames (`inference.StreamScorer`); `window_logits` computes those scores for a whole
training segment at once, so training sees exactly what detection sees. Frame targets say what
each window should do: a keyword index (fire this keyword here), NEG (no keyword may fire:
the window holds no keyword, or only part of one) or IGNORE (either is fine: the keyword is
being spoken, or it was heard a while ago).

Losses (`TrainConfig.loss`):
- `maxpool` -- the max-pooling loss of wekws (Hou et al., 2021), a pooling of the loss over
  time, not of the layers: per segment, -log of the keyword's highest posterior over the frames
  where it should fire, and for every keyword, -log(1 - its highest posterior over the frames
  where none may fire) -- only the best and the worst frame of a segment count;
- `window_ce` -- cross-entropy on every labelled window (NEG windows as `_unknown_`): the same
  data seen as independent clips, the control for `maxpool`.

`stream_data` cuts training segments from streams of `tdnn prepare kws-streams --voices train`;
`mine` adds copies of the stretches where a model (the run training starts from) raises a false
alarm: hard-negative mining, as wake-word trainers do with false accepts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import audio
from .data import speech_commands as sc
from .errors import ConfigError, LayoutError
from .streams import read_reference, REFERENCE
from .train_data import IGNORE, FeatureData

log = logging.getLogger("tdnn.train")
NEG = -1  # frame target: no keyword may fire in this window
HIT = 1.0  # seconds after its end that a detection still hits it (tdnn.streams tolerance)
SEGMENT = (0.25, 0.15)  # random extra seconds before / after a keyword's training segment
CHUNK_S = 5.0  # streams are cut into chunks of this many seconds; crops are drawn from them
MINE_P = 0.5  # a keyword posterior this high where none may fire is a false alarm to mine
MINE_MARGIN = 20  # frames kept after a mined false alarm, and before its trailing window


def window_logits(model, x: Tensor, width: int) -> Tensor:
    """Clip-head logits over the trailing window of `width` trunk frames (fewer at the start)
    at every trunk frame: [B, D, L] -> [B, C, L'] -- `inference.offline_scores` for a batch."""
    h = model.trunk(x)
    if model.pool.kind == "attention":
        raise ConfigError("option 'loss': detection losses need model.stats mean or meanstd")
    hd = h.double()
    count = torch.arange(1, hd.shape[-1] + 1, device=h.device).clamp(max=width).double()
    mean = trailing_sums(hd, width) / count
    stats = mean
    if model.pool.kind == "meanstd":
        var = trailing_sums(hd * hd, width) / count - mean * mean
        stats = torch.cat([mean, var.clamp(min=1e-6).sqrt()], dim=1)
    stats = stats.to(h.dtype).transpose(1, 2)                        # [B, L', 2D]
    return model.classifier(model.dropout(stats)).transpose(1, 2)


def trailing_sums(x: Tensor, width: int) -> Tensor:
    """Sum over the last `width` frames (fewer at the start) at every frame of x [..., L]."""
    sums = x.cumsum(-1)
    return sums - F.pad(sums, (width, 0))[..., :x.shape[-1]]


def detection_loss(kind: str, logits: Tensor, targets: Tensor, keywords: list[int],
                   unknown: int, width: int, smoothing: float = 0.0) -> tuple[Tensor, int, int]:
    """(loss, items right, items counted) of a batch of window logits [B, C, L] and frame
    targets [B, L]. Windows of fewer than `width` frames (a segment's start) do not count.

    An item is right when every keyword it should fire reaches 0.5 in its frames and no
    keyword reaches 0.5 where none may fire."""
    targets = targets.clone()
    targets[:, :width - 1] = IGNORE
    p = logits.float().softmax(1)
    pos, neg = targets >= 0, targets == NEG
    p_target = p.gather(1, targets.clamp(min=0)[:, None]).squeeze(1)         # [B, L]
    best = torch.where(pos, p_target, torch.zeros_like(p_target)).amax(1)    # [B]
    p_kw = p[:, keywords]                                                    # [B, K, L]
    worst = torch.where(neg[:, None], p_kw, torch.zeros_like(p_kw)).amax(2)  # [B, K]
    has_pos, has_neg = pos.any(1), neg.any(1)
    right = (~has_pos | (best >= 0.5)) & (~has_neg | (worst.amax(1) < 0.5))
    counted = has_pos | has_neg
    if kind == "maxpool":
        pos_loss = -torch.log(best[has_pos].clamp(min=1e-7)).sum()
        neg_loss = -torch.log1p(-worst[has_neg].clamp(max=1 - 1e-7)).sum()
        loss = (pos_loss + neg_loss) / max(1, int(counted.sum()))
    elif kind == "window_ce":
        cls = torch.where(neg, torch.full_like(targets, unknown), targets)
        loss = F.cross_entropy(logits.float(), cls, ignore_index=IGNORE,
                               label_smoothing=smoothing)
    else:
        raise ConfigError(f"option 'loss': unknown detection loss {kind!r}")
    return loss, int((right & counted).sum()), int(counted.sum())


def frame_targets(n_frames: int, events: list, labels: list[str], frame_s: float,
                  fire: tuple[float, float]) -> np.ndarray:
    """Targets of a stream's frames (frame t is the window ending at t * frame_s seconds):
    NEG everywhere, IGNORE from each keyword's start to HIT s after its end, its index from
    fire[0] to fire[1] s after its end."""
    t = np.full(n_frames, NEG, dtype=np.int64)
    idx = lambda s: int(np.clip(round(s / frame_s), 0, n_frames))  # noqa: E731
    for e in events:
        t[idx(e.start):idx(e.end + HIT)] = IGNORE
    for e in events:
        t[idx(e.end + fire[0]):idx(e.end + fire[1])] = labels.index(e.label)
    return t


class StreamData(FeatureData):
    """Training segments of streams for a detection loss: keyword segments (the trailing
    window before each keyword's firing frames, plus a random margin) and the streams cut into
    CHUNK_S chunks from which each epoch draws random crops. `window` is the clip head's width
    in frames; `keywords` and `unknown` index the labels."""

    def __init__(self, x, y, labels, crop: int, seed: int, window: int,
                 chunks: list[int] | None = None):
        super().__init__(x, y, labels, crop=crop, seed=seed)
        self.window = window
        self.keywords = [labels.index(w) for w in sc.WORDS_10]
        self.unknown = labels.index(sc.UNKNOWN)
        self.chunks = list(range(len(x))) if chunks is None else chunks  # whole-stream cover


@torch.no_grad()
def false_alarms(model, x: Tensor, target: Tensor, keywords: list[int], width: int) -> list[int]:
    """Frames of one segment x [D, L] where a keyword reaches MINE_P although none may fire
    (target NEG): the highest first, each kept at least `width` frames from those before it."""
    p = window_logits(model, x[None], width)[0].float().softmax(0)[keywords].amax(0)   # [L]
    p[:width - 1] = 0.0                      # windows not yet full are not scored (detection_loss)
    p[target != NEG] = 0.0
    frames = []
    for t in torch.argsort(p, descending=True).tolist():
        if p[t] < MINE_P:
            break
        if all(abs(t - f) >= width for f in frames):
            frames.append(t)
    return sorted(frames)


def mine(data: StreamData, model, copies: int) -> int:
    """Add `copies` copies of the stretch around every false alarm of `model` on the streams
    (the trailing window before it, MINE_MARGIN frames either side) to `data`; how many."""
    was_training = model.training
    model.eval()
    found = []
    for i in data.chunks:
        x, y = data.x[i], data.y[i]
        for t in false_alarms(model, x, y, data.keywords, data.window):
            a, b = max(0, t - data.window + 1 - MINE_MARGIN), min(x.shape[-1], t + MINE_MARGIN + 1)
            found.append((x[:, a:b], y[a:b]))
    model.train(was_training)
    for x, y in found:
        data.x += [x] * copies
        data.y += [y] * copies
    log.info("hard negatives: %d false alarms of the init model on the training streams, %d "
             "copies each added", len(found), copies)
    return len(found)


def stream_data(folders: list[str], frontend, labels: list[str], window: int, seed: int,
                fire: tuple[float, float]) -> StreamData:
    """StreamData from stream folders (WAV files + reference.csv), features by `frontend`
    (no per-utterance normalisation: a stream has no utterance); keywords fire from fire[0] to
    fire[1] s after their end (`frame_targets`)."""
    if frontend.cfg.normalize != "none":
        raise ConfigError("option 'frontend.normalize': detection losses train a streaming "
                          "model; use frontend.normalize=none")
    rng = np.random.default_rng(seed)
    frame_s = frontend.hop_length / frontend.cfg.sample_rate
    pre, post = (window - 1) * frame_s - fire[0], fire[1]
    xs, ys, chunks, n_kw, longest = [], [], [], 0, window + 50
    for folder in map(Path, folders):
        events = read_reference(folder / REFERENCE)
        files = sorted({e.file for e in events} | {p.name for p in folder.glob("*.wav")})
        if not files:
            raise LayoutError(f"{folder}: no streams; build them with `tdnn prepare kws-streams "
                              "--voices train`")
        for name in files:
            wave = audio.load(folder / name, frontend.cfg.sample_rate)
            with torch.no_grad():
                feats = frontend(torch.from_numpy(wave)[None])[0]
            own = [e for e in events if e.file == name]
            target = torch.from_numpy(frame_targets(feats.shape[-1], own, labels, frame_s, fire))
            for e in own:
                a = round((e.end - pre - rng.uniform(0, SEGMENT[0])) / frame_s)
                b = round((e.end + post + rng.uniform(0, SEGMENT[1])) / frame_s)
                if a >= 0 and b <= feats.shape[-1]:
                    xs.append(feats[:, a:b].clone())
                    ys.append(target[a:b].clone())
                    n_kw, longest = n_kw + 1, max(longest, b - a)
            step = round(CHUNK_S / frame_s)
            for a in range(0, feats.shape[-1] - window, step):
                chunks.append(len(xs))
                xs.append(feats[:, a:a + step].clone())
                ys.append(target[a:a + step].clone())
    log.info("stream training: %d keyword segments and %d chunks of %.0f s from %s",
             n_kw, len(xs) - n_kw, CHUNK_S, json.dumps([str(f) for f in folders]))
    return StreamData(xs, ys, labels, crop=longest, seed=seed, window=window, chunks=chunks)
