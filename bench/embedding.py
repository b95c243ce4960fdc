"""What the speech_embedding frontend costs in training and streaming, against log-mel.

    python bench/embedding.py [--repeats 5] [--out bench/results/embedding.json]

Per 1 s clip, batches of 64, one thread (torch and ONNX Runtime): the log-mel frontend, the
speech_embedding frontend, the recipe's waveform augmentation, and one training step (forward,
backward, AdamW) of the recipe's log-mel TDNN and of `kws_embed` on embedding frames. From these,
one epoch of the recipe's 4,836 clips with features on the fly vs cached (`data.feature_copies`),
and the streaming real-time factor (chunks of 100 ms). The load average is recorded because
other processes share the cores; each figure is the median of `--repeats` runs after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tdnn.augment import AugmentConfig, Augmenter
from tdnn.features import Frontend, FrontendConfig
from tdnn.inference import stream_scores
from tdnn.models import ModelConfig, build_model

BATCH, CLIP, EPOCH_CLIPS = 64, 16000, 4836
RECIPE_KWS = ModelConfig(preset="kws", dropout=0.0)  # dropout 0.0 is the default: preset keeps 0.1


def timed(fn, repeats: int) -> float:
    """Median seconds of `fn()` over `repeats` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def speechlike(n: int, batch: int, seed: int = 0) -> np.ndarray:
    """Gliding tones over faint noise, [batch, n] float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f = 200 + 300 * rng.random((batch, 1))
    return (0.3 * np.sin(2 * np.pi * f * t * (1 + t)) + 0.01 * rng.standard_normal((batch, n))
            ).astype(np.float32)


def step_ms(model: torch.nn.Module, feats: torch.Tensor, repeats: int) -> float:
    """Milliseconds per clip of one training step on `feats`."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    y = torch.zeros(len(feats), dtype=torch.long)

    def step():
        loss = F.cross_entropy(model(feats), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return 1000 * timed(step, repeats) / len(feats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "embedding.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    waves = speechlike(CLIP, BATCH)
    x = torch.from_numpy(waves)
    logmel = Frontend(FrontendConfig(normalize="mean"))
    embed = Frontend(FrontendConfig(kind="speech_embedding"))
    aug = Augmenter(AugmentConfig(vtlp_prob=0.0), None, 16000)
    ms = {
        "logmel_frontend": 1000 * timed(lambda: logmel(x), args.repeats) / BATCH,
        "embedding_frontend": 1000 * timed(lambda: embed(x), args.repeats) / BATCH,
        "augmentation": 1000 * timed(lambda: [aug(w, i) for i, w in enumerate(waves)],
                                     args.repeats) / BATCH,
    }
    torch.manual_seed(0)
    with torch.no_grad():
        f_mel, f_emb = logmel(x), embed(x)
    ms["logmel_tdnn_step"] = step_ms(build_model(RECIPE_KWS, 40, 12).train(), f_mel, args.repeats)
    ms["embed_tdnn_step"] = step_ms(build_model(ModelConfig(preset="kws_embed"), 96, 12).train(),
                                    f_emb, args.repeats)
    epoch = {
        "logmel_on_the_fly": EPOCH_CLIPS * (ms["augmentation"] + ms["logmel_frontend"]
                                            + ms["logmel_tdnn_step"]) / 1000,
        "embedding_on_the_fly": EPOCH_CLIPS * (ms["augmentation"] + ms["embedding_frontend"]
                                               + ms["embed_tdnn_step"]) / 1000,
        "embedding_cached": EPOCH_CLIPS * ms["embed_tdnn_step"] / 1000,
        "embedding_cache_per_copy": EPOCH_CLIPS * (ms["augmentation"]
                                                   + ms["embedding_frontend"]) / 1000,
    }
    model = build_model(ModelConfig(preset="kws_embed"), 96, 12).eval()
    long = speechlike(10 * CLIP, 1, 1)[0]
    rtf = timed(lambda: stream_scores(model, embed, long, CLIP, 1600), max(1, args.repeats // 2)) / 10
    result = {"ms_per_clip": ms, "epoch_seconds": epoch, "stream_rtf_100ms_chunks": rtf,
              "batch": BATCH, "threads": 1, "load_average": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| per 1 s clip | ms |\n|---|---:|")
    for k, v in ms.items():
        print(f"| {k} | {v:.2f} |")
    print("\n| one epoch of 4,836 clips | s |\n|---|---:|")
    for k, v in epoch.items():
        print(f"| {k} | {v:.1f} |")
    print(f"\nstreaming real-time factor (speech_embedding, 100 ms chunks): {rtf:.3f}")
    print(f"load average {result['load_average']}; {args.out} written")


if __name__ == "__main__":
    main()
