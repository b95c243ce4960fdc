"""TDNN building blocks: pure functions on [B, C, L] tensors under thin `nn.Module` wrappers.

A TDNN layer is named by its context offsets, the way Kaldi writes it: `[-2, -1, 0, 1, 2]`,
`[-3, 0, 3]`, `[-1, 2]`, `[0]`. Output frame t of a layer with stride s reads input frames
`t*s + c` for every offset c (frames outside the input read as zeros with 'same' padding).
Evenly spaced offsets run as one dilated `conv1d`; uneven ones gather their windows explicitly.
`ScanningMLP` is the lecture's reference: one MLP with shared weights applied window by window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "none": nn.Identity,
}


# ---------------------------------------------------------------- functional core

def parse_context(context: Sequence[int] | int) -> tuple[int, ...]:
    """Sorted, distinct integer frame offsets; an int k means the symmetric range [-k, k]."""
    if isinstance(context, int):
        context = range(-context, context + 1)
    offsets = tuple(int(c) for c in context)
    if not offsets:
        raise ConfigError("context: give at least one frame offset, e.g. [-1, 0, 1] or [0]")
    if len(set(offsets)) != len(offsets):
        raise ConfigError(f"context {list(offsets)}: offsets must be distinct")
    return tuple(sorted(offsets))


def causal_context(context: Sequence[int]) -> tuple[int, ...]:
    """Shift offsets so the latest is 0 (same pattern and span, past frames only)."""
    offsets = parse_context(context)
    return tuple(c - max(0, offsets[-1]) for c in offsets)


def dilation_of(context: Sequence[int]) -> int | None:
    """The common step of evenly spaced offsets (1 for a single offset), else None."""
    steps = {b - a for a, b in zip(context, context[1:])}
    if not steps:
        return 1
    return steps.pop() if len(steps) == 1 else None


def output_length(length: int, context: Sequence[int], stride: int = 1,
                  padding: str = "same") -> int:
    """Frames out of a context op: ceil(L / stride) for 'same', complete windows only for 'valid'."""
    if padding == "same":
        return math.ceil(length / stride)
    if padding == "valid":
        span = context[-1] - context[0] + 1
        return max(0, (length - span) // stride + 1)
    raise ConfigError(f"padding {padding!r}: use 'same' or 'valid'")


def span_input(x: Tensor, context: Sequence[int], padding: str = "same",
               fill: float = 0.0) -> Tensor:
    """The time axis a scan over `context` slides along: frame j of the result is input frame
    j + min(context), zero-padded ('same') or as is ('valid'). A window starting at j*stride
    then gives output j; only slicing with constant bounds, so any input length works."""
    first, last = context[0], context[-1]
    if padding == "valid":
        if x.shape[-1] < last - first + 1:
            raise ConfigError(f"input of {x.shape[-1]} frames is shorter than the context "
                              f"{list(context)}; give longer inputs or use padding='same'")
        return x
    if padding != "same":
        raise ConfigError(f"padding {padding!r}: use 'same' or 'valid'")
    left, right = max(0, -first), max(0, last)
    return F.pad(x, (left, right), value=fill)[..., left + first:(last - right) or None]


def windows(x: Tensor, context: Sequence[int], stride: int = 1, padding: str = "same",
            fill: float = 0.0) -> Tensor:
    """The scanned windows: [..., C, L] -> [..., C, L_out, K], window t holds frames t*s + c."""
    context = parse_context(context)
    xs = span_input(x, context, padding, fill)
    span = context[-1] - context[0]
    rel = [c - context[0] for c in context]
    return torch.stack([xs[..., r:(r - span) or None:stride] for r in rel], dim=-1)


def context_affine(x: Tensor, weight: Tensor, bias: Tensor | None, context: Sequence[int],
                   stride: int = 1, padding: str = "same") -> Tensor:
    """One shared affine map over every window: y[:, o, t] = b[o] + sum_{i,k} W[o,i,k] x[:, i, t*s+c_k].

    `weight` is [out, in, K] with K = len(context). Evenly spaced offsets run as a dilated
    conv1d; uneven offsets gather the windows and contract them with the same weight.
    """
    context = parse_context(context)
    if weight.shape[-1] != len(context):
        raise ValueError(f"weight has {weight.shape[-1]} taps for {len(context)} offsets")
    dilation = dilation_of(context)
    if dilation is None:
        y = torch.einsum("bilk,oik->bol", windows(x, context, stride, padding), weight)
        return y if bias is None else y + bias[:, None]
    return F.conv1d(span_input(x, context, padding), weight, bias, stride=stride,
                    dilation=dilation)


def pool_offsets(width: int, causal: bool = False) -> tuple[int, ...]:
    """Frame offsets a pooling window of `width` covers: centred (right-leaning) or causal."""
    if width < 1:
        raise ConfigError(f"pool width {width}: use a width of at least 1 frame")
    first = -(width - 1) if causal else -((width - 1) // 2)
    return tuple(range(first, first + width))


def time_pool(x: Tensor, kind: str = "max", width: int = 2, stride: int = 1,
              causal: bool = False) -> Tensor:
    """Max or average over `width` frames every `stride` frames, per channel: [B, C, L] or
    [B, C, F, L] -> same with ceil(L/stride) frames.

    Output t covers frames t*stride + pool_offsets(width); frames beyond the edges are ignored
    (max pads with -inf, average divides by the frames actually present).
    """
    offsets = pool_offsets(width, causal)
    if kind not in ("max", "avg"):
        raise ConfigError(f"pool {kind!r}: use 'max' or 'avg'")
    if x.dim() == 3:
        pool = F.max_pool1d if kind == "max" else F.avg_pool1d
        kernel, step = width, stride
    else:
        pool = F.max_pool2d if kind == "max" else F.avg_pool2d
        kernel, step = (1, width), (1, stride)
    if kind == "max":
        return pool(span_input(x, offsets, "same", -math.inf), kernel, step)
    present = span_input(torch.ones_like(x[..., :1, :]), offsets, "same")
    return pool(span_input(x, offsets, "same"), kernel, step) / pool(present, kernel, step)


def semi_orthogonal_(weight: Tensor) -> None:
    """One in-place step of Kaldi's floating semi-orthogonal constraint (Povey et al. 2018).

    Moves M (weight as [rows, cols], the wide way round) towards M Mᵀ = α² I with
    M <- M - 1/(2α²) (M Mᵀ - α² I) M, where α² = tr(P Pᵀ) / tr(P) and P = M Mᵀ.
    """
    with torch.no_grad():
        m = weight.reshape(weight.shape[0], -1)
        tall = m.shape[0] > m.shape[1]
        if tall:
            m = m.t()
        p = m @ m.t()
        alpha2 = (p * p).sum() / p.trace()
        q = p - alpha2 * torch.eye(p.shape[0], dtype=p.dtype, device=p.device)
        m = m - (q @ m) / (2 * alpha2)
        weight.copy_((m.t() if tall else m).reshape(weight.shape))


# ---------------------------------------------------------------- modules

def make_activation(name: str) -> nn.Module:
    """An activation module by name (relu, leaky_relu, gelu, sigmoid, tanh, none)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation {name!r}: use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class ContextAffine(nn.Module):
    """Shared weights [out, in, K] applied at every window of context offsets (no nonlinearity)."""

    def __init__(self, in_dim: int, out_dim: int, context: Sequence[int] = (0,),
                 stride: int = 1, padding: str = "same", bias: bool = True):
        super().__init__()
        self.context = parse_context(context)
        if stride < 1:
            raise ConfigError(f"stride {stride}: use a stride of at least 1")
        if padding not in ("same", "valid"):
            raise ConfigError(f"padding {padding!r}: use 'same' or 'valid'")
        self.stride, self.padding = stride, padding
        conv = nn.Conv1d(in_dim, out_dim, len(self.context), bias=bias)  # PyTorch's default init
        self.weight = conv.weight
        self.bias = conv.bias

    def forward(self, x: Tensor) -> Tensor:
        return context_affine(x, self.weight, self.bias, self.context, self.stride, self.padding)

    def extra_repr(self) -> str:
        out, inp, _ = self.weight.shape
        return f"{inp}, {out}, context={list(self.context)}, stride={self.stride}, padding={self.padding}"


