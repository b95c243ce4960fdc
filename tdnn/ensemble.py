"""Ensembles of clip classifiers over different frontends, averaged in log-probability.

An ensemble folder holds `ensemble.json`: {"members": [run folders, relative to the ensemble
folder], "weights": [one per member]}. `tdnn predict` and `tdnn evaluate` load it like a run
folder (`tdnn.runs.load_run`); the score of each class is the weighted mean of the members'
log-probabilities (a weighted geometric mean of their probabilities, renormalised). The members
must share labels, clip length and sample rate; their frontends may differ (speech_embedding
and log-mel), which is why the ensemble takes the waveform itself.
`tdnn stream` scores an ensemble member by member and combines each frame the same way
(`tdnn.inference.EnsembleScorer`), so there the members must also score at the same times.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_write_text
from .errors import UserError

ENSEMBLE = "ensemble.json"


class WaveInput(nn.Module):
    """The frontend of an ensemble: waveforms [B, T] -> [B, 1, T]; members compute their own."""

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return (wave[None] if wave.dim() == 1 else wave)[:, None, :]


class LogProbAverage(nn.Module):
    """Weighted mean of the members' log-softmax outputs over waveforms [B, 1, T]."""

    def __init__(self, members: list, weights: list[float]):
        super().__init__()
        self.frontends = nn.ModuleList(m.frontend for m in members)
        self.models = nn.ModuleList(m.model for m in members)
        self.weights = [float(w) for w in weights]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        wave = wave[:, 0]
        return sum(w * torch.log_softmax(model(frontend(wave)).float(), dim=-1)
                   for w, frontend, model in zip(self.weights, self.frontends, self.models))


def write(folder: str | Path, members: list[str | Path], weights: list[float]) -> Path:
    """Write `folder/ensemble.json` naming `members` (stored relative to `folder`)."""
    folder = Path(folder)
    check_weights(weights, len(members), folder / ENSEMBLE)
    rel = [Path(os.path.relpath(Path(m).resolve(), folder.resolve())).as_posix() for m in members]
    atomic_write_text(folder / ENSEMBLE, json.dumps(
        {"members": rel, "weights": [float(w) for w in weights]}, indent=2) + "\n")
    return folder / ENSEMBLE


def check_weights(weights: list, n: int, where: Path) -> None:
    """Weights must be positive numbers, one per member, at least two members."""
    if n < 2:
        raise UserError(f"{where}: an ensemble needs at least two member runs, got {n}")
    if len(weights) != n or not all(isinstance(w, (int, float)) and w > 0 for w in weights):
        raise UserError(f"{where}: 'weights' must be {n} positive numbers, one per member")


def read(folder: Path) -> tuple[list[Path], list[float]]:
    """The member folders and weights of the ensemble in `folder`, checked."""
    path = folder / ENSEMBLE
    try:
        spec = json.loads(path.read_text())
        names, weights = list(spec["members"]), list(spec["weights"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a readable ensemble file ({type(e).__name__}); it needs "
                        "'members' (run folders) and 'weights'") from None
    check_weights(weights, len(names), path)
    for name in names:
        if (folder / name / ENSEMBLE).is_file():
            raise UserError(f"{path}: member {name} is an ensemble itself; list its runs instead")
    return [Path(os.path.normpath(folder / name)) for name in names], weights


def check_members(members: list, path: Path) -> None:
    """Members (loaded runs) must be clip classifiers of one task: labels, clip, rate."""
    first = members[0]
    for m in members[1:]:
        for what, a, b in (("labels", first.labels, m.labels),
                           ("clip length", first.clip_samples, m.clip_samples),
                           ("sample rate", first.sample_rate, m.sample_rate),
                           ("head", first.frame_head, m.frame_head)):
            if a != b:
                raise UserError(f"{path}: members {first.path} and {m.path} differ in {what}; "
                                "an ensemble averages clip classifiers of one task")
    if first.frame_head:
        raise UserError(f"{path}: members have frame heads; ensembles average clip classifiers")


def refuse(run, command: str) -> None:
    """One clear error when `command` (which needs a single model's frontend) gets an ensemble."""
    if run.members:
        names = ", ".join(str(m.path) for m in run.members)
        raise UserError(f"{run.path}: an ensemble; `{command}` works on one run: pass one of its "
                        f"members ({names})")
