"""Weight averaging of model checkpoints into a new run folder.

Averaging the weights of the last few epochs of a run is how wekws and WeNet finish training
(`average_model.py`); averaging runs fine-tuned from the same init with different seeds is a
"model soup" (Wortsman et al., 2022). Either gives one model, so inference costs what one run
costs (an ensemble, `tdnn.ensemble`, runs every member). Every parameter and floating-point
buffer (batch-norm running statistics included, as wekws does) is the plain mean; integer
buffers (batch-norm step counts) take the largest, the count of the source trained longest.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import config as config_mod
from .ensemble import ENSEMBLE
from .errors import UserError
from .runs import (BEST, CONFIG, load_model_checkpoint, retire_options, save_checkpoint,
                   write_json)

AVERAGE = "average.json"


def source_path(source: str | Path) -> Path:
    """The model checkpoint a source names: a run folder's model.pt, or a .pt file itself
    (model.pt, or an epoch_NNN.pt kept by `keep_epochs`)."""
    source = Path(source)
    if (source / ENSEMBLE).is_file():
        raise UserError(f"{source}: an ensemble folder; average its member runs instead")
    return source / BEST if source.is_dir() else source


def read_sources(paths: list[Path]) -> list[dict]:
    """The model checkpoints at `paths`, checked to hold the same model: same labels, model
    and frontend options and parameter shapes (UserError naming the first that differs)."""
    if len(paths) < 2:
        raise UserError("give at least two checkpoints or run folders to average")
    ckpts = [load_model_checkpoint(path) for path in paths]
    first = ckpts[0]
    shapes = {k: tuple(v.shape) for k, v in first["state_dict"].items()}
    for path, ckpt in zip(paths[1:], ckpts[1:]):
        for what, a, b in (("labels", first["labels"], ckpt["labels"]),
                           ("model options", first["config"].get("model"),
                            ckpt["config"].get("model")),
                           ("frontend options", first["config"].get("frontend"),
                            ckpt["config"].get("frontend"))):
            if a != b:
                raise UserError(f"{path}: its {what} differ from {paths[0]}'s; average "
                                "checkpoints of one model only")
        if {k: tuple(v.shape) for k, v in ckpt["state_dict"].items()} != shapes:
            raise UserError(f"{path}: its weights have other names or shapes than "
                            f"{paths[0]}'s; average checkpoints of one model only")
    return ckpts


def average_state(states: list[dict]) -> dict:
    """The mean of state dicts (integer buffers: their largest value)."""
    out = {}
    for key, first in states[0].items():
        stacked = torch.stack([s[key] for s in states])
        out[key] = stacked.amax(0) if not first.is_floating_point() else \
            stacked.double().mean(0).to(first.dtype)
    return out


def average_runs(sources: list, out: str | Path) -> Path:
    """Write the weight average of `sources` (run folders or checkpoint files) as a run folder
    `out` (model.pt, config.yaml of the first source, average.json naming the sources) that
    every command loading a run accepts. `out` must be new or empty."""
    out = Path(out)
    if any(out.resolve() == Path(s).resolve() for s in sources):
        raise UserError(f"--out {out}: is one of the sources; choose a new folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: exists and is not an empty folder; choose a new folder")
    paths = [source_path(s) for s in sources]
    ckpts = read_sources(paths)
    state = average_state([c["state_dict"] for c in ckpts])
    out.mkdir(parents=True, exist_ok=True)
    cfg, names = ckpts[0]["config"], [str(p) for p in paths]
    save_checkpoint({"state_dict": state, "config": cfg, "labels": ckpts[0]["labels"],
                     "averaged": names}, out / BEST)
    config_mod.save(config_mod.from_dict(config_mod.TrainConfig, retire_options(cfg)),
                    out / CONFIG)
    write_json({"sources": names, "epochs": [c.get("epoch") for c in ckpts]}, out / AVERAGE)
    return out
