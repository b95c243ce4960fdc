"""What the one trainer (`tdnn.train.fit`) reads: training batches, a validation score, and the
frontend that turns a batch of inputs into frames.

Two sources share that interface:
- `ClipData`: 1 s clips of a Speech Commands-layout corpus, augmented per batch in torch
  (`augment.batch`, drawn from a generator seeded per epoch) or per clip in numpy, turned into
  frames by the torch frontend batch by batch (or, with `data.feature_copies`, frames computed
  once per clip and copy);
- `FeatureData`: features already in memory (the ablation, the phonemes recipe): clip tensors
  [N, D, L] with labels [N], or utterance lists of [D, L_i] with frame labels [L_i] (IGNORE
  where unlabelled), cropped at random to `crop` frames per utterance and epoch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import distributed
from .augment import Augmenter
from .batch_augment import BatchAugmenter
from .config import TrainConfig
from .data import speech_commands as sc
from .errors import UserError
from .evaluate import predict_dataset
from .features import Frontend
from .runs import load_checkpoint, save_checkpoint

log = logging.getLogger("tdnn.train")
IGNORE = -100  # frame label that no loss or score counts (padding, unlabelled frames)
Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class ClipData:
    """Clip datasets of one keyword run; `unknown` indexes the train clips of other words when a
    fresh subset of them (`n_unknown` clips) is drawn every epoch. `frontend` turns a batch of
    inputs (waveforms, or cached frames after `cache`) into frames."""

    labels: list[str]
    train: sc.ClipDataset
    validation: sc.ClipDataset
    frontend: torch.nn.Module
    unknown: list[int] = field(default_factory=list)
    n_unknown: int = 0
    copies: list[torch.utils.data.Dataset] = field(default_factory=list)
    workers: int = 0
    augment: BatchAugmenter | None = None  # applied to each training batch of waveforms

    def epoch_indices(self, seed: int) -> list[int]:
        """Train items of one epoch: all of them, or all but a random draw of unknown clips."""
        if not self.unknown:
            return list(range(len(self.train)))
        others = sorted(set(range(len(self.train))) - set(self.unknown))
        rng = np.random.default_rng(seed)
        drawn = rng.choice(self.unknown, size=min(self.n_unknown, len(self.unknown)), replace=False)
        return others + sorted(int(i) for i in drawn)

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimiser steps of one epoch."""
        return math.ceil(len(self.epoch_indices(0)) / batch_size)

    def batches(self, epoch: int, seed: int, batch_size: int, dinfo) -> Iterator[Batch]:
        """This rank's (inputs, targets) batches of `epoch`, shuffled by `seed`."""
        self.train.set_epoch(epoch)
        train_set = self.copies[epoch % len(self.copies)] if self.copies else self.train
        loader = distributed.rank_loader(
            torch.utils.data.Subset(train_set, self.epoch_indices(seed)), batch_size, dinfo, seed,
            drop_last=False, num_workers=0 if self.copies else self.workers)
        if self.augment is None or self.copies:
            return iter(loader)
        gen = torch.Generator().manual_seed(seed + dinfo.rank)
        return ((self.augment(waves, gen), targets) for waves, targets in loader)

    def cache(self, copies: int, batch_size: int, device, progress: bool = False,
              store: Path | None = None, key: dict | None = None) -> None:
        """Compute the frames of `copies` augmented copies of every training clip and of the
        validation clips once; the frontend becomes the identity (for slow frontends). With
        `store`, each set is also kept there as a file named by a hash of `key` and the clips,
        so a resumed run loads what it computed before instead of computing it again."""
        started = time.perf_counter()
        args = (self.frontend, batch_size, device, self.workers, progress)
        self.copies = [stored_features(self.train, k, (*args, self.augment), store, f"train{k}",
                                       key) for k in range(copies)]
        self.validation = stored_features(self.validation, 0, args, store, "validation", key)
        self.frontend = torch.nn.Identity()
        log.info("features cached: %d copies of %d training clips and %d validation clips in "
                 "%.1f s", copies, len(self.train), len(self.validation),
                 time.perf_counter() - started)

    @torch.no_grad()
    def validate(self, model, batch_size: int, device) -> dict | None:
        """Accuracy and (unsmoothed) cross-entropy on the validation clips (under DDP each rank
        scores its share and the sums are reduced)."""
        dinfo = distributed.info()
        dataset = self.validation
        if dinfo.distributed:
            share = distributed.shard(range(len(dataset)), dinfo.rank, dinfo.world_size)
            dataset = torch.utils.data.Subset(dataset, share)
        probs, targets, errors = predict_dataset(model, self.frontend, dataset, batch_size,
                                                 device, self.train.clip_samples)
        picked = probs[np.arange(len(targets)), targets]
        sums = distributed.reduce_sums({
            "n": len(targets), "errors": len(errors),
            "correct": float((probs.argmax(1) == targets).sum()) if len(targets) else 0.0,
            "nll": float(-np.log(np.clip(picked, 1e-12, None)).sum())}, device)
        if sums["errors"]:
            first = next(iter(errors.values()), "(on another rank)")
            raise UserError(f"{int(sums['errors'])} validation clips unreadable, e.g. {first}")
        return {"accuracy": sums["correct"] / sums["n"], "loss": sums["nll"] / sums["n"]}

    def state_dict(self) -> dict:
        """Nothing to keep: every draw is a function of (seed, epoch, item)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """See `state_dict`."""


def clip_data(cfg: TrainConfig) -> ClipData:
    """Training (augmented) and validation clip datasets of `cfg.data`, with `cfg.frontend`."""
    d = cfg.data
    root = sc.open_corpus(d.root, d.cache_dir or None)
    labels = sc.labels_for_task(d.task)
    noises = sc.load_background_noise(root, cfg.frontend.sample_rate)
    common = dict(task=d.task, seed=cfg.seed, silence_percentage=d.silence_percentage,
                  unknown_percentage=d.unknown_percentage)
    val_root = sc.open_corpus(d.validation_root, d.cache_dir or None) if d.validation_root else root
    val_ex = sc.load_examples(val_root, "validation", **common)
    for extra in d.extra_validation:
        val_ex += sc.load_examples(sc.open_corpus(extra, d.cache_dir or None), "validation",
                                   **common)
    train_share = (d.unknown_percentage if d.train_unknown_percentage is None
                   else d.train_unknown_percentage)
    common["unknown_percentage"] = None if d.resample_unknown and d.task == 12 else train_share
    train_ex = sc.load_examples(root, "train", **common)
    for extra in d.extra_train:
        train_ex += sc.load_examples(sc.open_corpus(extra, d.cache_dir or None), "train", **common)
    sr = cfg.frontend.sample_rate
    per_clip = None if cfg.augment.batch else Augmenter(cfg.augment, noises, sr)
    train = sc.ClipDataset(train_ex, labels, d.clip_samples, noises, sr, augment=per_clip,
                           seed=cfg.seed)
    val = sc.ClipDataset(val_ex, labels, d.clip_samples, noises, cfg.frontend.sample_rate,
                         seed=cfg.seed + 1)
    unknown = ([i for i, ex in enumerate(train_ex) if ex.label == sc.UNKNOWN]
               if d.resample_unknown and d.task == 12 else [])
    n_known = sum(ex.label in sc.WORDS_10 for ex in train_ex)
    return ClipData(labels, train, val, Frontend(cfg.frontend), unknown,
                    math.ceil(n_known * train_share / 100), workers=d.workers,
                    augment=BatchAugmenter(cfg.augment, noises, sr) if cfg.augment.batch else None)


@torch.no_grad()
def cache_features(dataset: sc.ClipDataset, epoch: int, frontend: torch.nn.Module,
                   batch_size: int, device, workers: int = 0, progress: bool = False,
                   augment: BatchAugmenter | None = None) -> torch.utils.data.TensorDataset:
    """(features [D, L], label) of every clip of `dataset` as drawn in `epoch` (and, with
    `augment`, augmented by it from a generator seeded by the dataset's seed and `epoch`),
    computed once."""
    dataset.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         num_workers=workers)
    gen = torch.Generator().manual_seed(
        int(np.random.SeedSequence([dataset.seed, epoch]).generate_state(1)[0]))
    feats, labels = [], []
    for waves, targets in tqdm(loader, desc=f"features (copy {epoch})", leave=False,
                               disable=not progress):
        if augment is not None:
            waves = augment(waves, gen)
        feats.append(frontend(waves.to(device)).cpu())
        labels.append(targets)
    return torch.utils.data.TensorDataset(torch.cat(feats), torch.cat(labels))


def stored_features(dataset: sc.ClipDataset, epoch: int, args: tuple, store: Path | None,
                    name: str, key: dict | None) -> torch.utils.data.TensorDataset:
    """`cache_features(dataset, epoch, *args)`, read from / written to `store` when given: the
    file name holds a hash of `key`, the epoch and the clips, so a change of any makes a new one."""
    if store is None:
        return cache_features(dataset, epoch, *args)
    clips = [(str(ex.path), ex.label) for ex in dataset.examples]
    digest = hashlib.sha256(json.dumps([key, epoch, clips], sort_keys=True, default=str)
                            .encode()).hexdigest()[:16]
    path = Path(store) / f"{name}-{digest}.pt"
    if path.is_file():
        saved = load_checkpoint(path)
        log.info("features of %s read from %s", name, path)
        return torch.utils.data.TensorDataset(saved["feats"], saved["labels"])
    feats = cache_features(dataset, epoch, *args)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"feats": feats.tensors[0], "labels": feats.tensors[1]}, path)
    return feats


class FeatureData:
    """Features in memory: a clip task's `x` [N, D, L] and `y` [N], or a frame task's lists of
    [D, L_i] and [L_i] tensors. Epoch order and crops come from one generator seeded with `seed`,
    kept in the resume checkpoint; `validation` is an (x, y) pair of the same kind, or None."""

    def __init__(self, x, y, labels: Sequence[str] = (), crop: int = 200, seed: int = 0,
                 validation: tuple | None = None):
        self.x, self.y = x, y
        self.frame = isinstance(x, (list, tuple))
        self.labels = list(labels)
        self.crop = int(crop)
        self.gen = torch.Generator().manual_seed(seed)
        self.validation = validation
        self.frontend = torch.nn.Identity()

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimiser steps of one epoch."""
        return -(-len(self.x) // batch_size)

    def batches(self, epoch: int, seed: int, batch_size: int, dinfo) -> Iterator[Batch]:
        """Shuffled batches (under DDP, rank r takes items r, r + N, ... of each global batch)."""
        order = torch.randperm(len(self.x), generator=self.gen)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size][dinfo.rank::dinfo.world_size]
            if self.frame:
                yield crop_batch([self.x[j] for j in idx], [self.y[j] for j in idx], self.crop,
                                 self.gen)
            else:
                yield self.x[idx], self.y[idx]

    @torch.no_grad()
    def validate(self, model, batch_size: int, device) -> dict | None:
        """Accuracy over labelled clips or frames and their mean cross-entropy (None without a
        validation set)."""
        if self.validation is None:
            return None
        x, y = self.validation
        logits = predict_features(model, x, batch_size)
        if self.frame:
            logits = np.concatenate(logits, axis=1).T
            y = torch.cat(list(y))
        scores, y = torch.from_numpy(logits), torch.as_tensor(y)
        keep = y != IGNORE
        loss = torch.nn.functional.cross_entropy(scores[keep], y[keep])
        return {"accuracy": float((scores[keep].argmax(1) == y[keep]).float().mean()),
                "loss": float(loss)}

    def state_dict(self) -> dict:
        """The generator's state, so a resumed run draws the orders and crops it would have."""
        return {"generator": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` saved."""
        self.gen.set_state(state["generator"])


def crop_batch(feats: Sequence[torch.Tensor], labels: Sequence[torch.Tensor], crop: int,
               gen: torch.Generator | None) -> Batch:
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


@torch.no_grad()
def predict_features(model: torch.nn.Module, x, batch_size: int = 64):
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
