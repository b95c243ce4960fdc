"""Max-pooling in time buys jitter invariance; phone order costs it much less than a shift.

A spoken word ("stop", eSpeak NG) goes through a TDNN trunk whose last layer is max-pooled over
w frames (stride w; w = 1 is no pooling). Shifting the word by k frames changes the trunk output
less the wider the pooling; reordering its phones (s t o p -> p o t s: the same frames in a
different order) changes it less too, but far less so: pooling over the whole clip cuts the
change from a 1-3 frame shift about ten-fold and the change from reordering only about
two-fold, because the layers below the pooling still see the order within their own field.
The weights are random (the effect is the architecture's, before any training); the trained
pooling ablation (recipes/pooling_ablation) measures what it costs a classifier.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import soxr
import torch

from _common import check, parse_args, save
from data_prep import espeak, phonemap
from tdnn.features import Frontend, FrontendConfig
from tdnn.models import LayerSpec, ModelConfig, build_model

WIDTHS = (1, 2, 4, 8, 16, 32, 101)  # 101 frames = the whole 1 s clip: a bag of features
SHIFTS = range(1, 9)
ONSET = 4000  # samples: where the word starts in the 1 s clip


def spoken(word: str) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """The word at 16 kHz and its phones as (TIMIT label, start, end) in samples."""
    syn = espeak.synthesize(word, "en-us", rate=150)
    scale = 16000 / syn.sample_rate
    phones = [(phonemap.to_timit(p.name), round(p.start * scale), round(p.end * scale))
              for p in syn.phonemes if p.end > p.start]
    return soxr.resample(syn.wave, syn.sample_rate, 16000), [p for p in phones if p[0] != "pau"]


def clip(wave: np.ndarray, start: int) -> np.ndarray:
    """A 1 s clip with `wave` at sample `start` over a faint fixed noise floor."""
    out = 1e-4 * np.random.default_rng(0).standard_normal(16000)
    out[start:start + len(wave)] += wave
    return out.astype(np.float32)


def frame_spans(phones, hop: int) -> list[tuple[str, int, int]]:
    """Phone spans in frames of the clip (frame i is centred at sample i*hop)."""
    return [(p, round((ONSET + s) / hop), round((ONSET + e) / hop)) for p, s, e in phones]


def reorder(feats: torch.Tensor, spans, order: list[int]) -> torch.Tensor:
    """Features [D, L] with the phone segments rearranged in `order` (same frames, new order)."""
    lo, hi = spans[0][1], spans[-1][2]
    pieces = [feats[:, spans[i][1]:spans[i][2]] for i in order]
    return torch.cat([feats[:, :lo], *pieces, feats[:, hi:]], dim=1)


def reordered_spans(spans, order: list[int]) -> list[tuple[str, int, int]]:
    """Phone spans after `reorder`: the same lengths, laid end to end in the new order."""
    start, out = spans[0][1], []
    for i in order:
        length = spans[i][2] - spans[i][1]
        out.append((spans[i][0], start, start + length))
        start += length
    return out


def trunk(width: int, seed: int) -> torch.nn.Module:
    """Two TDNN layers, the last max-pooled over `width` frames (same weights for every width)."""
    torch.manual_seed(seed)
    pool = dict(pool="max", pool_width=width, pool_stride=width) if width > 1 else {}
    cfg = ModelConfig(layers=[LayerSpec(64, [-2, -1, 0, 1, 2]),
                              LayerSpec(64, [-2, -1, 0, 1, 2], **pool)], batch_norm=False)
    return build_model(cfg, 40, 2).trunk.eval()


@torch.no_grad()
def change(net: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative change of the trunk output: ||f(b) - f(a)|| / ||f(a)||."""
    ya, yb = net(a[None]), net(b[None])
    return float((yb - ya).norm() / ya.norm())


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    frontend = Frontend(FrontendConfig(normalize="meanvar"))
    wave, phones = spoken("stop")
    spans = frame_spans(phones, frontend.hop_length)
    feats = {k: torch.from_numpy(frontend.extract(clip(wave, ONSET + k * frontend.hop_length)).T)
             for k in [0, *SHIFTS]}
    order = [3, 2, 1, 0]  # s t aa p -> p aa t s
    swapped = reorder(feats[0], spans, order)
    print("phones of 'stop' (frames):", spans)

    seeds = range(args.seed, args.seed + 5)  # averaged over 5 random trunks
    jitter = {w: [np.mean([change(trunk(w, s), feats[0], feats[k]) for s in seeds])
                  for k in SHIFTS] for w in WIDTHS}
    order_change = {w: np.mean([change(trunk(w, s), feats[0], swapped) for s in seeds])
                    for w in WIDTHS}
    for w in WIDTHS:
        print(f"pool width {w:3d}: shift 1..8 frames -> change {np.round(jitter[w], 2).tolist()}; "
              f"phones reordered -> change {order_change[w]:.2f}")
    small = {w: np.mean(jitter[w][:3]) for w in WIDTHS}
    check("wider pooling, smaller change from a 1-3 frame shift",
          all(small[a] > small[b] for a, b in zip(WIDTHS, WIDTHS[1:])),
          " > ".join(f"{small[w]:.2f}" for w in WIDTHS))
    check("pooling over 32 frames cuts that change 3x or more", small[32] * 3 <= small[1],
          f"{small[1]:.2f} -> {small[32]:.2f}")
    check("the same pooling hides part of the phone order too",
          order_change[101] < 0.6 * order_change[1],
          f"{order_change[1]:.2f} -> {order_change[101]:.2f}")
    check("but it cuts the shift change far more than the order change",
          small[101] / small[1] < 0.5 * order_change[101] / order_change[1],
          f"shift x{small[101] / small[1]:.2f}, order x{order_change[101] / order_change[1]:.2f}")

    other, other_phones = spoken("pots")
    real = frontend.extract(clip(other, ONSET)).T
    fig = plt.figure(figsize=(14, 7))
    grid = fig.add_gridspec(2, 3)
    views = [(feats[0], spans, "'stop'"),
             (swapped, reordered_spans(spans, order), "'stop', phones reordered"),
             (torch.from_numpy(real), frame_spans(other_phones, frontend.hop_length),
              "'pots' as spoken")]
    for i, (f, segs, title) in enumerate(views):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(f[:, 15:75], origin="lower", aspect="auto", cmap="magma", extent=(15, 75, 0, 40))
        for j, (label, s, e) in enumerate(segs):
            ax.axvline(s, c="w", lw=0.8)
            ax.text((s + e) / 2, 36 - 3 * (j % 2), label, c="w", ha="center", fontsize=8)
        ax.set(title=title, xlabel="frame", ylabel="log-mel band")
    ax = fig.add_subplot(grid[1, :2])
    for w in WIDTHS:
        ax.plot(list(SHIFTS), jitter[w], "o-", ms=3, label=f"pool {w}" if w > 1 else "no pooling")
    ax.set(title="output change when the word shifts by k frames", xlabel="shift k (frames)",
           ylabel="||f(shifted) - f|| / ||f||")
    ax.legend(fontsize=7, ncol=2)
    ax = fig.add_subplot(grid[1, 2])
    ax.plot(WIDTHS, [small[w] for w in WIDTHS], "o-", label="shift by 1-3 frames (want small)")
    ax.plot(WIDTHS, [order_change[w] for w in WIDTHS], "s-", label="phones reordered (want large)")
    ax.set(xscale="log", title="the price of pooling", xlabel="max-pool width (frames)",
           ylabel="relative output change")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, args.out, "pooling_jitter")


if __name__ == "__main__":
    main()
