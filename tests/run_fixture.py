"""A run folder holding an untrained model, written the way `tdnn train` writes one, so the
inference/export/stream commands can be tested without training."""

from __future__ import annotations

from pathlib import Path

import torch

from tdnn import config
from tdnn.features import Frontend
from tdnn.models import build_model
from tdnn.runs import BEST, CONFIG, save_checkpoint
from tdnn.train import TrainConfig

LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down"]


def make_run(out: Path, overrides: list[str] = (), labels: list[str] = LABELS, seed: int = 0) -> Path:
    """Write OUT/model.pt and OUT/config.yaml for a random-weight model of the given config."""
    cfg = config.load(TrainConfig, overrides=list(overrides))
    torch.manual_seed(seed)
    frontend = Frontend(cfg.frontend)
    model = build_model(cfg.model, frontend.dim, len(labels))
    for m in model.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"state_dict": model.state_dict(), "config": config.to_dict(cfg),
                     "labels": list(labels), "epoch": 0}, out / BEST)
    config.save(cfg, out / CONFIG)
    return out
