"""Timing probes: does a model keep *when* and *in what order* phones happen?

- jitter: move one phone segment of the input by ±1..±4 frames (its neighbour stretches into the
  gap it leaves, the other neighbour shrinks) and measure how much the prediction changes;
- order: accuracy and confusion among minimal-pair words (same phones, different order), where
  a model blind to order can only score chance;
- boundary blur: a frame model's phone posteriors on either side of a phone boundary, averaged
  over boundaries, and how many frames the transition smears over.
Models are any `nn.Module` mapping features [B, D, L] to clip logits [B, C] or frame logits
[B, C, L]; segments are [start, end) frame spans.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def shift_index(length: int, start: int, end: int, shift: int) -> np.ndarray:
    """Source frame for each output frame when segment [start, end) moves by `shift` frames.

    Frames the segment vacates repeat the neighbouring frame on that side (the neighbour
    stretches); frames it moves onto are overwritten (the other neighbour shrinks). Frames
    pushed past either end of the utterance are dropped.
    """
    if not 0 <= start < end <= length:
        raise ValueError(f"segment [{start}, {end}) is not inside {length} frames")
    src = np.arange(length)
    if shift > 0:
        src[start:min(start + shift, length)] = max(start - 1, 0)
    elif shift < 0:
        src[max(end + shift, 0):end] = min(end, length - 1)
    lo, hi = max(start + shift, 0), min(end + shift, length)
    src[lo:hi] = np.arange(lo, hi) - shift
    return src


def shift_segment(feats: torch.Tensor, start: int, end: int, shift: int) -> torch.Tensor:
    """Features [D, L] (or [B, D, L]) with frames [start, end) moved by `shift` (see shift_index)."""
    idx = torch.as_tensor(shift_index(feats.shape[-1], start, end, shift))
    return feats.index_select(-1, idx)


def shift_labels(labels: np.ndarray, start: int, end: int, shift: int) -> np.ndarray:
    """Frame labels moved the same way as `shift_segment` moves the features."""
    return np.asarray(labels)[shift_index(len(labels), start, end, shift)]


@torch.no_grad()
def _logits(model: torch.nn.Module, feats: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Model outputs in eval mode, in batches."""
    model.eval()
    return torch.cat([model(feats[i:i + batch_size]) for i in range(0, len(feats), batch_size)])


def jitter_items(model: torch.nn.Module, feats: torch.Tensor, segments: Sequence[tuple[int, int]],
                 shifts: Sequence[int], labels: torch.Tensor | None = None) -> dict[int, dict]:
    """Per input, per shift: `changed` (share of its argmax outputs - 1 for a clip, L for a
    frame head - that differ from the unshifted input's), `tvd` (mean total-variation distance
    of the softmax) and, with clip `labels`, `correct` (the shifted input is classified right)."""
    base = _logits(model, feats)
    p0 = base.softmax(1)
    out = {}
    for k in shifts:
        moved = torch.stack([shift_segment(f, s, e, k) for f, (s, e) in zip(feats, segments)])
        logits = _logits(model, moved)
        p = logits.softmax(1)
        diff = (logits.argmax(1) != base.argmax(1)).float()
        tvd = 0.5 * (p - p0).abs().sum(1)
        row = {"changed": diff.reshape(len(feats), -1).mean(1).numpy(),
               "tvd": tvd.reshape(len(feats), -1).mean(1).numpy()}
        if labels is not None and logits.dim() == 2:
            row["correct"] = (logits.argmax(1) == labels).float().numpy()
        out[k] = row
    return out


def jitter_probe(model: torch.nn.Module, feats: torch.Tensor, segments: Sequence[tuple[int, int]],
                 shifts: Sequence[int] = (-4, -3, -2, -1, 0, 1, 2, 3, 4),
                 labels: torch.Tensor | None = None) -> dict[int, dict[str, float]]:
    """Prediction change when one segment per input (`segments[i]` for feats[i]) moves by each shift.

    Per shift: `changed` = share of clips (or frames, for a frame head) whose argmax differs
    from the unshifted input's; `tvd` = mean total-variation distance between the two softmax
    distributions. With clip `labels` also `accuracy` on the shifted inputs.
    """
    items = jitter_items(model, feats, segments, shifts, labels)
    out = {}
    for k, row in items.items():
        out[k] = {"changed": float(row["changed"].mean()), "tvd": float(row["tvd"].mean())}
        if "correct" in row:
            out[k]["accuracy"] = float(row["correct"].mean())
    return out


@torch.no_grad()
def follow_probe(model: torch.nn.Module, feats: torch.Tensor, labels: np.ndarray,
                 segment: tuple[int, int], shifts: Sequence[int]) -> dict[int, float]:
    """Frame head: after moving `segment` of one utterance (feats [D, L], labels [L]) by k frames,
    the share of frames whose reference label the move changed that the model now labels with
    the new (moved) label: 1.0 = the prediction tracks the phone, 0.0 = it stays put.

    A shift that changes no frame's label gives NaN.
    """
    model.eval()
    out = {}
    for k in shifts:
        new = shift_labels(labels, *segment, k)
        changed = new != np.asarray(labels)
        if not changed.any():
            out[k] = float("nan")
            continue
        pred = model(shift_segment(feats, *segment, k)[None])[0].argmax(0).numpy()
        out[k] = float((pred[changed] == new[changed]).mean())
    return out


