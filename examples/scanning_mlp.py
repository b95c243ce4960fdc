"""A scanning MLP is a convolution.

One MLP with shared weights applied at every window of frames (`ScanningMLP`, a plain loop)
gives the same outputs as a stack of TDNN layers (dilated conv1d). Backprop through the scan
sums the shared weight's gradient over the windows: the gradient autograd gives the TDNN weight
equals the sum of the gradients each window alone contributes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from _common import check, parse_args, save
from tdnn.layers import ScanningMLP, TDNNLayer, tdnn_to_mlp_weight, windows


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    D, L = 8, 40
    x = torch.randn(1, D, L)
    tdnn = torch.nn.Sequential(TDNNLayer(D, 6, [-2, -1, 0, 1, 2], batch_norm=False),
                               TDNNLayer(6, 4, [-3, 0, 3], batch_norm=False))
    mlp = ScanningMLP.from_tdnn(list(tdnn))
    y_tdnn, y_mlp = tdnn(x), mlp(x)
    diff = (y_tdnn - y_mlp).abs().max().item()
    check("ScanningMLP (loop over windows) == TDNN stack (conv1d)", diff < 1e-5,
          f"max |difference| {diff:.2e}")

    # Backprop: the shared first-layer weight vs the sum of per-window gradients.
    layer = tdnn[0]
    g = torch.randn(1, 6, L)  # an arbitrary upstream gradient dLoss/dy
    (layer(x) * g).sum().backward()
    shared = tdnn_to_mlp_weight(layer.affine.weight.grad)          # [out, K*in]
    w_mlp = tdnn_to_mlp_weight(layer.affine.weight.detach())
    win = windows(x, layer.context)[0].permute(1, 2, 0).reshape(L, -1)  # [L, K*in], offset-major
    per_window = []
    for t in range(L):
        w = w_mlp.clone().requires_grad_(True)
        out = torch.relu(w @ win[t] + layer.affine.bias.detach())
        (out * g[0, :, t]).sum().backward()
        per_window.append(w.grad)
    per_window = torch.stack(per_window)                            # [L, out, K*in]
    total = per_window.sum(0)
    gdiff = (total - shared).abs().max().item()
    print(f"shared weight gradient, first row (first 6 entries): {shared[0, :6].tolist()}")
    print(f"sum of {L} per-window gradients, same entries:        {total[0, :6].tolist()}")
    check("shared-weight gradient == sum of the per-window gradients", gdiff < 1e-5,
          f"max |difference| {gdiff:.2e}")

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for c in range(2):
        axes[0].plot(y_mlp[0, c].detach(), lw=3, alpha=0.4, label=f"ScanningMLP, unit {c}")
        axes[0].plot(y_tdnn[0, c].detach(), "k--", lw=1, label=f"TDNN (conv1d), unit {c}")
    axes[0].set(title="same outputs at every frame", xlabel="frame")
    axes[0].legend(fontsize=7)
    axes[1].imshow(per_window[:, 0, :].T, aspect="auto", cmap="coolwarm")
    axes[1].set(title="per-window gradient of unit 0's weights", xlabel="window (frame t)",
                ylabel="weight (offset x input)")
    axes[2].plot(shared[0], lw=3, alpha=0.4, label="autograd, shared weight")
    axes[2].plot(total[0], "k--", lw=1, label="sum over windows")
    axes[2].set(title="shared gradient = sum over windows", xlabel="weight (offset x input)")
    axes[2].legend(fontsize=7)
    save(fig, args.out, "scanning_mlp")


if __name__ == "__main__":
    main()
