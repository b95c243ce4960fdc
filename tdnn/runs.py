"""Run folders: atomic checkpoints, metrics files, and `load_run` for predict/stream/export.

A run folder holds `config.yaml` (resolved TrainConfig), `model.pt` (best checkpoint: state_dict,
resolved config dict, labels), `last.pt` (everything `--resume` needs), `metrics.json`
(per-epoch history and final figures) and `train.log`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import UserError

CONFIG = "config.yaml"
BEST = "model.pt"
LAST = "last.pt"
METRICS = "metrics.json"
LOG = "train.log"


def atomic_write_bytes(path: str | Path, write) -> None:
    """Call `write(fileobj)` on a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(obj: dict, path: str | Path) -> None:
    """torch.save `obj` atomically, so a crash never leaves a half-written checkpoint."""
    atomic_write_bytes(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint written by `save_checkpoint` (weights_only, on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found; train a model into this folder first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise UserError(f"{path}: cannot read checkpoint ({type(e).__name__}); retrain or "
                        f"point at another run") from None


def write_json(obj: Any, path: str | Path) -> None:
    """Write `obj` as indented JSON atomically."""
    data = (json.dumps(obj, indent=2) + "\n").encode()
    atomic_write_bytes(path, lambda f: f.write(data))


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by `write_json`."""
    return json.loads(Path(path).read_text())


@dataclass
class Run:
    """A trained model ready for inference: model (eval mode), frontend, labels and config."""

    model: torch.nn.Module
    frontend: torch.nn.Module
    labels: list[str]
    cfg: Any
    path: Path

    @property
    def clip_samples(self) -> int:
        """Clip length (samples) the model was trained on."""
        return int(self.cfg.data.clip_samples)

    @property
    def sample_rate(self) -> int:
        """Audio rate (Hz) the frontend expects."""
        return int(self.cfg.frontend.sample_rate)


def load_run(run_dir: str | Path, checkpoint: str = BEST) -> Run:
    """Rebuild the model and frontend of a run folder from its best checkpoint (CPU, eval mode)."""
    from . import config as config_mod
    from .features import Frontend
    from .models import build_model
    from .config import TrainConfig

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run folder not found; pass the --out folder of a training run")
    ckpt = load_checkpoint(run_dir / checkpoint)
    cfg = config_mod.from_dict(TrainConfig, ckpt["config"])
    labels = list(ckpt["labels"])
    frontend = Frontend(cfg.frontend)
    model = build_model(cfg.model, frontend.dim, len(labels))
    model.load_state_dict(ckpt["state_dict"])
    return Run(model.eval(), frontend.eval(), labels, cfg, run_dir)