def set_correct(logits: torch.Tensor | np.ndarray, labels: Sequence[int],
                groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Per clip: 1.0 when the true word wins among its own minimal-pair set's words (argmax,
    first member on ties), 0.0 when not, NaN for a clip whose word is in no set."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    out = np.full(len(labels), np.nan)
    for group in groups:
        group = list(group)
        sel = np.isin(labels, group)
        pred = np.asarray(group)[np.argmax(logits[sel][:, group], axis=1)]
        out[sel] = (pred == labels[sel]).astype(float)
    return out


def short_phone_mask(labels: np.ndarray, max_len: int) -> np.ndarray:
    """Frames that belong to a run of one label lasting at most `max_len` frames."""
    lab = np.asarray(labels)
    edges = np.concatenate([[0], np.flatnonzero(lab[1:] != lab[:-1]) + 1, [len(lab)]])
    mask = np.zeros(len(lab), bool)
    for a, b in zip(edges[:-1], edges[1:]):
        mask[a:b] = b - a <= max_len
    return mask


def block_majority(labels: np.ndarray, stride: int) -> np.ndarray:
    """The best labels a head that repeats each output `stride` times can give: every block
    [t*stride, (t+1)*stride) gets its most frequent reference label (lowest on ties)."""
    lab = np.asarray(labels)
    out = lab.copy()
    for a in range(0, len(lab), stride):
        block = lab[a:a + stride]
        values, counts = np.unique(block, return_counts=True)
        out[a:a + stride] = values[np.argmax(counts)]
    return out


def set_scores(logits: torch.Tensor | np.ndarray, labels: Sequence[int],
               groups: Sequence[Sequence[int]]) -> dict:
    """Order probe: accuracy among the members of each minimal-pair set.

    For a clip whose true class is in a set, only that set's logits compete (argmax, first
    member on ties). Returns `accuracy` (over all such clips), `chance` (mean 1/|set| over the
    same clips), and per set its `accuracy` and `confusion` (rows true, columns predicted, in
    set order).
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    hits = total = 0
    chance = 0.0
    per_set = []
    for group in groups:
        group = list(group)
        cm = np.zeros((len(group), len(group)), dtype=int)
        for row, cls in enumerate(group):
            sel = labels == cls
            if sel.any():
                pred = np.argmax(logits[sel][:, group], axis=1)
                cm[row] += np.bincount(pred, minlength=len(group))
        n = int(cm.sum())
        hits += int(np.trace(cm))
        total += n
        chance += n / len(group)
        per_set.append({"classes": group, "confusion": cm.tolist(),
                        "accuracy": float(np.trace(cm) / n) if n else float("nan")})
    return {"accuracy": hits / total if total else float("nan"),
            "chance": chance / total if total else float("nan"), "sets": per_set}


def boundary_posteriors(posteriors: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                        window: int = 6, min_len: int | None = None,
                        short: int | None = None) -> dict:
    """Mean posterior of the left and of the right phone at offsets -window..window-1 of each boundary.

    `posteriors[i]` is [C, L] (softmax over classes per frame), `labels[i]` is [L]. A boundary
    at frame b (labels[b-1] != labels[b]) is used when both phones last at least `min_len`
    frames (default `window`) so the window sees one boundary only; with `short`, only boundaries
    next to a phone of at most `short` frames (where narrow pooling would blur). Returns `offsets`, `left`,
    `right`, `n` (boundaries used), `crossing` (first offset where right > left; 0 is exact)
    and `transition` (mean number of offsets per boundary where neither phone reaches 0.5).
    """
    min_len = window if min_len is None else min_len
    lefts, rights = [], []
    for post, lab in zip(posteriors, labels):
        post, lab = np.asarray(post), np.asarray(lab)
        change = np.flatnonzero(lab[1:] != lab[:-1]) + 1
        edges = np.concatenate([[0], change, [len(lab)]])
        for j, b in enumerate(change):
            before, after = b - edges[j], edges[j + 2] - b
            if before < min_len or after < min_len or b - window < 0 or b + window > len(lab):
                continue
            if short is not None and min(before, after) > short:
                continue
            span = slice(b - window, b + window)
            lefts.append(post[lab[b - 1], span])
            rights.append(post[lab[b], span])
    offsets = np.arange(-window, window)
    if not lefts:
        nan = np.full(len(offsets), np.nan)
        return {"offsets": offsets, "left": nan, "right": nan, "n": 0,
                "crossing": float("nan"), "transition": float("nan")}
    lefts, rights = np.stack(lefts), np.stack(rights)
    left, right = lefts.mean(0), rights.mean(0)
    above = np.flatnonzero(right > left)
    return {"offsets": offsets, "left": left, "right": right, "n": len(lefts),
            "crossing": float(offsets[above[0]]) if len(above) else float("nan"),
            "transition": float(((lefts < 0.5) & (rights < 0.5)).sum(1).mean())}
