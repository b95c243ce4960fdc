"""Training throughput per stage: where a keyword-spotting step spends its time, per 1 s clip.

    python bench/train.py                       # 512 clips, batches of 64, 3 rounds (~2-4 min)
    python bench/train.py --clips 128 --rounds 1     # a quick look

Stages, measured side by side in one run (interleaved round by round, so they see the same
machine load), one torch thread, seed given:
  data loading        ClipDataset reads, resamples and fits WAV clips (no augmentation)
  numpy augmentation  tdnn.augment.Augmenter, one clip at a time (the Dataset's old path)
  torch augmentation  tdnn.batch_augment.BatchAugmenter on the batch
  frontend            log-mel of the batch (the recipe's frontend)
  model step          forward, backward and AdamW step of the recipe's TDNN on those features
Both augmenters run with the recipe's settings (VTLP off) and with the defaults (VTLP on half
the clips). Each figure is the best round, as wall clock and per CPU-second (other users of a
shared machine disturb the CPU figure less). Prints a table and the ratio augmentation / model
step per clip, and writes bench/results/train.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy/scipy single-threaded, like torch below

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

from frontend import make_clips  # bench/frontend.py: speech-like one-second clips
from tdnn.augment import Augmenter
from tdnn.batch_augment import BatchAugmenter
from tdnn.config import AugmentConfig
from tdnn.data.speech_commands import ClipDataset, Example
from tdnn.features import Frontend, FrontendConfig
from tdnn.models import ModelConfig, build_model

SR = 16000
RESULTS = Path(__file__).parent / "results" / "train.json"
RECIPE_MODEL = ModelConfig(preset="kws", dropout=0.0)  # recipes/speech_commands/config.toml
RECIPE_FRONTEND = FrontendConfig(n_mels=40, normalize="mean")
AUGMENT = {"recipe (VTLP off)": AugmentConfig(vtlp_prob=0.0),
           "defaults (VTLP 0.5)": AugmentConfig()}
N_CLASSES = 12


def cpu_seconds() -> float:
    """CPU time of this process (other users' load excluded)."""
    t = os.times()
    return t.user + t.system


def write_corpus(clips: np.ndarray, root: Path) -> list[Example]:
    """One 16-bit WAV per clip in a word folder; the Examples that read them."""
    examples = []
    for i, y in enumerate(clips):
        path = root / "yes" / f"{i:08x}_nohash_0.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, SR, subtype="PCM_16")
        examples.append(Example(path, "yes"))
    return examples


def stages(clips: np.ndarray, examples: list[Example], noises: list[np.ndarray],
           batch_size: int, seed: int) -> dict:
    """stage name -> function processing every clip once (batches of `batch_size`)."""
    dataset = ClipDataset(examples, ["yes"], SR, sample_rate=SR, seed=seed)
    frontend = Frontend(RECIPE_FRONTEND)
    model = build_model(RECIPE_MODEL, frontend.dim, N_CLASSES).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = [torch.from_numpy(clips[i:i + batch_size]) for i in range(0, len(clips), batch_size)]
    with torch.no_grad():
        feats = [frontend(b) for b in batches]
    targets = torch.Generator().manual_seed(seed)
    labels = [torch.randint(0, N_CLASSES, (len(b),), generator=targets) for b in batches]

    def step():
        for x, y in zip(feats, labels):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def frontend_pass():
        with torch.no_grad():
            for b in batches:
                frontend(b)

    out = {"data loading (ClipDataset, no augmentation)":
           lambda: [dataset[i] for i in range(len(dataset))]}
    for name, cfg in AUGMENT.items():
        numpy_aug = Augmenter(cfg, noises, SR)
        torch_aug = BatchAugmenter(cfg, noises, SR)
        out[f"numpy augmentation, per clip, {name}"] = (
            lambda a=numpy_aug: [a(y, np.random.default_rng([seed, i]))
                                 for i, y in enumerate(clips)])
        out[f"torch augmentation, per batch, {name}"] = (
            lambda a=torch_aug: [a(b, g) for g in [torch.Generator().manual_seed(seed)]
                                 for b in batches])
    out["frontend (log-mel, batched)"] = frontend_pass
    out["model step (forward, backward, AdamW)"] = step
    return out


def timed_rounds(methods: dict, rounds: int) -> dict:
    """Best (wall, CPU) seconds per method over interleaved rounds, after one warm-up round."""
    best = {name: [float("inf"), float("inf")] for name in methods}
    for r in range(rounds + 1):
        for name, fn in methods.items():
            wall, cpu = time.perf_counter(), cpu_seconds()
            fn()
            if r > 0:
                best[name][0] = min(best[name][0], time.perf_counter() - wall)
                best[name][1] = min(best[name][1], cpu_seconds() - cpu)
    return best


def table(count: int, best: dict) -> tuple[list[dict], dict]:
    """Print clips/s and ms per clip of each stage, and augmentation / model step; rows, ratios."""
    rows = [{"stage": name, "wall_s": wall, "cpu_s": cpu, "clips_per_s": count / wall,
             "clips_per_cpu_s": count / cpu, "ms_per_clip": 1000 * wall / count,
             "cpu_ms_per_clip": 1000 * cpu / count} for name, (wall, cpu) in best.items()]
    print(f"\n{count} clips; wall clock, and per CPU-second")
    print(f"{'stage':<52}{'clips/s':>9}{'ms/clip':>9}{'clips/cpu-s':>13}{'cpu ms/clip':>13}")
    for r in rows:
        print(f"{r['stage']:<52}{r['clips_per_s']:>9.0f}{r['ms_per_clip']:>9.3f}"
              f"{r['clips_per_cpu_s']:>13.0f}{r['cpu_ms_per_clip']:>13.3f}")
    step = next(r for r in rows if r["stage"].startswith("model step"))
    ratios = {}
    print("\naugmentation / model step, per clip (wall, CPU)")
    for r in rows:
        if r["stage"].startswith(("numpy", "torch")):
            ratios[r["stage"]] = {"wall": r["wall_s"] / step["wall_s"],
                                  "cpu": r["cpu_s"] / step["cpu_s"]}
            print(f"{r['stage']:<52}{ratios[r['stage']]['wall']:>9.2f}"
                  f"{ratios[r['stage']]['cpu']:>9.2f}")
    return rows, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=512, help="one-second clips per stage")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (best is kept)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch of the batched stages")
    parser.add_argument("--seed", type=int, default=0, help="clips, noise and augmentation draws")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    load_before = os.getloadavg()
    clips = make_clips(args.clips, args.seed)
    rng = np.random.default_rng([args.seed, 1])
    noises = [(0.1 * rng.standard_normal(30 * SR)).astype(np.float32) for _ in range(3)]
    with tempfile.TemporaryDirectory() as tmp:
        examples = write_corpus(clips, Path(tmp))
        best = timed_rounds(stages(clips, examples, noises, args.batch_size, args.seed),
                            args.rounds)
    rows, ratios = table(args.clips, best)
    result = {
        "command": "python " + " ".join(sys.argv),
        "settings": {"clips": args.clips, "rounds": args.rounds, "batch_size": args.batch_size,
                     "seed": args.seed, "torch_threads": args.threads,
                     "model": "kws preset, dropout 0 (recipes/speech_commands/config.toml)",
                     "frontend": "log-mel, 40 bands, mean normalisation"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "stages": rows,
        "augmentation_over_model_step": ratios,
        "torch_augmentation_within_model_step": {
            name: ratio["cpu"] <= 1.0 for name, ratio in ratios.items() if "torch" in name},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
