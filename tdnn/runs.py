"""Run folders: atomic checkpoints, metrics files, and `load_run` for predict/stream/export.

A run folder, the one format of every trainer and recipe, holds `config.yaml` (resolved
TrainConfig: frontend, model with a clip or frame head, training), `model.pt` (best checkpoint:
state_dict, resolved config dict, labels), `last.pt` (everything `--resume` needs),
`metrics.json` (per-epoch history and final figures) and `train.log`. An ensemble folder
(`tdnn.ensemble`) holds `ensemble.json`, naming run folders, instead of a checkpoint; `load_run`
reads both.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write_bytes
from .errors import UserError

CONFIG = "config.yaml"
BEST = "model.pt"
LAST = "last.pt"
METRICS = "metrics.json"
LOG = "train.log"


def save_checkpoint(obj: dict, path: str | Path) -> None:
    """torch.save `obj` atomically, so a crash never leaves a half-written checkpoint.

    Serialised in memory first: torch turns a failed file write (a full disk) into a
    RuntimeError that would not name the file.
    """
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getbuffer()
    atomic_write_bytes(path, lambda f: f.write(data))


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


def load_model_checkpoint(path: str | Path) -> dict:
    """A model checkpoint (model.pt, epoch_NNN.pt: weights, config, labels), checked; UserError
    naming the file otherwise (a resume checkpoint, last.pt, is named as such)."""
    ckpt = load_checkpoint(path)
    missing = [k for k in ("state_dict", "config", "labels") if not isinstance(ckpt, dict)
               or k not in ckpt]
    if missing:
        hint = " (that is a resume checkpoint, last.pt)" if isinstance(ckpt, dict) and \
            "optimizer" in ckpt else ""
        raise UserError(f"{path}: not a model checkpoint, no {missing[0]!r}{hint}; use the "
                        f"{BEST} that `tdnn train` wrote")
    return ckpt


def write_json(obj: Any, path: str | Path) -> None:
    """Write `obj` as indented JSON atomically."""
    data = (json.dumps(obj, indent=2) + "\n").encode()
    atomic_write_bytes(path, lambda f: f.write(data))


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by `write_json`."""
    return json.loads(Path(path).read_text())


def check_report_out(out: str | Path, option: str = "--out") -> None:
    """Refuse an output folder that holds a training run: its metrics.json is the run's own."""
    out = Path(out)
    if any((out / name).is_file() for name in (BEST, LAST)):
        raise UserError(f"{option} {out}: holds a training run whose {METRICS} would be "
                        f"overwritten; write the results beside it, e.g. {option} {out / 'eval'}")


@dataclass
class Run:
    """A trained model ready for inference: model (eval mode), frontend, labels and config; for
    an ensemble (`tdnn.ensemble`), its member runs, whose first one's config `cfg` is."""

    model: torch.nn.Module
    frontend: torch.nn.Module
    labels: list[str]
    cfg: Any
    path: Path
    members: tuple = ()

    @property
    def clip_samples(self) -> int:
        """Clip length (samples) the model was trained on."""
        return int(self.cfg.data.clip_samples)

    @property
    def sample_rate(self) -> int:
        """Audio rate (Hz) the frontend expects."""
        return int(self.cfg.frontend.sample_rate)

    @property
    def lead(self) -> "Run":
        """The run itself, or an ensemble's first member: the frontend and model shape by which
        a stream is framed (its members must share them to stream, `inference.EnsembleScorer`)."""
        return self.members[0] if self.members else self

    @property
    def frame_head(self) -> bool:
        """True for a per-frame classifier (phones), False for one label per clip (keywords)."""
        return self.cfg.model.head == "frame"


# Options earlier versions saved that no longer exist (their values were the fixed ones now).
RETIRED = {"model": ("attention_dim", "freq_kernel")}


def retire_options(saved: dict) -> dict:
    """A saved config dict without the retired options, so older run folders still load."""
    out = dict(saved)
    for section, names in RETIRED.items():
        if isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if k not in names}
    return out


def load_run(run_dir: str | Path) -> Run:
    """Rebuild the model and frontend of a run folder from its best checkpoint (CPU, eval mode);
    a folder holding `ensemble.json` loads as that ensemble."""
    from . import config as config_mod
    from . import ensemble
    from .features import Frontend
    from .models import build_model
    from .config import TrainConfig

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run folder not found; pass the --out folder of a training run")
    if (run_dir / ensemble.ENSEMBLE).is_file():
        return load_ensemble(run_dir)
    path = run_dir / BEST
    ckpt = load_model_checkpoint(path)
    try:
        cfg = config_mod.from_dict(TrainConfig, retire_options(ckpt["config"]))
    except UserError as e:
        raise UserError(f"{path}: its saved config is invalid ({e}); retrain the run") from None
    labels = list(ckpt["labels"])
    frontend = Frontend(cfg.frontend)
    model = build_model(cfg.model, frontend.dim, len(labels))
    load_weights(model, ckpt["state_dict"], path)
    return Run(model.eval(), frontend.eval(), labels, cfg, run_dir)


def load_ensemble(folder: Path) -> Run:
    """The ensemble in `folder` (`tdnn.ensemble`) as a Run over its loaded member runs."""
    from . import ensemble

    paths, weights = ensemble.read(folder)
    members = [load_run(p) for p in paths]
    ensemble.check_members(members, folder / ensemble.ENSEMBLE)
    model = ensemble.LogProbAverage(members, weights).eval()
    return Run(model, ensemble.WaveInput().eval(), members[0].labels, members[0].cfg, folder,
               tuple(members))


def load_weights(model: torch.nn.Module, state_dict: dict, path: str | Path) -> None:
    """Load weights, turning a shape or key mismatch into one line naming the checkpoint."""
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if line.strip()), first[0] if first
                      else type(e).__name__)
        raise UserError(f"{path}: weights do not fit the model its config describes "
                        f"({detail[:160]}); the file is damaged or from another run") from None
