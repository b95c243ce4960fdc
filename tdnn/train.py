"""The one trainer: keyword (clip) and phone (frame) heads, over waveforms or cached features.

`fit(model, data, cfg, out_dir)` is the loop, in plain sight: AdamW with warm-up + cosine (or
torch's one-cycle) learning rates, cross-entropy (label smoothing; frames labelled IGNORE do not
count), gradient clipping, SpecAugment on the frames, early stopping on validation accuracy, the
best model kept as `model.pt` (and, with `keep_epochs`, the last epochs' models for
`tdnn average`), DDP under torchrun. `data` (see `tdnn.train_data`) gives the
batches: waveform clips augmented per clip and turned into frames by the frontend, or features
held in memory. Every random draw is a function of (seed, epoch, item) or of a generator whose
state is saved, and the state at each epoch end is saved in `last.pt`, so a resumed run repeats
exactly what an uninterrupted one would have done.

`train(cfg, out_dir)` is what `tdnn train` runs: the Speech Commands-layout corpus of `cfg.data`
(optionally with `data.feature_copies` frames computed once per clip and copy, for slow
frontends, and kept in the run folder's `features/` for a resume) and the model of `cfg.model`;
or, with `loss = maxpool | window_ce`, segments of the training streams `data.train_streams`
scored window by window as a streaming detector scores them (`tdnn.detection`); `init` starts
from another run's weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import config as config_mod
from .config import (AugmentConfig, DataConfig, OptimConfig,  # noqa: F401 (re-exported)
                     ScheduleConfig, TrainConfig, features_config)
from . import detection, distributed
from . import plots
from .augment import MelVtlp, spec_augment
from .errors import ConfigError, UserError
from .layers import constrain_
from .models import build_model, resolve_config
from .data import speech_commands as sc
from .features import Frontend
from .runs import (BEST, CONFIG, LAST, LOG, METRICS, load_checkpoint, load_weights,
                   save_checkpoint, write_json)
from .train_data import IGNORE, ClipData, FeatureData, clip_data  # noqa: F401 (re-exported)

log = logging.getLogger("tdnn.train")
FEATURES = "features"  # a run's cached feature copies (data.feature_copies), reused on resume
MAX_SEED = 2**32 - 1  # numpy and torch both accept seeds in 0..2**32-1
MAX_CLIP_SECONDS = 60  # a training clip is a keyword, not a recording
MAX_LR = 100.0  # larger rates only diverge (and overflow AdamW's float32 step size)
ONECYCLE_DIV, ONECYCLE_FINAL_DIV = 25.0, 1e4  # torch OneCycleLR's div_factor, final_div_factor
ONECYCLE_BETA1 = (0.95, 0.85)  # its max_momentum, base_momentum (AdamW's beta1 is cycled)


def check_config(cfg: TrainConfig) -> None:
    """Reject training options that cannot train, naming the option (ConfigError)."""
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
    if not 0 <= cfg.keep_epochs <= cfg.epochs:
        bad("keep_epochs", f"must be in 0..epochs ({cfg.epochs}), got {cfg.keep_epochs}")
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
    if cfg.augment.mel_vtlp_prob:
        MelVtlp(cfg.frontend, cfg.augment)  # refuses features without mel bands


def check_corpus(cfg: TrainConfig) -> None:
    """Reject data options a Speech Commands-layout run cannot use (ConfigError naming them)."""
    def bad(option, why):
        raise ConfigError(f"option {option!r}: {why}")

    if cfg.data.task not in (12, 35):
        bad("data.task", f"must be 12 or 35, got {cfg.data.task}")
    if cfg.data.clip_samples < cfg.frontend.sample_rate // 10:
        bad("data.clip_samples", "must hold at least 0.1 s of audio")
    if cfg.data.clip_samples > MAX_CLIP_SECONDS * cfg.frontend.sample_rate:
        bad("data.clip_samples", f"must hold at most {MAX_CLIP_SECONDS} s of audio, got "
            f"{cfg.data.clip_samples} samples")
    if cfg.data.silence_percentage < 0 or cfg.data.unknown_percentage < 0:
        bad("data.silence_percentage/unknown_percentage", "must be >= 0")
    if (cfg.data.train_unknown_percentage or 0) < 0:
        bad("data.train_unknown_percentage", "must be >= 0 (or null: unknown_percentage)")
    if cfg.data.workers < 0:
        bad("data.workers", "must be >= 0")
    if cfg.data.feature_copies < 0:
        bad("data.feature_copies", "must be >= 0 (0 computes features on the fly every epoch)")
    if (cfg.loss == "ce") == bool(cfg.data.train_streams):
        bad("loss", "detection losses (maxpool, window_ce) train on data.train_streams and "
            "need them; plain ce trains on clips")
    if not cfg.data.root and not cfg.data.train_streams:
        bad("data.root", "no corpus given; set data.root=DIR (a Speech Commands-layout folder)")
    if cfg.data.hard_negatives < 0:
        bad("data.hard_negatives", "must be >= 0 (copies of each mined false alarm)")
    clip_s, (first, last) = cfg.data.clip_samples / cfg.frontend.sample_rate, cfg.data.fire
    if not -clip_s < first < last <= detection.HIT:
        bad("data.fire", f"needs -{clip_s:g} < start < end <= {detection.HIT:g} seconds after "
            f"a keyword's end (the window's length, the hit tolerance), got {[first, last]}")
    if cfg.data.hard_negatives and not (cfg.data.train_streams and cfg.init):
        bad("data.hard_negatives", "mines the false alarms of the init run on data.train_streams; "
            "set both (init=RUN) or drop it")


def schedule_at(step: int, total: int, cfg: ScheduleConfig, lr: float
                ) -> tuple[float, float | None]:
    """(learning rate, AdamW beta1 or None to leave it) for optimiser step `step` of `total`.

    'onecycle' is torch's `OneCycleLR` (cosine from lr/25 up to lr over `warmup` of the steps,
    then down to lr/25/1e4, beta1 cycled 0.95 -> 0.85 -> 0.95), written out as torch computes it
    so a stopped run can be resumed at any step."""
    if cfg.kind == "constant":
        return lr, None
    if cfg.kind == "onecycle":
        return _onecycle(step, total, cfg.warmup, lr)
    warm = max(1, int(cfg.warmup * total))
    if step < warm:
        return lr * ((step + 1) / warm), None
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return lr * (cfg.final_lr + (1 - cfg.final_lr) * 0.5 * (1 + math.cos(math.pi * progress))), None


def _onecycle(step: int, total: int, pct_start: float, max_lr: float) -> tuple[float, float]:
    """torch.optim.lr_scheduler.OneCycleLR (two phases, cosine annealing) at `step`."""
    initial = max_lr / ONECYCLE_DIV
    phases = [(float(pct_start * total) - 1, initial, max_lr, *ONECYCLE_BETA1),
              (total - 1, max_lr, initial / ONECYCLE_FINAL_DIV, *ONECYCLE_BETA1[::-1])]
    start_step = 0.0
    for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            span = end_step - start_step  # 0 when the warm-up is one step (torch divides by it)
            pct = (step - start_step) / span if span else 1.0
            return _cos(lr0, lr1, pct), _cos(m0, m1, pct)
        start_step = end_step
    raise AssertionError("unreachable")


def _cos(start: float, end: float, pct: float) -> float:
    """Cosine anneal from `start` to `end` as pct goes 0 -> 1 (torch's `_annealing_cos`)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


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


def _logger(out_dir: Path) -> logging.Handler:
    """Attach a file handler writing `train.log` in the run folder."""
    handler = logging.FileHandler(out_dir / LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
          on_step: Callable[[int], None] | None = None) -> dict:
    """Train the model of `cfg.model` on the corpus of `cfg.data` into the run folder `out_dir`
    and return the final metrics dict (also in `metrics.json`).

    `resume=True` continues from `out_dir/last.pt`. `on_step(step)` is called after every
    optimiser step (a hook for progress reporting or for tests that interrupt a run).
    """
    check_config(cfg)
    check_corpus(cfg)
    cfg = dataclasses.replace(cfg, model=resolve_config(cfg.model))
    with run_folder(cfg, out_dir, resume) as out_dir:
        torch.set_num_threads(cfg.threads)
        dinfo = distributed.init()  # one process, or one of several under torchrun
        data = training_data(cfg)
        seed_everything(cfg.seed)
        model = build_model(cfg.model, Frontend(cfg.frontend).dim, len(data.labels))
        if cfg.init:
            start_from(model, data.labels, cfg.init)
        if cfg.data.hard_negatives:
            detection.mine(data, model, cfg.data.hard_negatives)
        if cfg.data.feature_copies and not cfg.data.train_streams:
            device = torch.device(dinfo.device) if dinfo.distributed else pick_device(cfg.device)
            data.frontend.to(device)
            # A one-off pass before training: one process uses every core (output identical).
            data.frontend.use_threads(1 if dinfo.distributed else len(os.sched_getaffinity(0)))
            data.cache(cfg.data.feature_copies, cfg.eval_batch_size, device,
                       cfg.progress and dinfo.is_main, out_dir / FEATURES, feature_key(cfg))
        return _fit(model, data, cfg, out_dir, resume, on_step)


def training_data(cfg: TrainConfig):
    """The clips of cfg.data, or the segments of its training streams for a detection loss."""
    if not cfg.data.train_streams:
        return clip_data(cfg)
    frontend = Frontend(cfg.frontend)
    model = build_model(cfg.model, frontend.dim, 1)
    if model.stride != 1 or model.lookahead:
        raise ConfigError("option 'loss': detection losses need a causal model without "
                          "decimation (model.causal=true, every stride 1)")
    width = frontend.num_frames(cfg.data.clip_samples)
    return detection.stream_data(cfg.data.train_streams, frontend,
                                 sc.labels_for_task(cfg.data.task), width, cfg.seed,
                                 cfg.data.fire)


def start_from(model: torch.nn.Module, labels: list[str], run_dir: str) -> None:
    """Load the weights of run `run_dir` (option init) into `model`; its labels must match."""
    ckpt = load_checkpoint(Path(run_dir) / BEST)
    if list(ckpt.get("labels", [])) != list(labels):
        raise ConfigError(f"option 'init': {run_dir} was trained on other labels")
    load_weights(model, ckpt["state_dict"], Path(run_dir) / BEST)
    log.info("weights from %s", Path(run_dir) / BEST)


def fit(model: torch.nn.Module, data, cfg: TrainConfig, out_dir: str | Path | None = None,
        resume: bool = False, on_step: Callable[[int], None] | None = None) -> dict:
    """Train `model` in place on `data` (a `ClipData` or `FeatureData`) and return the metrics.

    With `out_dir` the run folder is written (config.yaml, model.pt, last.pt, metrics.json,
    train.log, curves.png, epoch_NNN.pt with keep_epochs) and `resume=True` continues it;
    without, nothing is written and the model ends as the last epoch left it.
    """
    check_config(cfg)
    if out_dir is None:
        if resume:
            raise UserError("resume needs the run folder (out_dir) to continue from")
        return _fit(model, data, cfg, None, False, on_step)
    with run_folder(cfg, out_dir, resume) as out_dir:
        return _fit(model, data, cfg, out_dir, resume, on_step)


def feature_key(cfg: TrainConfig) -> dict:
    """What the cached features of a run depend on besides its clips: frontend, augmentation,
    clip length and seed."""
    return {"frontend": config_mod.to_dict(cfg.frontend), "augment": config_mod.to_dict(cfg.augment),
            "clip_samples": cfg.data.clip_samples, "seed": cfg.seed}


@contextlib.contextmanager
def run_folder(cfg: TrainConfig, out_dir: str | Path, resume: bool):
    """The run folder, checked (a new run never overwrites one, a resume keeps its config) and
    created, with `train.log` attached to the trainer's log while the block runs."""
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
        yield out_dir
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


# Options a resumed run may change: they do not change what the saved model is.
RESUME_MAY_CHANGE = {"epochs", "progress", "threads", "device", "amp", "eval_batch_size",
                     "patience", "keep_epochs", "data.workers", "data.cache_dir", "data.root"}
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


def _fit(model, data, cfg: TrainConfig, out_dir: Path | None, resume: bool, on_step) -> dict:
    """The training loop (see `fit`)."""
    dinfo = distributed.info()
    device = torch.device(dinfo.device) if dinfo.distributed else pick_device(cfg.device)
    main = dinfo.is_main and out_dir is not None  # writes the run folder
    use_amp = cfg.amp and device.type == "cuda"
    if main:
        config_mod.save(cfg, out_dir / CONFIG)
    model.to(device)
    frontend = data.frontend.to(device)
    mel_vtlp = MelVtlp(cfg.frontend, cfg.augment) if cfg.augment.mel_vtlp_prob else None
    if cfg.loss != "ce" and dinfo.distributed:
        raise UserError(f"loss {cfg.loss}: detection losses train in one process (not under "
                        "torchrun)")
    net = distributed.wrap_model(model, dinfo)  # DDP averages gradients over ranks
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas,
                                  weight_decay=cfg.optim.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    steps_per_epoch = data.steps_per_epoch(cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    n_params = sum(p.numel() for p in model.parameters())
    state = {"epoch": 0, "step": 0, "best": None, "bad_epochs": 0, "history": []}
    if resume:
        last = load_checkpoint(out_dir / LAST)
        model.load_state_dict(last["model"])
        optimizer.load_state_dict(last["optimizer"])
        scaler.load_state_dict(last["scaler"])
        data.load_state_dict(last.get("data", {}))
        state = last["state"]
        log.info("resumed at epoch %d (step %d)", state["epoch"], state["step"])
    else:
        log.info("train %d steps per epoch, %d classes, %d parameters, device %s",
                 steps_per_epoch, len(data.labels), n_params, device)

    for epoch in range(state["epoch"], cfg.epochs):
        if cfg.patience and state["bad_epochs"] >= cfg.patience:
            break
        started = time.perf_counter()
        seed = epoch_seed(cfg.seed, epoch)
        seed_everything(seed)
        spec_gen = torch.Generator().manual_seed(seed + dinfo.rank)
        model.train()
        items = frames = correct = 0
        loss_sum = 0.0
        bar = tqdm(data.batches(epoch, seed, cfg.batch_size, dinfo), total=steps_per_epoch,
                   desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not cfg.progress or not dinfo.is_main)
        for inputs, targets in bar:  # waveforms, or features
            inputs, targets = inputs.to(device), targets.to(device)
            lr, beta1 = schedule_at(state["step"], total_steps, cfg.schedule, cfg.optim.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
                if beta1 is not None:
                    group["betas"] = (beta1, *group["betas"][1:])
            with torch.no_grad():
                feats = frontend(inputs)
                if mel_vtlp is not None:
                    feats = mel_vtlp(feats, spec_gen)
                feats = spec_augment(feats, cfg.augment, spec_gen)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                if cfg.loss == "ce":
                    logits = net(feats)
                    loss = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE,
                                           label_smoothing=cfg.optim.label_smoothing)
                else:
                    loss, right, counted = detection.detection_loss(
                        cfg.loss, detection.window_logits(model, feats, data.window), targets,
                        data.keywords, data.unknown, data.window, cfg.optim.label_smoothing)
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
            items += len(targets)
            loss_sum += loss_value * len(targets)
            if cfg.loss == "ce":
                labelled = targets != IGNORE
                frames += int(labelled.sum())
                correct += int((logits.argmax(1) == targets)[labelled].sum())
            else:  # items whose keywords fire and whose other windows stay silent
                frames, correct = frames + counted, correct + right
            bar.set_postfix(loss=f"{loss_sum / items:.3f}", acc=f"{correct / frames:.3f}")
            if on_step is not None:
                on_step(state["step"])
        totals = distributed.reduce_sums({"items": items, "frames": frames, "correct": correct,
                                          "loss": loss_sum}, device)
        train_time = time.perf_counter() - started
        val = data.validate(model, cfg.eval_batch_size, device) or {"loss": None,
                                                                    "accuracy": None}
        row = {"epoch": epoch + 1, "step": state["step"], "lr": optimizer.param_groups[0]["lr"],
               "train_loss": totals["loss"] / totals["items"],
               "train_accuracy": totals["correct"] / max(1, totals["frames"]),
               "val_loss": val["loss"], "val_accuracy": val["accuracy"],
               "train_seconds": train_time, "epoch_seconds": time.perf_counter() - started}
        state["history"].append(row)
        log.info("epoch %d: train loss %.4f acc %.4f | val loss %s acc %s | %.1f s",
                 row["epoch"], row["train_loss"], row["train_accuracy"], _fmt(row["val_loss"]),
                 _fmt(row["val_accuracy"]), row["epoch_seconds"])
        if _better(row, state["best"]):
            state["best"] = {"epoch": row["epoch"], "val_accuracy": row["val_accuracy"],
                             "val_loss": row["val_loss"]}
            state["bad_epochs"] = 0
            if main:
                save_checkpoint(model_checkpoint(model, cfg, data.labels, row["epoch"]),
                                out_dir / BEST)
        else:
            state["bad_epochs"] += 1
        if main and epoch >= cfg.epochs - cfg.keep_epochs:
            save_checkpoint(model_checkpoint(model, cfg, data.labels, row["epoch"]),
                            out_dir / epoch_file(row["epoch"]))
        state["epoch"] = epoch + 1
        if main:
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scaler": scaler.state_dict(), "state": state,
                             "data": data.state_dict()}, out_dir / LAST)
            _write_metrics(out_dir, state, n_params, steps_per_epoch)
    if cfg.patience and state["bad_epochs"] >= cfg.patience:
        log.info("early stop: no better validation accuracy in %d epochs", cfg.patience)
    if main:
        plots.training_curves(state["history"], out_dir / "curves.png", title=str(out_dir.name))
    return _write_metrics(out_dir, state, n_params, steps_per_epoch, main)


def model_checkpoint(model, cfg: TrainConfig, labels: list[str], epoch: int) -> dict:
    """What model.pt (and each kept epoch_NNN.pt) holds: weights, resolved config, labels."""
    return {"state_dict": model.state_dict(), "config": config_mod.to_dict(cfg),
            "labels": labels, "epoch": epoch}


def epoch_file(epoch: int) -> str:
    """The name of the model checkpoint kept for `epoch` (1-based) by `keep_epochs`."""
    return f"epoch_{epoch:03d}.pt"


def _fmt(x: float | None) -> str:
    """A loss or accuracy for the log ('-' without validation data)."""
    return "-" if x is None else f"{x:.4f}"


def _better(row: dict, best: dict | None) -> bool:
    """Higher validation accuracy wins; equal accuracy is broken by lower validation loss;
    without validation data the latest epoch is the best."""
    if best is None or row["val_accuracy"] is None:
        return True
    key = (row["val_accuracy"], -row["val_loss"])
    return key > (best["val_accuracy"], -best["val_loss"])


def _write_metrics(out_dir: Path | None, state: dict, n_params: int, steps_per_epoch: int,
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
