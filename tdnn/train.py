"""Training of clip classifiers (keyword spotting) with the loop in plain sight.

Waveforms are read and augmented per clip (in the Dataset), turned into frames in batches by the
torch frontend, then scanned by the model. AdamW with warm-up + cosine (or one-cycle) learning
rates, label smoothing, gradient clipping, early stopping on validation accuracy, the best
checkpoint kept as `model.pt`. Every random draw is a function of (seed, epoch, item), and the
state at each epoch end is saved in `last.pt`, so a resumed run repeats exactly what an
uninterrupted one would have done.

With `data.feature_copies = N > 0` the frontend runs once per clip and copy instead of once per
clip and epoch: before training, every training clip is augmented as in epochs 0..N-1 and its
features kept (epoch e trains on copy e mod N), and the validation features are kept too. That
is for slow frontends (speech_embedding through ONNX Runtime costs ~25-36 ms per 1 s clip,
log-mel ~0.2 ms); SpecAugment still draws fresh masks every epoch.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import config as config_mod
from .config import (AugmentConfig, DataConfig, OptimConfig,  # noqa: F401 (re-exported)
                     ScheduleConfig, TrainConfig)
from . import distributed
from . import plots
from .augment import Augmenter, spec_augment
from .data import speech_commands as sc
from .errors import ConfigError, UserError
from .evaluate import predict_dataset
from .features import Frontend
from .layers import constrain_
from .models import build_model, resolve_config
from .runs import BEST, CONFIG, LAST, LOG, METRICS, load_checkpoint, save_checkpoint, write_json

log = logging.getLogger("tdnn.train")
MAX_SEED = 2**32 - 1  # numpy and torch both accept seeds in 0..2**32-1
MAX_CLIP_SECONDS = 60  # a training clip is a keyword, not a recording
MAX_LR = 100.0  # larger rates only diverge (and overflow AdamW's float32 step size)


def check_config(cfg: TrainConfig) -> None:
    """Reject values that cannot train, naming the option (ConfigError)."""
    def bad(option, why):
        raise ConfigError(f"option {option!r}: {why}")

    if not 0 <= cfg.seed <= MAX_SEED:
        bad("seed", f"must be in 0..{MAX_SEED}, got {cfg.seed}")
    if cfg.epochs < 1:
        bad("epochs", f"must be >= 1, got {cfg.epochs}")
    if cfg.batch_size < 1 or cfg.eval_batch_size < 1:
        bad("batch_size", "batch sizes must be >= 1")
    if cfg.patience < 0:
        bad("patience", "must be >= 0 (0 turns early stopping off)")
    if cfg.threads < 1:
        bad("threads", "must be >= 1")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        bad("device", "cuda asked for but no GPU is available; use auto or cpu")
    if not 0 < cfg.optim.lr <= MAX_LR:
        bad("optim.lr", f"must be in (0, {MAX_LR:g}], got {cfg.optim.lr}")
    if cfg.optim.weight_decay < 0:
        bad("optim.weight_decay", "must be >= 0")
    if not 0 <= cfg.optim.label_smoothing < 1:
        bad("optim.label_smoothing", "must be in [0, 1)")
    if cfg.optim.grad_clip < 0:
        bad("optim.grad_clip", "must be >= 0 (0 turns clipping off)")
    if not all(0 <= b < 1 for b in cfg.optim.betas):
        bad("optim.betas", "both must be in [0, 1)")
    if not 0 <= cfg.schedule.warmup < 1:
        bad("schedule.warmup", "must be a share of the steps in [0, 1)")
    if not 0 <= cfg.schedule.final_lr <= 1:
        bad("schedule.final_lr", "must be a share of optim.lr in [0, 1]")
    if cfg.data.task not in (12, 35):
        bad("data.task", f"must be 12 or 35, got {cfg.data.task}")
    if cfg.data.clip_samples < cfg.frontend.sample_rate // 10:
        bad("data.clip_samples", "must hold at least 0.1 s of audio")
    if cfg.data.clip_samples > MAX_CLIP_SECONDS * cfg.frontend.sample_rate:
        bad("data.clip_samples", f"must hold at most {MAX_CLIP_SECONDS} s of audio, got "
            f"{cfg.data.clip_samples} samples")
    if cfg.data.silence_percentage < 0 or cfg.data.unknown_percentage < 0:
        bad("data.silence_percentage/unknown_percentage", "must be >= 0")
    if cfg.data.workers < 0:
        bad("data.workers", "must be >= 0")
    if cfg.data.feature_copies < 0:
        bad("data.feature_copies", "must be >= 0 (0 computes features on the fly every epoch)")
    if not cfg.data.root:
        bad("data.root", "no corpus given; set data.root=DIR (a Speech Commands-layout folder)")


def lr_at(step: int, total: int, cfg: ScheduleConfig) -> float:
    """Learning-rate multiplier (of optim.lr) at optimiser step `step` of `total`."""
    if cfg.kind == "constant":
        return 1.0
    warm = max(1, int(cfg.warmup * total))
    if cfg.kind == "onecycle":
        start = 1 / 25  # torch OneCycleLR's default div_factor
        if step < warm:
            return start + (1 - start) * step / warm
    elif step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return cfg.final_lr + (1 - cfg.final_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def pick_device(name: str) -> torch.device:
    """'auto' -> the GPU when one is present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch global generators (dropout, initialisation)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """A seed for everything random in one epoch, so a resumed epoch replays identically."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@dataclass
class Data:
    """Datasets of one training run; `unknown` indexes the train clips of other words when a
    fresh subset of them (`n_unknown` clips) is drawn every epoch."""

    labels: list[str]
    train: sc.ClipDataset
    validation: sc.ClipDataset
    unknown: list[int] = field(default_factory=list)
    n_unknown: int = 0

    def epoch_indices(self, seed: int) -> list[int]:
        """Train items of one epoch: all of them, or all but a random draw of unknown clips."""
        if not self.unknown:
            return list(range(len(self.train)))
        others = sorted(set(range(len(self.train))) - set(self.unknown))
        rng = np.random.default_rng(seed)
        drawn = rng.choice(self.unknown, size=min(self.n_unknown, len(self.unknown)), replace=False)
        return others + sorted(int(i) for i in drawn)


def build_data(cfg: TrainConfig) -> Data:
    """Training (augmented) and validation clip datasets from `cfg.data`."""
    d = cfg.data
    root = sc.open_corpus(d.root, d.cache_dir or None)
    labels = sc.labels_for_task(d.task)
    noises = sc.load_background_noise(root, cfg.frontend.sample_rate)
    common = dict(task=d.task, seed=cfg.seed, silence_percentage=d.silence_percentage,
                  unknown_percentage=d.unknown_percentage)
    val_root = sc.open_corpus(d.validation_root, d.cache_dir or None) if d.validation_root else root
    val_ex = sc.load_examples(val_root, "validation", **common)
    if d.resample_unknown and d.task == 12:
        common["unknown_percentage"] = None
    train_ex = sc.load_examples(root, "train", **common)
    for extra in d.extra_train:
        train_ex += sc.load_examples(sc.open_corpus(extra, d.cache_dir or None), "train", **common)
    augmenter = Augmenter(cfg.augment, noises, cfg.frontend.sample_rate)
    train = sc.ClipDataset(train_ex, labels, d.clip_samples, noises, cfg.frontend.sample_rate,
                           augment=augmenter, seed=cfg.seed)
    val = sc.ClipDataset(val_ex, labels, d.clip_samples, noises, cfg.frontend.sample_rate,
                         seed=cfg.seed + 1)
    unknown = ([i for i, ex in enumerate(train_ex) if ex.label == sc.UNKNOWN]
               if d.resample_unknown and d.task == 12 else [])
    n_known = sum(ex.label in sc.WORDS_10 for ex in train_ex)
    return Data(labels, train, val, unknown, math.ceil(n_known * d.unknown_percentage / 100))


@torch.no_grad()
def cache_features(dataset: sc.ClipDataset, frontend: Frontend, epoch: int, batch_size: int,
                   device: torch.device, workers: int = 0, progress: bool = False
                   ) -> torch.utils.data.TensorDataset:
    """(features [D, L], label) of every clip of `dataset` as drawn in `epoch`, computed once."""
    dataset.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         num_workers=workers)
    feats, labels = [], []
    for waves, targets in tqdm(loader, desc=f"features (copy {epoch})", leave=False,
                               disable=not progress):
        feats.append(frontend(waves.to(device)).cpu())
        labels.append(targets)
    return torch.utils.data.TensorDataset(torch.cat(feats), torch.cat(labels))


def _logger(out_dir: Path) -> logging.Handler:
    """Attach a file handler writing `train.log` in the run folder."""
    handler = logging.FileHandler(out_dir / LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
          on_step: Callable[[int], None] | None = None) -> dict:
    """Train into `out_dir` and return the final metrics dict (also in `metrics.json`).

    `resume=True` continues from `out_dir/last.pt`. `on_step(step)` is called after every
    optimiser step (a hook for progress reporting or for tests that interrupt a run).
    """
    check_config(cfg)
    cfg = dataclasses.replace(cfg, model=resolve_config(cfg.model))
    out_dir = Path(out_dir)
    if resume and not (out_dir / LAST).is_file():
        raise UserError(f"{out_dir / LAST}: nothing to resume; start the run without --resume")
    if not resume and (out_dir / LAST).is_file():
        raise UserError(f"{out_dir}: already holds a run; pass --resume to continue it or "
                        "choose a new --out folder")
    if resume:
        check_resume(cfg, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = _logger(out_dir) if distributed.is_main() else None  # rank 0 logs
    try:
        return _train(cfg, out_dir, resume, on_step)
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


# Options a resumed run may change: they do not change what the saved model is.
RESUME_MAY_CHANGE = {"epochs", "progress", "threads", "device", "amp", "eval_batch_size",
                     "patience", "data.workers", "data.cache_dir", "data.root"}
LAST_KEYS = ("model", "optimizer", "scaler", "state")


def _flat(d: dict, prefix: str = "") -> dict:
    """{'a.b': value} for a nested config dict."""
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def check_resume(cfg: TrainConfig, out_dir: Path) -> None:
    """Refuse a resume whose config would change the saved model or shorten a finished run,
    so config.yaml keeps describing the model (ConfigError naming the option)."""
    last = load_checkpoint(out_dir / LAST)
    missing = [k for k in LAST_KEYS if not isinstance(last, dict) or k not in last]
    if missing:
        raise UserError(f"{out_dir / LAST}: not a resume checkpoint (no {missing[0]!r}); "
                        "restore the last.pt that `tdnn train` wrote or start a new --out")
    done = int(last["state"].get("epoch", 0))
    if cfg.epochs < done:
        raise ConfigError(f"option 'epochs': {cfg.epochs} is fewer than the {done} epochs the "
                          f"run in {out_dir} already trained; give epochs >= {done} to continue")
    if not (out_dir / CONFIG).is_file():
        return
    saved_cfg = config_mod.load(TrainConfig, out_dir / CONFIG)
    saved = _flat(config_mod.to_dict(dataclasses.replace(
        saved_cfg, model=resolve_config(saved_cfg.model))))
    new = _flat(config_mod.to_dict(cfg))
    for key in new:
        if key not in RESUME_MAY_CHANGE and new[key] != saved.get(key):
            raise ConfigError(f"option {key!r}: {new[key]!r} differs from {saved.get(key)!r} in "
                              f"{out_dir / CONFIG}; a resumed run keeps its config (start a new "
                              "--out to train another one)")


def _train(cfg: TrainConfig, out_dir: Path, resume: bool, on_step) -> dict:
    """The training loop (see `train`)."""
    torch.set_num_threads(cfg.threads)
    dinfo = distributed.init()  # one process, or one of several under torchrun
    device = torch.device(dinfo.device) if dinfo.distributed else pick_device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    if dinfo.is_main:
        config_mod.save(cfg, out_dir / CONFIG)
    data = build_data(cfg)
    seed_everything(cfg.seed)
    frontend = Frontend(cfg.frontend).to(device)
    model = build_model(cfg.model, frontend.dim, len(data.labels)).to(device)
    net = distributed.wrap_model(model, dinfo)  # DDP averages gradients over ranks
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas,
                                  weight_decay=cfg.optim.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    steps_per_epoch = math.ceil(len(data.epoch_indices(0)) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    n_params = sum(p.numel() for p in model.parameters())
    state = {"epoch": 0, "step": 0, "best": None, "bad_epochs": 0, "history": []}
    if resume:
        last = load_checkpoint(out_dir / LAST)
        model.load_state_dict(last["model"])
        optimizer.load_state_dict(last["optimizer"])
        scaler.load_state_dict(last["scaler"])
        state = last["state"]
        log.info("resumed at epoch %d (step %d)", state["epoch"], state["step"])
    else:
        log.info("train %d clips per epoch (of %d), validation %d clips, %d classes, %d parameters, "
                 "device %s", len(data.epoch_indices(0)), len(data.train), len(data.validation),
                 len(data.labels), n_params, device)
    copies, val_set, val_frontend = _feature_cache(cfg, data, frontend, device, dinfo.is_main)

    for epoch in range(state["epoch"], cfg.epochs):
        if cfg.patience and state["bad_epochs"] >= cfg.patience:
            break
        started = time.perf_counter()
        seed = epoch_seed(cfg.seed, epoch)
        seed_everything(seed)
        data.train.set_epoch(epoch)
        train_set = copies[epoch % len(copies)] if copies else data.train
        loader = distributed.rank_loader(
            torch.utils.data.Subset(train_set, data.epoch_indices(seed)), cfg.batch_size,
            dinfo, seed, drop_last=False, num_workers=0 if copies else cfg.data.workers)
        spec_gen = torch.Generator().manual_seed(seed + dinfo.rank)
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not cfg.progress or not dinfo.is_main)
        for inputs, targets in bar:  # waveforms, or cached features
            inputs, targets = inputs.to(device), targets.to(device)
            for group in optimizer.param_groups:
                group["lr"] = cfg.optim.lr * lr_at(state["step"], total_steps, cfg.schedule)
            with torch.no_grad():
                feats = spec_augment(inputs if copies else frontend(inputs), cfg.augment,
                                     spec_gen)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                logits = net(feats)
                loss = F.cross_entropy(logits.float(), targets,
                                       label_smoothing=cfg.optim.label_smoothing)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise UserError(f"training diverged: loss is {loss_value} at epoch {epoch + 1}, "
                                f"step {state['step'] + 1}; lower optim.lr (now {cfg.optim.lr}) "
                                "or check the data (checkpoints of earlier epochs are kept)")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.optim.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            constrain_(model)  # TDNN-F factors back towards semi-orthogonal (no-op otherwise)
            state["step"] += 1
            seen += len(targets)
            loss_sum += loss_value * len(targets)
            correct += (logits.argmax(1) == targets).sum().item()
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            if on_step is not None:
                on_step(state["step"])
        totals = distributed.reduce_sums({"seen": seen, "correct": correct, "loss": loss_sum},
                                         device)
        seen, correct, loss_sum = int(totals["seen"]), int(totals["correct"]), totals["loss"]
        train_time = time.perf_counter() - started
        val = validate(model, val_frontend, val_set, data.labels, cfg, device)
        row = {"epoch": epoch + 1, "step": state["step"], "lr": optimizer.param_groups[0]["lr"],
               "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "val_loss": val["loss"], "val_accuracy": val["accuracy"],
               "train_seconds": train_time, "epoch_seconds": time.perf_counter() - started}
        state["history"].append(row)
        log.info("epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1f s",
                 row["epoch"], row["train_loss"], row["train_accuracy"], row["val_loss"],
                 row["val_accuracy"], row["epoch_seconds"])
        if _better(row, state["best"]):
            state["best"] = {"epoch": row["epoch"], "val_accuracy": row["val_accuracy"],
                             "val_loss": row["val_loss"]}
            state["bad_epochs"] = 0
            if dinfo.is_main:
                save_checkpoint({"state_dict": model.state_dict(),
                                 "config": config_mod.to_dict(cfg), "labels": data.labels,
                                 "epoch": row["epoch"]}, out_dir / BEST)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        if dinfo.is_main:
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scaler": scaler.state_dict(), "state": state}, out_dir / LAST)
        _write_metrics(out_dir, state, n_params, steps_per_epoch, dinfo.is_main)
    if cfg.patience and state["bad_epochs"] >= cfg.patience:
        log.info("early stop: no better validation accuracy in %d epochs", cfg.patience)
    if dinfo.is_main:
        plots.training_curves(state["history"], out_dir / "curves.png", title=str(out_dir.name))
    return _write_metrics(out_dir, state, n_params, steps_per_epoch, dinfo.is_main)


def _feature_cache(cfg: TrainConfig, data: Data, frontend: Frontend, device, show: bool):
    """(training feature copies, validation set, its frontend): cached features and an identity
    frontend with `data.feature_copies`, else ([], the clips, the frontend)."""
    if not cfg.data.feature_copies:
        return [], data.validation, frontend
    started = time.perf_counter()
    show = show and cfg.progress
    args = (cfg.eval_batch_size, device, cfg.data.workers, show)
    copies = [cache_features(data.train, frontend, k, *args)
              for k in range(cfg.data.feature_copies)]
    val_set = cache_features(data.validation, frontend, 0, *args)
    log.info("features cached: %d copies of %d training clips and %d validation clips in %.1f s",
             len(copies), len(data.train), len(val_set), time.perf_counter() - started)
    return copies, val_set, torch.nn.Identity()


def _better(row: dict, best: dict | None) -> bool:
    """Higher validation accuracy wins; equal accuracy is broken by lower validation loss."""
    if best is None:
        return True
    key = (row["val_accuracy"], -row["val_loss"])
    return key > (best["val_accuracy"], -best["val_loss"])


@torch.no_grad()
def validate(model, frontend, dataset, labels, cfg: TrainConfig, device) -> dict:
    """Accuracy and (unsmoothed) cross-entropy on a clip dataset (under DDP each rank scores
    its share and the sums are reduced)."""
    dinfo = distributed.info()
    if dinfo.distributed:
        share = distributed.shard(range(len(dataset)), dinfo.rank, dinfo.world_size)
        dataset = torch.utils.data.Subset(dataset, share)
    probs, targets, errors = predict_dataset(model, frontend, dataset, cfg.eval_batch_size,
                                             device, cfg.data.clip_samples)
    picked = probs[np.arange(len(targets)), targets]
    sums = distributed.reduce_sums({
        "n": len(targets), "errors": len(errors),
        "correct": float((probs.argmax(1) == targets).sum()) if len(targets) else 0.0,
        "nll": float(-np.log(np.clip(picked, 1e-12, None)).sum())}, device)
    if sums["errors"]:
        first = next(iter(errors.values()), "(on another rank)")
        raise UserError(f"{int(sums['errors'])} validation clips unreadable, e.g. {first}")
    return {"accuracy": sums["correct"] / sums["n"], "loss": sums["nll"] / sums["n"]}


def _write_metrics(out_dir: Path, state: dict, n_params: int, steps_per_epoch: int,
                   write: bool = True) -> dict:
    """Write `metrics.json` (if `write`; rank 0 under DDP): per-epoch history, best epoch,
    parameter count."""
    history = state["history"]
    metrics = {"params": n_params, "epochs_run": len(history), "steps_per_epoch": steps_per_epoch,
               "best": state["best"], "history": history,
               "train_seconds_per_epoch": (float(np.mean([h["train_seconds"] for h in history]))
                                           if history else None)}
    if write:
        write_json(metrics, out_dir / METRICS)
    return metrics
