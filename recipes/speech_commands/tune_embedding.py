"""Variants of the speech_embedding keyword TDNN, trained on a finished recipe run's cached
features and scored on the two dev sets: eSpeak validation speakers and the dev voices.

    python recipes/speech_commands/tune_embedding.py --run RUN --out TUNE [--only NAME ...]

RUN is a `tdnn recipe speech-commands --engines ...` folder (the speech_embedding model, or the
log-mel TDNN with `--config config.toml`); its config.yaml and features/ copies are reused, so a
model variant costs only its training (the unknown-share variants change the training clips,
whose features are computed anew). The test split is not touched: `TUNE/tuning.json` and
`TUNE/tuning.md` hold, per variant, parameters, the clips whose features it computes (augmented
copies x training clips), the best epoch (picked on both sets together, as in the recipe) and
accuracy on the eSpeak validation speakers and on the dev voices (all their words), sorted by
the mean of the two. A variant whose folder already holds a finished run is scored, not trained
again.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path

from tdnn import config, runs
from tdnn.config import TrainConfig
from tdnn.errors import UserError
from tdnn.models import LayerSpec


def layers(*dims_contexts) -> list[LayerSpec]:
    """Layer specs from (dim, context offsets) pairs."""
    return [LayerSpec(dim=d, context=list(c)) for d, c in dims_contexts]


# Each variant: (what it changes, function of the run's config). All stay <= 100k parameters.
VARIANTS = {
    "recipe": ("the run's own config", lambda c: c),
    "epochs60": ("60 epochs", lambda c: dataclasses.replace(c, epochs=60)),
    "wide": ("context layers 96 wide (head 128)", lambda c: _model(c, layers(
        (96, (-1, 0, 1)), (96, (-1, 0, 1)), (96, (-2, 0, 2)), (128, (0,))))),
    "deep": ("a fourth context layer (+-2): 13 frames seen", lambda c: _model(c, layers(
        (64, (-1, 0, 1)), (64, (-1, 0, 1)), (64, (-2, 0, 2)), (64, (-2, 0, 2)), (128, (0,))))),
    "dropout": ("dropout 0.1", lambda c: _model(c, dropout=0.1)),
    # The share of `_unknown_` clips in training (validation and test keep 10%): a fixed draw,
    # or a fresh draw every epoch from features of every unknown clip (3x the clips).
    "unknown20": ("20% unknown clips in training",
                  lambda c: _data(c, train_unknown_percentage=20.0)),
    **{f"resample{share}": (f"a fresh {share}% unknown draw every epoch",
                            lambda c, share=share: _data(c, resample_unknown=True,
                                                         train_unknown_percentage=float(share)))
       for share in (10, 20, 30, 50)},
    "copies2": ("2 augmented copies (not 3): a third less feature time",
                lambda c: _data(c, feature_copies=2)),
    "resample20_copy1": ("resample20 with 1 augmented copy (not 3)",
                         lambda c: _data(c, resample_unknown=True, train_unknown_percentage=20.0,
                                         feature_copies=1)),
}


def _model(cfg: TrainConfig, new_layers=None, **changes) -> TrainConfig:
    """`cfg` with its model's layers and/or fields replaced."""
    if new_layers is not None:
        changes["layers"] = new_layers
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **changes))


def _data(cfg: TrainConfig, **changes) -> TrainConfig:
    """`cfg` with fields of its data config replaced."""
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **changes))


def feature_clips(cfg: TrainConfig) -> int:
    """Clips whose features a run of `cfg` computes: augmented copies x training clips (a
    frontend run on the fly every epoch: the training clips)."""
    from tdnn.train_data import clip_data
    return max(cfg.data.feature_copies, 1) * len(clip_data(cfg).train)


def validation_probs(run, root: str, whole: bool = False):
    """Class probabilities [N, C] and targets [N] of a loaded run (or ensemble) on the validation
    split of the corpus `root`: with the run's silence/unknown shares, or `whole` (every clip, no
    silence: how the recipe scores dev voices)."""
    from tdnn.data import speech_commands as sc
    from tdnn.evaluate import predict_examples

    d = run.cfg.data
    shares = (0, None) if whole else (d.silence_percentage, d.unknown_percentage)
    examples = sc.load_examples(root, "validation", d.task, run.cfg.seed, *shares)
    probs, targets, errors = predict_examples(run, examples)
    if errors:
        raise UserError(f"{root}: {len(errors)} validation clips unreadable, e.g. "
                        f"{next(iter(errors.values()))}")
    return probs, targets


def validation_accuracy(run, root: str, whole: bool = False) -> float:
    """Accuracy of a loaded run's best model on the validation split of `root` (see
    `validation_probs`)."""
    probs, targets = validation_probs(run, root, whole)
    return float((probs.argmax(1) == targets).mean())


def tune(run_dir: Path, out: Path, names: list[str], overrides: list[str] = ()) -> dict:
    """Train each variant into out/<name> on run_dir's cached features; score on dev sets."""
    from tdnn.train import FEATURES, train

    base = config.load(TrainConfig, run_dir / "config.yaml", overrides)
    dev_root = (base.data.extra_validation or [base.data.validation_root])[0]
    if not dev_root:
        raise UserError(f"--run {run_dir}: trained without dev voices (data.extra_validation); "
                        "run the recipe with --engines or --dev-voices")
    results = {}
    for name in names:
        what, change = VARIANTS[name]
        cfg = dataclasses.replace(change(base), progress=False)
        folder = out / name
        if not (folder / runs.METRICS).is_file():
            resume = (folder / runs.LAST).is_file()  # an interrupted variant continues
            if folder.exists() and not resume:
                raise UserError(f"{folder}: exists and holds no run of this script; name "
                                "another --out")
            if not resume:
                shutil.copytree(run_dir / FEATURES, folder / FEATURES)
            print(f"[{name}] {what}", flush=True)
            train(cfg, folder, resume=resume)
        trained = runs.read_json(folder / runs.METRICS)
        run = runs.load_run(folder)
        espeak = validation_accuracy(run, cfg.data.root)
        dev = validation_accuracy(run, dev_root, whole=True)
        results[name] = {"what": what, "params": sum(p.numel() for p in run.model.parameters()),
                         "feature_clips": feature_clips(cfg),
                         "epochs": cfg.epochs, "best_epoch": trained["best"]["epoch"],
                         "dev_voices": dev, "espeak_validation": espeak, "mean": (dev + espeak) / 2}
        print(f"[{name}] dev voices {100 * dev:.2f}%, eSpeak validation {100 * espeak:.2f}%",
              flush=True)
    return results


def markdown(results: dict) -> str:
    """The tuning table, best mean first."""
    lines = ["| variant | what | params | feature clips | best epoch | dev voices | "
             "eSpeak validation | mean |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["mean"]):
        lines.append(f"| {name} | {r['what']} | {r['params']:,} | {r['feature_clips']:,} | "
                     f"{r['best_epoch']}/{r['epochs']}"
                     f" | {100 * r['dev_voices']:.2f}% | {100 * r['espeak_validation']:.2f}% | "
                     f"{100 * r['mean']:.2f}% |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="finished speech_embedding recipe run")
    p.add_argument("--out", type=Path, required=True, help="folder for the variants' runs")
    p.add_argument("--only", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS),
                   help="variants to run (default: all)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change the run's config for every variant (e.g. data.extra_validation)")
    args = p.parse_args(argv)
    results = tune(args.run, args.out, args.only, args.overrides)
    runs.write_json(results, args.out / "tuning.json")
    (args.out / "tuning.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