class TDNNLayer(nn.Module):
    """A TDNN layer: shared affine over context offsets -> activation -> batch norm -> dropout.

    [B, in_dim, L] -> [B, out_dim, L_out]. `causal=True` shifts the offsets so the latest is 0
    (`[-2..2]` becomes `[-4..0]`): the layer then reads no future frames. `rank` makes it a
    factorised TDNN-F layer: context affine in_dim -> rank (no bias) then 1x1 rank -> out_dim;
    call `constrain_()` after optimiser steps to keep the first factor semi-orthogonal.
    """

    def __init__(self, in_dim: int, out_dim: int, context: Sequence[int] = (-2, -1, 0, 1, 2),
                 activation: str = "relu", batch_norm: bool = True, dropout: float = 0.0,
                 stride: int = 1, causal: bool = False, padding: str = "same",
                 rank: int | None = None, bias: bool = True):
        super().__init__()
        self.context = causal_context(context) if causal else parse_context(context)
        self.stride, self.causal, self.padding = stride, causal, padding
        if rank is None:
            self.factor = None
            self.affine = ContextAffine(in_dim, out_dim, self.context, stride, padding, bias)
        else:
            if rank < 1:
                raise ConfigError(f"rank {rank}: a TDNN-F bottleneck needs rank >= 1")
            self.factor = ContextAffine(in_dim, rank, self.context, stride, padding, bias=False)
            self.affine = ContextAffine(rank, out_dim, (0,), 1, "same", bias)
        self.activation = make_activation(activation)
        self.norm = nn.BatchNorm1d(out_dim) if batch_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.factor is not None:
            x = self.factor(x)
        return self.dropout(self.norm(self.activation(self.affine(x))))

    def constrain_(self) -> None:
        """Apply one semi-orthogonal step to the TDNN-F factor (no-op for a plain layer)."""
        if self.factor is not None:
            semi_orthogonal_(self.factor.weight)

    @property
    def time_ops(self) -> list[tuple[tuple[int, ...], int]]:
        """(offsets, stride) of each operation along time, for receptive-field arithmetic."""
        return [(self.context, self.stride)]


