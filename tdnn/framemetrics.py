"""Frame-level phone metrics: frame accuracy, phone error rate, boundary precision/recall.

A frame task predicts one phone label per frame. Three views of how good that is:
- frame accuracy: the share of frames whose label is right;
- phone error rate (PER): collapse runs of equal labels into a phone string, then
  (substitutions + deletions + insertions) / reference length, by Levenshtein edit distance;
- boundaries: frame indices where the label changes, matched one-to-one to the reference
  boundaries within a tolerance of ±t frames, giving precision, recall and F1 per tolerance.
Pooling in time is expected to hurt the last one first: it blurs *when* a phone changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def frame_accuracy(pred: np.ndarray, ref: np.ndarray, ignore: int | None = None) -> float:
    """Share of frames where `pred == ref` (frames whose reference is `ignore` are skipped)."""
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"pred shape {pred.shape} != ref shape {ref.shape}")
    keep = np.ones(ref.shape, bool) if ignore is None else ref != ignore
    n = int(keep.sum())
    return float((pred[keep] == ref[keep]).sum() / n) if n else float("nan")


def collapse(labels: Sequence) -> list:
    """Merge runs of equal consecutive labels: [a, a, b, b, a] -> [a, b, a]."""
    out: list = []
    for x in labels:
        x = x.item() if hasattr(x, "item") else x
        if not out or out[-1] != x:
            out.append(x)
    return out


def edit_distance(hyp: Sequence, ref: Sequence) -> int:
    """Levenshtein distance (unit cost substitution, insertion, deletion) between two sequences."""
    prev = list(range(len(ref) + 1))
    for i, h in enumerate(hyp, 1):
        cur = [i] + [0] * len(ref)
        for j, r in enumerate(ref, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (h != r))
        prev = cur
    return prev[-1]


def phone_errors(pred: Sequence, ref: Sequence) -> tuple[int, int]:
    """(edit distance, reference length) between the collapsed phone strings of two frame labellings."""
    hyp, target = collapse(pred), collapse(ref)
    return edit_distance(hyp, target), len(target)


def phone_error_rate(preds: Sequence[Sequence], refs: Sequence[Sequence]) -> float:
    """Corpus PER: summed edit distances over summed reference lengths (after collapsing repeats)."""
    errors = total = 0
    for p, r in zip(preds, refs, strict=True):
        e, n = phone_errors(p, r)
        errors, total = errors + e, total + n
    return errors / total if total else float("nan")


def boundaries(labels: Sequence) -> np.ndarray:
    """Frame indices i where labels[i] != labels[i-1] (the first frame of each new phone)."""
    labels = np.asarray(labels)
    return np.flatnonzero(labels[1:] != labels[:-1]) + 1


def match_boundaries(pred: np.ndarray, ref: np.ndarray, tolerance: int) -> int:
    """Number of one-to-one matches between predicted and reference boundary frames within ±tolerance.

    Pairs are taken closest first, so each reference boundary is claimed by at most one
    prediction and vice versa.
    """
    pairs = sorted((abs(int(p) - int(r)), i, j) for i, p in enumerate(pred)
                   for j, r in enumerate(ref) if abs(int(p) - int(r)) <= tolerance)
    used_p, used_r, hits = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
            hits += 1
    return hits


def boundary_scores(preds: Sequence[Sequence], refs: Sequence[Sequence],
                    tolerances: Sequence[int] = (1, 2, 3)) -> dict[int, dict[str, float]]:
    """Boundary precision, recall and F1 per tolerance (in frames), pooled over utterances."""
    counts = {t: [0, 0, 0] for t in tolerances}  # hits, n_pred, n_ref
    for p, r in zip(preds, refs, strict=True):
        bp, br = boundaries(p), boundaries(r)
        for t in tolerances:
            c = counts[t]
            c[0] += match_boundaries(bp, br, t)
            c[1] += len(bp)
            c[2] += len(br)
    out = {}
    for t, (hits, n_pred, n_ref) in counts.items():
        precision = hits / n_pred if n_pred else float("nan")
        recall = hits / n_ref if n_ref else float("nan")
        f1 = (2 * precision * recall / (precision + recall)
              if n_pred and n_ref and precision + recall > 0 else 0.0)
        out[t] = {"precision": precision, "recall": recall, "f1": f1}
    return out


def smoothed_labels(posteriors: np.ndarray, width: int = 5) -> np.ndarray:
    """Argmax per frame after a centred moving average of width `width` over the posteriors [C, L].

    Frame classifiers flicker (one-frame runs of a wrong phone), and every flicker costs PER
    and boundary precision; averaging the posteriors over a few frames is the cheapest decoder
    and is applied alike to every model it compares.
    """
    from scipy.ndimage import uniform_filter1d
    return uniform_filter1d(np.asarray(posteriors, float), width, axis=-1, mode="nearest").argmax(0)


def frame_report(preds: Sequence[Sequence], refs: Sequence[Sequence],
                 tolerances: Sequence[int] = (1, 2, 3)) -> dict:
    """All frame metrics at once, as a JSON-ready dict (keys: frame_accuracy, per, boundary)."""
    flat_p = np.concatenate([np.asarray(p) for p in preds])
    flat_r = np.concatenate([np.asarray(r) for r in refs])
    return {
        "frame_accuracy": frame_accuracy(flat_p, flat_r),
        "per": phone_error_rate(preds, refs),
        "boundary": {f"pm{t}": v for t, v in boundary_scores(preds, refs, tolerances).items()},
    }


def logits_report(logits: Sequence[np.ndarray], refs: Sequence[Sequence], smooth: int = 5
                  ) -> tuple[dict, dict, list[np.ndarray]]:
    """`frame_report` of per-utterance logits [C, L_i] read raw (argmax per frame) and smoothed
    (posteriors averaged over `smooth` frames first), and the posteriors [C, L_i] themselves."""
    posts = []
    for lg in logits:
        e = np.exp(lg - lg.max(0, keepdims=True))
        posts.append(e / e.sum(0, keepdims=True))
    raw = frame_report([p.argmax(0) for p in posts], refs)
    return raw, frame_report([smoothed_labels(p, smooth) for p in posts], refs), posts
