"""A 1x1 layer (context [0]) is one perceptron applied to every frame on its own.

The TDNN layer with context [0] equals `relu(W @ x_t + b)` computed frame by frame with a plain
`nn.Linear`; it has D*N + N weights whatever the input length; and it commutes with any
reordering of the frames (a layer with a wider context does not).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from _common import check, parse_args, save
from tdnn.layers import TDNNLayer
from tdnn.params import count_params, tdnn_layer_params


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    D, N, L = 12, 5, 30
    x = torch.randn(1, D, L)
    layer = TDNNLayer(D, N, [0], batch_norm=False)
    perceptron = torch.nn.Linear(D, N)
    with torch.no_grad():
        perceptron.weight.copy_(layer.affine.weight[:, :, 0])
        perceptron.bias.copy_(layer.affine.bias)
        y = layer(x)
        per_frame = torch.stack([torch.relu(perceptron(x[0, :, t])) for t in range(L)], dim=-1)
    diff = (y[0] - per_frame).abs().max().item()
    check("1x1 TDNN layer == the same perceptron applied frame by frame", diff < 1e-6,
          f"max |difference| {diff:.2e}")
    n = count_params(layer)
    check("1x1 layer has D*N + N parameters", n == D * N + N == tdnn_layer_params(D, N, 1),
          f"{n} = {D}*{N} + {N}")

    perm = torch.randperm(L)
    wide = TDNNLayer(D, N, [-1, 0, 1], batch_norm=False)
    with torch.no_grad():
        gap_1x1 = (layer(x[..., perm]) - layer(x)[..., perm]).abs().max().item()
        gap_wide = (wide(x[..., perm]) - wide(x)[..., perm]).abs().max().item()
    check("shuffling frames commutes with the 1x1 layer", gap_1x1 < 1e-6, f"{gap_1x1:.2e}")
    check("... but not with a context [-1, 0, 1] layer", gap_wide > 1e-2, f"{gap_wide:.2f}")

    fig, axes = plt.subplots(1, 4, figsize=(14, 3), gridspec_kw={"width_ratios": [3, 2, 3, 3]})
    axes[0].imshow(x[0], aspect="auto", cmap="viridis")
    axes[0].set(title=f"input frames x_t ({D} features)", xlabel="frame t")
    axes[1].imshow(perceptron.weight.detach(), cmap="coolwarm")
    axes[1].set(title=f"W ({N}x{D})", xlabel="input feature", ylabel="unit")
    axes[2].imshow(y[0], aspect="auto", cmap="magma")
    axes[2].set(title="1x1 TDNN layer output", xlabel="frame t", ylabel="unit")
    axes[3].imshow(per_frame, aspect="auto", cmap="magma")
    axes[3].set(title="relu(W x_t + b), frame by frame", xlabel="frame t")
    t = 10  # one frame in, one frame out: the same W for every t
    for ax in (axes[0], axes[2], axes[3]):
        ax.axvspan(t - 0.5, t + 0.5, fill=False, ec="w", lw=1.5)
    axes[0].set_title(f"input frames x_t ({D} features), x_{t} boxed")
    save(fig, args.out, "one_by_one")


if __name__ == "__main__":
    main()
