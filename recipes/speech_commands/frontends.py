"""Log-mel TDNN vs speech_embedding TDNN on the same eSpeak corpus, scored on three voice sets.

    tdnn prepare synth-commands --out data/sc_train --words commands --speakers 500 \
        --exclude-accents en-029,en-gb-scotland --seed 0
    tdnn prepare synth-commands --out data/sc_dev --words commands --speakers 60 \
        --accents en-029,en-gb-scotland --seed 1 --noise-seconds 0
    tdnn prepare heldout-tts --out data/heldout_tts --seed 0
    python -m recipes.speech_commands.frontends --out runs/frontends --train-dir data/sc_train \
        --dev-dir data/sc_dev --test-voices data/heldout_tts --seed 0
    python -m recipes.speech_commands.frontends --out runs/frontends --train-dir data/sc_train \
        --dev-dir VOICES --dev-split validation --dev-name dev_kokoro_piper --rescore --seed 0

Voice sets (disjoint): train = eSpeak, six accents (its test split: unheard speakers of those
accents); dev = eSpeak accents en-029 and en-gb-scotland, never trained on, the set choices are
made on (a second dev set, e.g. the Kokoro/Piper voices of `tdnn prepare tts-commands`, is
scored with `--rescore`); test voices = Flite/Festival, never trained on and never used for a
choice. Each arm trains with its config (config.toml: log-mel; config_embedding.toml:
speech_embedding) into OUT/<arm>, is scored on the sets (OUT/<arm>/eval.json), and the arms
found in OUT are written to --results with cluster-bootstrap 95% intervals (speakers for
eSpeak, voices for the other engines) and the frontend's cost per clip.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from tdnn import config, runs
from tdnn.data import speech_commands as sc
from tdnn.evaluate import bootstrap_interval, evaluate_examples, speaker_of, word_of

HERE = Path(__file__).parent
ARMS = {"logmel": HERE / "config.toml", "speech_embedding": HERE / "config_embedding.toml"}
EVAL = "eval.json"


def build_parser() -> argparse.ArgumentParser:
    """Options of the frontend comparison."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder of the runs (one per arm)")
    p.add_argument("--train-dir", type=Path, required=True, help="eSpeak training corpus")
    p.add_argument("--dev-dir", type=Path, required=True, help="dev voices (scored whole)")
    p.add_argument("--dev-split", default="all", choices=("all", "validation", "test"),
                   help="part of --dev-dir scored (validation: its validation_list.txt)")
    p.add_argument("--dev-voice", default=None, metavar="REGEX",
                   help="dev clusters for the intervals: the first match of REGEX in the "
                        "speaker id (default: the whole speaker id)")
    p.add_argument("--dev-name", default="dev_voices",
                   help="name of the dev set in the results (another name adds a second dev set)")
    p.add_argument("--test-voices", type=Path, default=None,
                   help="Flite/Festival voices (scored whole; test only: leave out while choosing)")
    p.add_argument("--arm", action="append", choices=sorted(ARMS), default=None,
                   help="train and score only this arm (repeatable; default: both)")
    p.add_argument("--seed", type=int, default=0, help="training and bootstrap seed")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="TrainConfig override for every arm trained")
    p.add_argument("--results", type=Path, default=HERE / "results" / "frontends.json",
                   help="JSON written from every scored arm in --out")
    p.add_argument("--rescore", action="store_true",
                   help="score trained arms again (e.g. on --test-voices once a choice is made) "
                        "without training")
    p.add_argument("--table", action="store_true",
                   help="only print the Markdown table of the --results JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train and score the arms asked for, then write the results of all scored arms."""
    args = build_parser().parse_args(argv)
    if args.table:
        print(table(runs.read_json(args.results)))
        return 0
    for arm in args.arm or list(ARMS):
        run_arm(arm, args)
    results = collect(args)
    runs.write_json(results, args.results)
    print(table(results))
    print(f"{args.results} written")
    return 0


def table(results: dict) -> str:
    """Markdown rows: per arm and voice set, all-words and ten-keyword accuracy with intervals."""
    def cell(m: dict) -> str:
        lo, hi = m["interval"]
        return f"{100 * m['accuracy']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] ({m['n']})"

    names = sorted({s for r in results["arms"].values() for s in r["sets"]})
    lines = ["| frontend | params | s/epoch | frontend ms/clip | "
             + " | ".join(f"{n}: all words | {n}: ten keywords" for n in names) + " |",
             "|---|---:|---:|---:|" + "---:|---:|" * len(names)]
    for arm, r in results["arms"].items():
        sets = [r["sets"].get(n) for n in names]
        lines.append(f"| {arm} | {r['summary']['params']:,} | {r['train_seconds_per_epoch']:.1f} | "
                     f"{r['frontend_ms_per_clip']:.1f} | " + " | ".join(
                         f"{cell(m['all_words'])} | {cell(m['ten_words'])}" if m else "– | –"
                         for m in sets) + " |")
    return "\n".join(lines)


def run_arm(arm: str, args) -> None:
    """Train one arm (resuming an interrupted run) and score it into OUT/<arm>/eval.json."""
    from tdnn.train import TrainConfig, train

    run_dir = args.out / arm
    if args.rescore and (run_dir / EVAL).is_file():
        done = runs.read_json(run_dir / EVAL)
        trained = runs.read_json(run_dir / runs.METRICS)
        again = score(run_dir, args, trained, done["train_wall_seconds"])
        done["sets"].update(again["sets"])  # sets not scored again keep their figures
        runs.write_json(done, run_dir / EVAL)
        return
    if (run_dir / EVAL).is_file():
        return
    cfg = config.load(TrainConfig, ARMS[arm], [
        *args.overrides, f"data.root={args.train_dir}", f"seed={args.seed}"])
    started = time.perf_counter()
    trained = train(cfg, run_dir, resume=(run_dir / runs.LAST).is_file())
    wall = time.perf_counter() - started
    runs.write_json(score(run_dir, args, trained, wall), run_dir / EVAL)


def voice_of(row: dict) -> str:
    """Flite/Festival voice of a row (engine-voice; prosody variants and 8 kHz copies joined)."""
    return re.sub(r"-v\d+(-8k)?$", "", speaker_of(row["path"]))


def dev_cluster(row: dict, pattern: str | None) -> str:
    """Bootstrap cluster of a dev row: its speaker id, or the part of it `pattern` matches."""
    speaker = speaker_of(row["path"])
    found = re.search(pattern, speaker) if pattern else None
    return found.group(0) if found else speaker


def score(run_dir: Path, args, trained: dict, wall: float) -> dict:
    """Accuracy (all words, ten keywords) with bootstrap intervals on the three voice sets."""
    from tdnn.models import summary

    run = runs.load_run(run_dir)
    d = run.cfg.data
    sets = {
        "espeak_test": (sc.load_examples(args.train_dir, "test", d.task, args.seed,
                                         d.silence_percentage, d.unknown_percentage),
                        lambda r: speaker_of(r["path"] or None)),
        args.dev_name: (sc.load_examples(args.dev_dir, args.dev_split, d.task, 0, 0, None),
                        lambda r: dev_cluster(r, args.dev_voice)),
    }
    if args.test_voices:
        sets["test_voices_flite_festival"] = (
            sc.load_examples(args.test_voices, "all", d.task, 0, 0, None), voice_of)
    out = {"run": str(run_dir), "config": config.to_dict(run.cfg),
           "summary": summary(run.model, run.frontend.dim, run.frontend.frame_rate),
           "epochs_run": trained["epochs_run"], "best": trained["best"],
           "train_seconds_per_epoch": trained["train_seconds_per_epoch"],
           "train_wall_seconds": wall,
           "frontend_ms_per_clip": frontend_cost(run, sets[args.dev_name][0]), "sets": {}}
    for name, (examples, cluster) in sets.items():
        _, rows, errors = evaluate_examples(run, examples)
        ten = [r for r in rows if word_of(r["path"] or None) in sc.WORDS_10]
        out["sets"][name] = {
            "all_words": bootstrap_interval(rows, cluster, seed=args.seed),
            "ten_words": bootstrap_interval(ten, cluster, seed=args.seed),
            "unreadable": len(errors)}
    return out


def frontend_cost(run, examples: list, clips: int = 64) -> float:
    """Milliseconds per 1 s clip of the run's frontend on a batch of `clips` of `examples`."""
    import torch

    from tdnn import audio

    examples = [ex for ex in examples if ex.path is not None][:clips]
    waves = np.stack([sc.fit_length(audio.load(ex.path, run.sample_rate), run.clip_samples)
                      for ex in examples])
    with torch.inference_mode():
        run.frontend(torch.from_numpy(waves[:2]))  # warm-up
        started = time.perf_counter()
        run.frontend(torch.from_numpy(waves))
    return 1000 * (time.perf_counter() - started) / len(waves)


def collect(args) -> dict:
    """Every scored arm in OUT, with the data sets and seed that produced them."""
    arms = {arm: runs.read_json(args.out / arm / EVAL) for arm in ARMS
            if (args.out / arm / EVAL).is_file()}
    earlier = runs.read_json(args.results) if args.results.is_file() else {}
    return {"command": "python -m recipes.speech_commands.frontends", "seed": args.seed,
            "overrides": args.overrides,
            "train_dir": str(args.train_dir), "dev_dirs": {**earlier.get("dev_dirs", {}),
                                                          args.dev_name: str(args.dev_dir)},
            "test_voices": (str(args.test_voices) if args.test_voices
                            else earlier.get("test_voices")),
            "voice_sets": {
                "train": "eSpeak NG, accents en-us en en-gb-x-rp en-us-nyc en-gb-x-gbclan "
                         "en-gb-x-gbcwmd (500 speakers drawn, 35 words)",
                "espeak_test": "test split of the training corpus (unheard speakers, same accents)",
                "dev_voices": "eSpeak NG accents en-029, en-gb-scotland (60 speakers, seed 1); "
                              "never trained on; intervals over speakers",
                "dev_kokoro_piper": "Kokoro af_sarah am_fenrir bf_isabella bm_fable and Piper "
                                    "joe (the voices corpus's validation list, 350 clips); never "
                                    "trained on; intervals over the 5 voices",
                "test_voices_flite_festival": "Flite kal kal16 awb rms slt, Festival kal_diphone "
                                              "cmu_us_slt_arctic_hts; test only; intervals over "
                                              "the 7 voices"},
            "interval": "95% cluster bootstrap (2000 draws) over speakers or voices",
            "arms": arms}


if __name__ == "__main__":
    raise SystemExit(main())