class TimePool(nn.Module):
    """Max or average pooling in time, per channel (channel count unchanged).

    Output t covers frames `t*stride + pool_offsets(width, causal)`; stride 1 keeps L
    (smoothing only), stride = width decimates to ceil(L / stride).
    """

    def __init__(self, kind: str = "max", width: int = 2, stride: int = 1, causal: bool = False):
        super().__init__()
        if kind not in ("max", "avg"):
            raise ConfigError(f"pool {kind!r}: use 'max' or 'avg'")
        if stride < 1:
            raise ConfigError(f"pool stride {stride}: use a stride of at least 1")
        self.kind, self.width, self.stride, self.causal = kind, width, stride, causal
        self.offsets = pool_offsets(width, causal)

    def forward(self, x: Tensor) -> Tensor:
        return time_pool(x, self.kind, self.width, self.stride, self.causal)

    @property
    def time_ops(self) -> list[tuple[tuple[int, ...], int]]:
        """(offsets, stride) along time, for receptive-field arithmetic."""
        return [(self.offsets, self.stride)]

    def extra_repr(self) -> str:
        return f"{self.kind}, width={self.width}, stride={self.stride}, causal={self.causal}"


def constrain_(model: nn.Module) -> None:
    """Semi-orthogonal step for every TDNN-F layer in `model`; the trainers call it after every
    optimiser step, as Kaldi's trainers call ConstrainOrthonormal after each update."""
    for module in model.modules():
        if isinstance(module, TDNNLayer):
            module.constrain_()


def receptive_field(time_ops: Sequence[tuple[Sequence[int], int]]) -> tuple[int, int]:
    """(first, last) input-frame offset that an output frame anchored at frame t*S depends on."""
    first = last = 0
    jump = 1
    for offsets, stride in time_ops:
        first += min(offsets) * jump
        last += max(offsets) * jump
        jump *= stride
    return first, last


class ScanningMLP(nn.Module):
    """The lecture's reference: cut the input into windows, apply one MLP with shared weights to each.

    Layer l sees, at every frame t, the concatenation [h(t+c) for c in contexts[l]] of the
    previous layer's outputs (zeros beyond the edges) and applies the same `nn.Linear` to it.
    A plain Python loop over windows, slow on purpose: it is what a TDNN stack computes.
    With contexts `[range(-k, k+1), [0], [0], ...]` it is the undistributed scan (the first
    layer sees the whole window); with several wide contexts it is the distributed scan.
    """

    def __init__(self, in_dim: int, dims: Sequence[int], contexts: Sequence[Sequence[int]],
                 activation: str = "relu", bias: bool = True):
        super().__init__()
        if len(dims) != len(contexts):
            raise ConfigError(f"ScanningMLP: {len(dims)} layer sizes but {len(contexts)} contexts")
        self.contexts = [parse_context(c) for c in contexts]
        sizes = [in_dim, *dims]
        self.linears = nn.ModuleList(
            nn.Linear(len(c) * n_in, n_out, bias=bias)
            for c, n_in, n_out in zip(self.contexts, sizes, sizes[1:]))
        self.activation = make_activation(activation)

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for context, linear in zip(self.contexts, self.linears):
            length = h.shape[-1]
            zeros = h.new_zeros(h.shape[:-1])
            outputs = []
            for t in range(length):
                window = torch.cat([h[..., t + c] if 0 <= t + c < length else zeros
                                    for c in context], dim=-1)
                outputs.append(self.activation(linear(window)))
            h = torch.stack(outputs, dim=-1)
        return h

    @classmethod
    def from_tdnn(cls, layers: Sequence[TDNNLayer], activation: str = "relu") -> ScanningMLP:
        """The scanning MLP holding the same weights as a stack of plain TDNN layers (no batch norm)."""
        first = layers[0].affine.weight
        dims = [layer.affine.weight.shape[0] for layer in layers]
        mlp = cls(first.shape[1], dims, [layer.context for layer in layers], activation,
                  bias=layers[0].affine.bias is not None)
        with torch.no_grad():
            for linear, layer in zip(mlp.linears, layers):
                linear.weight.copy_(tdnn_to_mlp_weight(layer.affine.weight))
                if linear.bias is not None:
                    linear.bias.copy_(layer.affine.bias)
        return mlp


def tdnn_to_mlp_weight(weight: Tensor) -> Tensor:
    """A context weight [out, in, K] as the window MLP's [out, K*in] (offset-major, like the window)."""
    out, inp, k = weight.shape
    return weight.permute(0, 2, 1).reshape(out, k * inp)
