"""Parameter accounting: the lecture's undistributed vs distributed scanning, as formulas.

Undistributed scanning: one MLP sees the whole window of W frames x D features at once,
W*D*N1 + N1*N2 + ... weights. Distributed scanning (a TDNN): layer l sees K_l outputs of the
layer below, K1*D*N1 + K2*N1*N2 + ... weights, for the same receptive field
W = 1 + sum_l (max(c_l) - min(c_l)). Bias terms add N_l per layer.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .errors import ConfigError
from .layers import TDNNLayer, parse_context


def affine_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Weights (and biases) of one fully connected map n_in -> n_out."""
    return n_in * n_out + (n_out if bias else 0)


def tdnn_layer_params(in_dim: int, out_dim: int, taps: int, bias: bool = True,
                      batch_norm: bool = False, rank: int | None = None) -> int:
    """One TDNN layer with `taps` context offsets: taps*in*out (+out), or the TDNN-F
    factorisation taps*in*rank + rank*out (+out); batch norm adds 2*out (scale and shift)."""
    if rank is None:
        n = affine_params(taps * in_dim, out_dim, bias)
    else:
        n = affine_params(taps * in_dim, rank, bias=False) + affine_params(rank, out_dim, bias)
    return n + (2 * out_dim if batch_norm else 0)


def window_frames(contexts: Sequence[Sequence[int]]) -> int:
    """Receptive field W (frames) of stride-1 layers with these context offsets."""
    return 1 + sum(max(c) - min(c) for c in map(parse_context, contexts))


def distributed_params(in_dim: int, dims: Sequence[int], contexts: Sequence[Sequence[int]],
                       bias: bool = True) -> int:
    """Distributed scan (TDNN): sum_l K_l * N_{l-1} * N_l (+ N_l), with N_0 = D."""
    if len(dims) != len(contexts):
        raise ConfigError(f"{len(dims)} layer sizes but {len(contexts)} contexts")
    sizes = [in_dim, *dims]
    return sum(affine_params(len(parse_context(c)) * n_in, n_out, bias)
               for c, n_in, n_out in zip(contexts, sizes, sizes[1:]))


def undistributed_params(window: int, in_dim: int, dims: Sequence[int], bias: bool = True) -> int:
    """Undistributed scan: the first layer sees all W*D inputs: W*D*N1 + N1*N2 + ... (+ N_l)."""
    sizes = [window * in_dim, *dims]
    return sum(affine_params(n_in, n_out, bias) for n_in, n_out in zip(sizes, sizes[1:]))


def compare_scanning(in_dim: int, dims: Sequence[int], contexts: Sequence[Sequence[int]],
                     window: int | None = None) -> dict:
    """Both scans for the same receptive field, with and without biases.

    Weight counts equal the multiply-adds per output frame of a stride-1 scan: the
    undistributed MLP recomputes everything per window, the TDNN reuses lower-layer outputs.
    """
    window = window_frames(contexts) if window is None else window
    out = {"window_frames": window, "in_dim": in_dim, "dims": list(dims),
           "contexts": [list(parse_context(c)) for c in contexts]}
    for bias in (True, False):
        tag = "" if bias else "_no_bias"
        out["undistributed" + tag] = undistributed_params(window, in_dim, dims, bias)
        out["distributed" + tag] = distributed_params(in_dim, dims, contexts, bias)
    out["ratio"] = out["undistributed"] / out["distributed"]
    return out


def model_scanning(model: nn.Module, in_dim: int) -> dict | None:
    """compare_scanning for the TDNN layers of a built model (None when it has none), using the
    model's own receptive field as the window (strides and pooling included)."""
    layers = [m for m in model.modules() if isinstance(m, TDNNLayer)]
    if not layers:
        return None
    dims = [layer.affine.weight.shape[0] for layer in layers]
    window = getattr(model, "receptive_field", None)
    return compare_scanning(in_dim, dims, [layer.context for layer in layers], window)


def count_params(module: nn.Module) -> int:
    """Number of parameters actually held by an nn.Module."""
    return sum(p.numel() for p in module.parameters())
