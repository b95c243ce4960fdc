"""Phoneme recipe: frame phone classification, then Waibel et al. (1989) /b/ /d/ /g/.

    tdnn recipe phonemes --out runs/phonemes                  # synthetic corpora (eSpeak NG)
    tdnn recipe phonemes --out runs/phonemes --data-dir TIMIT # real TIMIT for the frame task

Stages: 0. build the synthetic corpora that are missing (synth-phones, synth-bdg);
1. frame phones: a TDNN with a frame head on 40 log-mels, 39 folded TIMIT classes; frame
   accuracy, phone error rate after collapsing repeats, boundary precision/recall within
   ±1/±2/±3 frames; 2. /b/ /d/ /g/ with the 'waibel' preset (16 mels x 15 frames), accuracy
   beside the paper's 98.5%; 3. metrics.json, report.md and plots in --out.
Each model trains through the one trainer into a run folder (OUT/phones, OUT/bdg) that
`tdnn predict`, `tdnn evaluate` and `tdnn export` read; a rerun resumes an unfinished one.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tdnn import config
from tdnn.atomic import atomic_write_text
from tdnn.config import FrontendConfig, LayerSpec, ModelConfig, TrainConfig, features_config

HERE = Path(__file__).parent
WAIBEL_1989_ACCURACY = 0.985  # Waibel et al. 1989, /b/ /d/ /g/ test tokens (speaker dependent)


@dataclass
class PhonemesConfig:
    """Options of this recipe (config.toml beside this file holds the defaults it runs with)."""
    seed: int = 0
    phones_speakers: int = 60
    phones_sentences: int = 10
    bdg_speakers: int = 80
    n_mels: int = 40
    bdg_mels: int = 16
    bdg_frames: int = 15
    bdg_before: int = 3
    smooth_frames: int = 5
    dims: list[int] = field(default_factory=lambda: [128] * 5)
    contexts: list[list[int]] = field(default_factory=lambda: [
        [-2, -1, 0, 1, 2], [-2, 0, 2], [-3, 0, 3], [-3, 0, 3], [0]])
    phones_fit: TrainConfig = field(default_factory=lambda: features_config(15, batch_size=16))
    bdg_fit: TrainConfig = field(default_factory=lambda: features_config(200, lr=0.02))
    threads: int = 2


def build_parser() -> argparse.ArgumentParser:
    """Options of `tdnn recipe phonemes`."""
    p = argparse.ArgumentParser(prog="tdnn recipe phonemes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/phonemes"), help="output folder")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="a corpus in the TIMIT layout for the frame task (default: build the "
                        "synthetic one in OUT/data/phones)")
    p.add_argument("--bdg-dir", type=Path, default=None,
                   help="a `tdnn prepare synth-bdg` corpus (default: build one in OUT/data/bdg)")
    p.add_argument("--config", type=Path, default=HERE / "config.toml", help="config file")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: config's)")
    p.add_argument("--skip", choices=["phones", "bdg"], action="append", default=[],
                   help="leave out a stage")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set phones_fit.epochs=5")
    return p


def stage_data(cfg: PhonemesConfig, args) -> tuple[Path, Path, int]:
    """Stage 0: the corpora (given folders, or synthetic ones built once under OUT/data);
    also how many items the synthesiser failed on (each printed with its reason)."""
    from data_prep import espeak, synth_commands, synth_phones
    from tdnn.data import corpus
    accents, variants = list(espeak.ENGLISH_ACCENTS), synth_commands.all_variants()
    phones = args.data_dir or args.out / "data" / "phones"
    bdg = args.bdg_dir or args.out / "data" / "bdg"
    failures = []
    if (args.data_dir is None and "phones" not in args.skip
            and (not (phones / "TRAIN").is_dir() or corpus.interrupted(phones))):
        print(f"building {phones} ...", flush=True)
        failures += synth_phones.build_timit(
            phones, cfg.phones_speakers, cfg.phones_sentences, seed=0, accents=accents,
            variants=variants, test_fraction=0.25, jobs=2, progress=False)["failures"]
    if (args.bdg_dir is None and "bdg" not in args.skip
            and (not (bdg / "manifest.csv").is_file() or corpus.interrupted(bdg))):
        print(f"building {bdg} ...", flush=True)
        failures += synth_phones.build_bdg(bdg, cfg.bdg_speakers, seed=0, accents=accents,
                                           variants=variants, jobs=2, progress=False)["failures"]
    for item, reason in failures:
        print(f"failed: {item}: {reason}", file=sys.stderr)
    return phones, bdg, len(failures)


def stage_phones(cfg: PhonemesConfig, root: Path, out: Path) -> dict:
    """Stage 1: train the frame-head TDNN and score frames, phones and boundaries."""
    import numpy as np
    from tdnn import framemetrics
    from tdnn.experiments import probes, tasks
    from tdnn.models import summary
    from tdnn.train_data import predict_features

    fe = FrontendConfig(n_mels=cfg.n_mels, normalize="meanvar")
    task = tasks.frame_task("phones", root, fe)
    print(f"phones: {task.info}", flush=True)
    layers = [LayerSpec(d, list(c)) for d, c in zip(cfg.dims, cfg.contexts, strict=True)]
    tcfg = dataclasses.replace(cfg.phones_fit, seed=cfg.seed, threads=cfg.threads, frontend=fe,
                               model=ModelConfig(layers=layers, head="frame", dropout=0.0))
    t0 = time.time()
    model, fitted = train_run(tcfg, task, out / "phones")
    train_s = time.time() - t0
    refs = [y.numpy() for y in task.y_test]
    report, smoothed, post = framemetrics.logits_report(predict_features(model, task.x_test),
                                                        refs, cfg.smooth_frames)
    report["smoothed"] = smoothed
    blur = probes.boundary_posteriors(post, refs, window=6)
    _plot_boundary(blur, out / "phones_boundary_posteriors.png")
    return {**report, "smooth_frames": cfg.smooth_frames, "data": task.info,
            "train_seconds": round(train_s, 1), "run": "phones",
            "losses": [h["train_loss"] for h in fitted["history"]],
            "boundary_posteriors": {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                    for k, v in blur.items()},
            "model": summary(model, task.in_dim)}


def stage_bdg(cfg: PhonemesConfig, root: Path, out: Path) -> dict:
    """Stage 2: the 'waibel' preset on 16 mels x 15 frames around each stop release."""
    from tdnn.config import hop_samples
    from tdnn.evaluate import confusion_matrix
    from tdnn.experiments import tasks
    from tdnn.models import resolve_config, summary
    from tdnn.plots import confusion_matrix as plot_confusion
    from tdnn.train_data import accuracy, predict_features

    fe = FrontendConfig(n_mels=cfg.bdg_mels, normalize="meanvar")
    task = tasks.bdg_task("bdg", root, fe, frames=cfg.bdg_frames, before=cfg.bdg_before)
    print(f"bdg: {task.info}", flush=True)
    window = dataclasses.replace(cfg.bdg_fit.data,
                                 clip_samples=(cfg.bdg_frames - 1) * hop_samples(fe))
    tcfg = dataclasses.replace(cfg.bdg_fit, seed=cfg.seed, threads=cfg.threads, frontend=fe,
                               data=window, model=resolve_config(ModelConfig(preset="waibel")))
    t0 = time.time()
    model, fitted = train_run(tcfg, task, out / "bdg")
    logits = predict_features(model, task.x_test)
    pred = logits.argmax(1)
    cm = confusion_matrix(task.y_test.numpy(), pred, len(task.labels))
    plot_confusion(cm, task.labels, out / "bdg_confusion.png", title="/b/ /d/ /g/ (waibel preset)")
    return {"accuracy": accuracy(logits, task.y_test), "paper_accuracy":
            WAIBEL_1989_ACCURACY, "labels": task.labels, "confusion": cm.tolist(),
            "data": task.info, "train_seconds": round(time.time() - t0, 1), "run": "bdg",
            "final_loss": fitted["history"][-1]["train_loss"],
            "model": summary(model, task.in_dim)}


def train_run(tcfg: TrainConfig, task, run_dir: Path):
    """(model, training metrics): the one trainer on the task's cached features, writing the run
    folder `run_dir`; an unfinished run there is resumed, a finished one reloaded."""
    import torch
    from tdnn import runs
    from tdnn.models import build_model
    from tdnn.train import fit
    from tdnn.train_data import FeatureData

    torch.set_num_threads(tcfg.threads)
    torch.manual_seed(tcfg.seed)
    model = build_model(tcfg.model, task.in_dim, len(task.labels))
    data = FeatureData(task.x_train, task.y_train, task.labels, tcfg.data.crop_frames, tcfg.seed)
    return model, fit(model, data, tcfg, run_dir, resume=(run_dir / runs.LAST).is_file())


def _plot_boundary(blur: dict, path: Path) -> None:
    from tdnn.experiments.plots import boundary_curves
    if blur["n"]:
        boundary_curves({"TDNN": blur}, path, title=f"posteriors around {blur['n']} boundaries")


def report_markdown(metrics: dict) -> str:
    """The figures of both stages as a short Markdown report."""
    lines = ["# Phoneme recipe", ""]
    if "phones" in metrics:
        m = metrics["phones"]
        lines += ["## Frame phone classification (39 folded classes)", "",
                  f"- data: {m['data']}",
                  f"- model: {m['model']['params']} parameters, receptive field "
                  f"{m['model']['receptive_field_frames']} frames; trained in {m['train_seconds']} s",
                  f"- frame accuracy: {100 * m['frame_accuracy']:.1f}%",
                  f"- phone error rate (repeats collapsed, edit distance): {100 * m['per']:.1f}% "
                  f"raw argmax, {100 * m['smoothed']['per']:.1f}% after averaging posteriors "
                  f"over {m['smooth_frames']} frames",
                  "", "| boundaries within | precision % | recall % | F1 % | smoothed P % | "
                  "smoothed R % | smoothed F1 % |", "|---|---:|---:|---:|---:|---:|---:|"]
        for key, b in m["boundary"].items():
            sm = m["smoothed"]["boundary"][key]
            lines.append(f"| ±{key[2:]} frames | {100 * b['precision']:.1f} | "
                         f"{100 * b['recall']:.1f} | {100 * b['f1']:.1f} | "
                         f"{100 * sm['precision']:.1f} | {100 * sm['recall']:.1f} | "
                         f"{100 * sm['f1']:.1f} |")
        lines.append("")
    if "bdg" in metrics:
        m = metrics["bdg"]
        lines += ["## /b/ /d/ /g/ (Waibel et al. 1989 network)", "",
                  f"- data: {m['data']}",
                  f"- model: {m['model']['params']} parameters; trained in {m['train_seconds']} s",
                  f"- accuracy: {100 * m['accuracy']:.1f}% (paper: "
                  f"{100 * m['paper_accuracy']:.1f}%, one speaker; here held-out voices)", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the stages; metrics.json and report.md land in --out."""
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides) + ([f"seed={args.seed}"] if args.seed is not None else [])
    cfg = config.load(PhonemesConfig, args.config, overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    config.save(cfg, args.out / "config.yaml")
    phones_root, bdg_root, failed = stage_data(cfg, args)
    metrics: dict = {"seed": cfg.seed, "config": dataclasses.asdict(cfg)}
    if "phones" not in args.skip:
        metrics["phones"] = stage_phones(cfg, phones_root, args.out)
        print(f"phones: frame accuracy {100 * metrics['phones']['frame_accuracy']:.1f}%, "
              f"PER {100 * metrics['phones']['per']:.1f}%", flush=True)
    if "bdg" not in args.skip:
        metrics["bdg"] = stage_bdg(cfg, bdg_root, args.out)
        print(f"bdg: accuracy {100 * metrics['bdg']['accuracy']:.1f}% "
              f"(paper {100 * WAIBEL_1989_ACCURACY:.1f}%)", flush=True)
    from tdnn import runs
    runs.write_json(metrics, args.out / "metrics.json")
    atomic_write_text(args.out / "report.md", report_markdown(metrics))
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'report.md'}")
    return 1 if failed else 0


if __name__ == "__main__":  # same as `tdnn recipe phonemes ...`, user errors as one line
    from tdnn.cli import main as tdnn_main

    sys.exit(tdnn_main(["recipe", "phonemes", *sys.argv[1:]]))
