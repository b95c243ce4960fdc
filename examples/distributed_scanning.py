"""Distributed scanning: the receptive field grows layer by layer; the weights do not.

Left: which frames one output of the `kws` and `kaldi` presets depends on, drawn from the
models' own context offsets (and checked against autograd: the input frames with a nonzero
gradient). Right: parameters of undistributed scanning (one MLP sees all W frames at once,
W*D*N1 + N1*N2 + ...) vs distributed scanning (a TDNN, K*D*N1 + K*N1*N2 + ...) as the
receptive field W grows, from `tdnn.params`, checked against the parameters of built modules.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from _common import check, parse_args, save
from tdnn.layers import ScanningMLP, TDNNLayer
from tdnn.models import build_model, preset_config
from tdnn.params import (count_params, distributed_params, model_scanning, undistributed_params,
                         window_frames)


def dependency_sets(time_ops) -> list[set[int]]:
    """Frames of each level (input first) that output frame 0 of the last level depends on."""
    levels = [{0}]
    for offsets, stride in reversed(time_ops):
        levels.append({t * stride + c for t in levels[-1] for c in offsets})
    return levels[::-1]


def gradient_support(name: str, in_dim: int = 4, length: int = 121) -> set[int]:
    """Input frames with a nonzero gradient of the centre output of a linear copy of the preset."""
    cfg = preset_config(name)
    cfg.activation, cfg.batch_norm, cfg.dropout = "none", False, 0.0
    trunk = build_model(cfg, in_dim, 3).trunk.double()
    x = torch.randn(1, in_dim, length, dtype=torch.float64, requires_grad=True)
    centre = length // 2
    trunk(x)[0, :, centre].sum().backward()
    return {t - centre for t in torch.nonzero(x.grad[0].abs().sum(0) > 0).flatten().tolist()}


def draw_field(ax: plt.Axes, name: str) -> None:
    """Levels as rows of dots; the frames the top output depends on filled, with their links."""
    model = build_model(preset_config(name), 40, 12)
    ops = model.time_ops
    levels = dependency_sets(ops)
    lo, hi = min(levels[0]), max(levels[0])
    for row, frames in enumerate(levels):
        ax.scatter(range(lo, hi + 1), [row] * (hi - lo + 1), s=4, c="0.85")
        ax.scatter(sorted(frames), [row] * len(frames), s=10, c="C0" if row else "C1", zorder=3)
    for row, (offsets, stride) in enumerate(ops):
        for t in levels[row + 1]:
            for c in offsets:
                ax.plot([t * stride + c, t], [row, row + 1], c="C0", lw=0.3, alpha=0.5)
    labels = ["input"] + [f"{list(o)}" for o, _ in ops]
    ax.set_yticks(range(len(levels)), labels, fontsize=7)
    ax.set(title=f"'{name}': receptive field {model.receptive_field} frames",
           xlabel="input frame offset")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    for name in ("kws", "kaldi"):
        model = build_model(preset_config(name), 40, 12)
        drawn = dependency_sets(model.time_ops)[0]
        check(f"'{name}': frames drawn == frames with nonzero gradient",
              drawn == gradient_support(name),
              f"{len(drawn)} frames, span {min(drawn)}..{max(drawn)}")
        check(f"'{name}': drawn span == model.receptive_field",
              max(drawn) - min(drawn) + 1 == model.receptive_field, f"{model.receptive_field}")

    # Parameters as the receptive field grows: n layers with context [-d, 0, d], the dilation d
    # doubling per layer, so W = 2**(n+1) - 1 grows exponentially, the weights only linearly.
    D, N = 40, 64
    ws, dist, undist = [], [], []
    for n in range(1, 8):
        contexts, dims = [[-2**i, 0, 2**i] for i in range(n)], [N] * n
        w = window_frames(contexts)
        ws.append(w)
        dist.append(distributed_params(D, dims, contexts))
        undist.append(undistributed_params(w, D, dims))
        if n in (1, 4):
            layers = [TDNNLayer(D if i == 0 else N, N, c, batch_norm=False)
                      for i, c in enumerate(contexts)]
            flat = ScanningMLP(D, dims, [range(-(w // 2), w // 2 + 1)] + [[0]] * (n - 1))
            check(f"{n} layers: distributed_params == parameters of the built TDNN",
                  dist[-1] == sum(count_params(m) for m in layers), f"{dist[-1]:,}")
            check(f"{n} layers: undistributed_params == parameters of the one-window MLP",
                  undist[-1] == count_params(flat), f"{undist[-1]:,}")
    check("distributed scanning needs fewer parameters for every W > 3",
          all(d < u for w, d, u in zip(ws, dist, undist) if w > 3),
          f"W={ws[-1]}: {undist[-1]:,} vs {dist[-1]:,}")
    kws = model_scanning(build_model(preset_config("kws"), D, 12), D)

    fig, axes = plt.subplots(1, 3, figsize=(16, 4), gridspec_kw={"width_ratios": [3, 2, 2]})
    draw_field(axes[0], "kws")
    draw_field(axes[1], "kaldi")
    axes[2].plot(ws, undist, "o-", ms=3, label="undistributed: W*D*N1 + N1*N2 + ...")
    axes[2].plot(ws, dist, "s-", ms=3, label="distributed: 3*D*N1 + 3*N1*N2 + ...")
    axes[2].plot([kws["window_frames"]] * 2, [kws["undistributed"], kws["distributed"]], "k*",
                 label=f"'kws' preset trunk (W={kws['window_frames']})")
    axes[2].set(xscale="log", yscale="log", xlabel="receptive field W (frames)",
                ylabel="parameters",
                title=f"D={D}, N={N}, contexts [-d,0,d], d = 1, 2, 4, ...")
    axes[2].legend(fontsize=7)
    save(fig, args.out, "distributed_scanning")


if __name__ == "__main__":
    main()
