"""Training and prediction on features computed once and held in memory (clip or frame labels).

The ablation trains dozens of small models on the same data; recomputing features per epoch (as
`tdnn.train` does, to augment waveforms) would cost more than the models. Here features are
tensors: clip tasks use `x` [N, D, L] with `y` [N]; frame tasks use lists of [D, L_i] and
[L_i] (labels -100 are ignored). The loop is the plain one: AdamW, one-cycle learning rate,
cross-entropy, gradient clipping. Same seed and data give the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .layers import constrain_

IGNORE = -100


@dataclass
class FitConfig:
    """How one model is trained on cached features."""
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3                 # peak of the one-cycle schedule
    weight_decay: float = 1e-2
    label_smoothing: float = 0.0
    clip_grad: float = 5.0
    crop: int = 200                  # frame tasks: training crops of this many frames


def _frame_batch(feats: Sequence[torch.Tensor], labels: Sequence[torch.Tensor], crop: int,
                 gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack utterances into [B, D, crop] / [B, crop]: random crops (gen) or the first frames,
    zero-padded features and IGNORE-padded labels."""
    xb = feats[0].new_zeros(len(feats), feats[0].shape[0], crop)
    yb = torch.full((len(feats), crop), IGNORE, dtype=torch.long)
    for i, (x, y) in enumerate(zip(feats, labels)):
        n = x.shape[-1]
        start = int(torch.randint(0, n - crop + 1, (1,), generator=gen)) if n > crop and gen else 0
        seg = slice(start, start + min(crop, n))
        xb[i, :, :seg.stop - seg.start] = x[:, seg]
        yb[i, :seg.stop - seg.start] = y[seg]
    return xb, yb


def fit(model: torch.nn.Module, x, y, cfg: FitConfig, seed: int = 0) -> list[float]:
    """Train `model` in place; returns the mean training loss of each epoch.

    `x`, `y`: a clip task's tensors [N, D, L] and [N], or a frame task's lists of [D, L_i] and
    [L_i] tensors (cropped to `cfg.crop` frames per utterance each epoch).
    """
    frame = isinstance(x, (list, tuple))
    n = len(x)
    gen = torch.Generator().manual_seed(seed)
    steps = cfg.epochs * -(-n // cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, steps),
                                                pct_start=0.2)
    losses = []
    for _ in range(cfg.epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if frame:
                xb, yb = _frame_batch([x[j] for j in idx], [y[j] for j in idx], cfg.crop, gen)
            else:
                xb, yb = x[idx], y[idx]
            loss = F.cross_entropy(model(xb), yb, ignore_index=IGNORE,
                                   label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            opt.step()
            sched.step()
            constrain_(model)  # TDNN-F factors back towards semi-orthogonal (no-op otherwise)
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    return losses


@torch.no_grad()
def predict(model: torch.nn.Module, x, batch_size: int = 64):
    """Logits in eval mode: [N, C] for a clip tensor, a list of [C, L_i] arrays for a frame list.

    Utterances of a frame task are run one at a time, so no padding touches their edges.
    """
    model.eval()
    if isinstance(x, (list, tuple)):
        return [model(u[None])[0].numpy() for u in x]
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def accuracy(logits: np.ndarray, y) -> float:
    """Share of argmax predictions equal to the labels."""
    return float((np.asarray(logits).argmax(1) == np.asarray(y)).mean())
