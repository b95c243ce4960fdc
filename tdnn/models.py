"""Models built from a list of layer specs: a TDNN (or a 2D CNN baseline) trunk plus a clip or frame head.

Input is [B, D, L] frames. The clip head pools statistics over time (mean, mean+std or
attention-weighted mean+std) and applies a linear layer: [B, n_classes]. The frame head applies
a 1x1 layer per frame and, when strides or pooling decimated time by S, brings it back to the
input rate: [B, n_classes, L]. `upsample='repeat'` repeats each output S times (output t covers
input frames t*S .. t*S+S-1, cropped to L), so labels can change only every S frames;
`upsample='learned'` has the 1x1 layer emit S labels per output frame (a transposed convolution
with kernel and stride S), so the head can place a boundary on any frame. Neither looks ahead of
the block an output covers, so a causal model stays causal.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import (PRESETS, FrontendConfig, LayerSpec, ModelConfig,  # noqa: F401
                     hop_samples, preset_config)
from .errors import ConfigError
from .layers import (ContextAffine, TDNNLayer, TimePool, causal_context, dilation_of,
                     make_activation, parse_context, span_input, receptive_field)

FREQ_KERNEL = 3  # cnn2d: kernel size along frequency (odd, so 'same' padding centres it)


def resolve_config(cfg: ModelConfig) -> ModelConfig:
    """Expand a preset named in Python: a config with layers is complete already (read from a
    dict, `tdnn.config` merged its preset in); without layers, the preset's fields fill every
    field `cfg` leaves at its default."""
    if cfg.preset is None or cfg.layers:
        return cfg
    base = preset_config(cfg.preset)
    default = ModelConfig()
    changes = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
               if getattr(cfg, f.name) != getattr(default, f.name)}
    return dataclasses.replace(base, **changes)


# ---------------------------------------------------------------- trunks

class TDNNTrunk(nn.Module):
    """TDNN layers (with optional time pooling after each): [B, D, L] -> [B, out_dim, L']."""

    def __init__(self, in_dim: int, cfg: ModelConfig, plain_last: bool = False):
        super().__init__()
        blocks, dim = [], in_dim
        for i, spec in enumerate(cfg.layers):
            plain = plain_last and i == len(cfg.layers) - 1
            blocks.append(TDNNLayer(
                dim, spec.dim, spec.context, activation="none" if plain else cfg.activation,
                batch_norm=cfg.batch_norm and not plain, dropout=0.0 if plain else cfg.dropout,
                stride=spec.stride, causal=cfg.causal, padding=cfg.padding, rank=spec.rank))
            if spec.pool:
                blocks.append(TimePool(spec.pool, spec.pool_width, spec.pool_stride, cfg.causal))
            dim = spec.dim
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)

    @property
    def time_ops(self) -> list[tuple[tuple[int, ...], int]]:
        """(offsets, stride) of every operation along time, in order."""
        return [op for block in self.blocks for op in block.time_ops]


class CNN2dBlock(nn.Module):
    """conv2d (FREQ_KERNEL x time context) -> activation -> batch norm -> pool in time and
    frequency -> dropout."""

    def __init__(self, in_ch: int, spec: LayerSpec, cfg: ModelConfig):
        super().__init__()
        context = causal_context(spec.context) if cfg.causal else parse_context(spec.context)
        self.dilation = dilation_of(context)
        if self.dilation is None:
            raise ConfigError(f"cnn2d layer context {spec.context}: use evenly spaced offsets")
        if spec.rank is not None:
            raise ConfigError("cnn2d layers have no TDNN-F rank; remove 'rank' or use arch 'tdnn'")
        self.context, self.stride, self.padding = context, spec.stride, cfg.padding
        self.conv = nn.Conv2d(in_ch, spec.dim, (FREQ_KERNEL, len(context)),
                              stride=(1, spec.stride), dilation=(1, self.dilation),
                              padding=(FREQ_KERNEL // 2, 0))
        self.activation = make_activation(cfg.activation)
        self.norm = nn.BatchNorm2d(spec.dim) if cfg.batch_norm else nn.Identity()
        self.pool = spec.pool
        self.pool_width, self.pool_stride, self.causal = spec.pool_width, spec.pool_stride, cfg.causal
        if spec.pool:
            self.time_pool = TimePool(spec.pool, spec.pool_width, spec.pool_stride, cfg.causal)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.activation(self.conv(span_input(x, self.context, self.padding))))
        if self.pool:
            x = self.time_pool(x)
            pool2d = F.max_pool2d if self.pool == "max" else F.avg_pool2d
            x = pool2d(x, (self.pool_width, 1), (self.pool_stride, 1), ceil_mode=True)
        return self.dropout(x)

    def out_freq(self, n_freq: int) -> int:
        """Frequency bins out of this block for `n_freq` in."""
        if not self.pool:
            return n_freq
        if n_freq < self.pool_width:
            raise ConfigError(f"cnn2d: {n_freq} frequency bins left, fewer than pool width "
                              f"{self.pool_width}; use more features or fewer pooling layers")
        return math.ceil((n_freq - self.pool_width) / self.pool_stride) + 1

    @property
    def time_ops(self) -> list[tuple[tuple[int, ...], int]]:
        """(offsets, stride) along time: the conv, then the time pooling."""
        ops = [(self.context, self.stride)]
        return ops + (self.time_pool.time_ops if self.pool else [])


class CNN2dTrunk(nn.Module):
    """2D CNN over (frequency, time), flattened per frame: [B, D, L] -> [B, C * F', L']."""

    def __init__(self, in_dim: int, cfg: ModelConfig):
        super().__init__()
        blocks, ch, n_freq = [], 1, in_dim
        for spec in cfg.layers:
            block = CNN2dBlock(ch, spec, cfg)
            n_freq = block.out_freq(n_freq)
            blocks.append(block)
            ch = spec.dim
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = ch * n_freq

    def forward(self, x: Tensor) -> Tensor:
        y = self.blocks(x.unsqueeze(1))
        return y.flatten(1, 2)

    @property
    def time_ops(self) -> list[tuple[tuple[int, ...], int]]:
        """(offsets, stride) of every operation along time, in order."""
        return [op for block in self.blocks for op in block.time_ops]


# ---------------------------------------------------------------- heads

class StatsPool(nn.Module):
    """Statistics over time: mean, mean+std, or attention-weighted mean+std (Okabe et al. 2018)."""

    def __init__(self, dim: int, kind: str = "meanstd", attention_dim: int = 32):
        super().__init__()
        self.kind = kind
        self.out_dim = dim if kind == "mean" else 2 * dim
        if kind == "attention":
            self.score = nn.Sequential(nn.Conv1d(dim, attention_dim, 1), nn.Tanh(),
                                       nn.Conv1d(attention_dim, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "mean":
            return x.mean(-1)
        if self.kind == "attention":
            w = torch.softmax(self.score(x), dim=-1)
            mean = (w * x).sum(-1)
            var = (w * (x - mean[..., None]) ** 2).sum(-1)
        else:
            mean = x.mean(-1)
            var = ((x - mean[..., None]) ** 2).mean(-1)
        return torch.cat([mean, var.clamp(min=1e-6).sqrt()], dim=-1)


class Model(nn.Module):
    """Trunk + head. forward: [B, D, L] -> [B, n_classes] (clip) or [B, n_classes, L] (frame)."""

    def __init__(self, cfg: ModelConfig, in_dim: int, n_classes: int):
        super().__init__()
        self.config = cfg
        self.head = cfg.head
        if cfg.arch == "cnn2d":
            self.trunk = CNN2dTrunk(in_dim, cfg)
        else:
            self.trunk = TDNNTrunk(in_dim, cfg, plain_last=not cfg.head_linear)
        dim = self.trunk.out_dim
        self.pool = StatsPool(dim, cfg.stats) if cfg.head == "clip" else None
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        if not cfg.head_linear:
            self.classifier = nn.Identity()
        elif cfg.head == "clip":
            self.classifier = nn.Linear(self.pool.out_dim, n_classes)
        self.stride = math.prod(stride for _, stride in self.trunk.time_ops)
        if cfg.head == "frame" and cfg.head_linear:
            learned = cfg.upsample == "learned" and self.stride > 1
            self.classifier = (SubframeClassifier(dim, n_classes, self.stride) if learned
                               else nn.Conv1d(dim, n_classes, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.trunk(x)
        if self.head == "clip":
            return self.classifier(self.dropout(self.pool(h)))
        y = self.classifier(self.dropout(h))
        if isinstance(self.classifier, SubframeClassifier):
            return y[..., :x.shape[-1]]
        return upsample_frames(y, self.stride, x.shape[-1])

    @property
    def time_ops(self) -> list[tuple[tuple[int, ...], int]]:
        """(offsets, stride) of every trunk operation along time."""
        return self.trunk.time_ops

    @property
    def receptive_field(self) -> int:
        """Input frames one trunk output frame depends on."""
        first, last = receptive_field(self.time_ops)
        return last - first + 1

    @property
    def lookahead(self) -> int:
        """Future frames (past the output's anchor frame) one trunk output depends on."""
        return max(0, receptive_field(self.time_ops)[1])


class SubframeClassifier(nn.Module):
    """A 1x1 classifier emitting `sub` frames of logits per input frame: [B, D, L'] ->
    [B, C, L' * sub] (sub-frame j of output t is input frame t*sub + j); the same as a
    ConvTranspose1d with kernel and stride `sub`."""

    def __init__(self, dim: int, n_classes: int, sub: int):
        super().__init__()
        self.sub, self.n_classes = sub, n_classes
        self.proj = nn.Conv1d(dim, n_classes * sub, 1)

    def forward(self, h: Tensor) -> Tensor:
        y = self.proj(h)                                          # [B, sub * C, L'] as (sub, C)
        b, _, length = y.shape
        y = y.view(b, self.sub, self.n_classes, length)
        return y.permute(0, 2, 3, 1).reshape(b, self.n_classes, length * self.sub)


def upsample_frames(y: Tensor, stride: int, length: int) -> Tensor:
    """Back to the input frame rate by repetition: frame i gets output floor(i / stride)."""
    if stride == 1:
        return y
    index = torch.div(torch.arange(length, device=y.device), stride, rounding_mode="floor")
    return y.index_select(-1, index)


def build_model(cfg: ModelConfig, in_dim: int, n_classes: int) -> Model:
    """Build the model a ModelConfig describes for `in_dim` features per frame and `n_classes` labels."""
    cfg = resolve_config(cfg)
    _check(cfg, in_dim, n_classes)
    return Model(cfg, in_dim, n_classes)


def _check(cfg: ModelConfig, in_dim: int, n_classes: int) -> None:
    """Raise ConfigError for configs that cannot build a model."""
    if in_dim < 1 or n_classes < 1:
        raise ConfigError(f"model: need in_dim >= 1 and n_classes >= 1 (got {in_dim}, {n_classes})")
    if not cfg.layers:
        raise ConfigError("model.layers is empty; give layer specs or a preset ("
                          f"{', '.join(PRESETS)})")
    for i, spec in enumerate(cfg.layers):
        if spec.dim < 1 or spec.stride < 1 or spec.pool_stride < 1 or spec.pool_width < 1:
            raise ConfigError(f"model.layers[{i}]: dim, stride, pool_width and pool_stride must be >= 1")
        if spec.pool not in (None, "max", "avg"):
            raise ConfigError(f"model.layers[{i}].pool {spec.pool!r}: use 'max', 'avg' or null")
        parse_context(spec.context)
    if not cfg.head_linear:
        if cfg.arch != "tdnn":
            raise ConfigError("model.head_linear=false needs arch 'tdnn'")
        if cfg.layers[-1].dim != n_classes:
            raise ConfigError(f"model.head_linear=false: last layer dim {cfg.layers[-1].dim} must "
                              f"equal the number of classes ({n_classes})")
        if cfg.head == "clip" and cfg.stats != "mean":
            raise ConfigError("model.head_linear=false integrates scores over time: use stats 'mean'")
    if cfg.head == "frame" and cfg.padding != "same":
        raise ConfigError("model.head 'frame' needs padding 'same' (one output per input frame)")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"model.dropout {cfg.dropout}: use a value in [0, 1)")
    make_activation(cfg.activation)


# ---------------------------------------------------------------- accounting

def count_macs(model: nn.Module, in_dim: int, n_frames: int) -> int:
    """Multiply-adds of one forward pass on [1, in_dim, n_frames] (affine/conv/linear layers only)."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
        nonlocal total
        total += output.numel() * module.weight[0].numel()

    kinds = (ContextAffine, nn.Conv1d, nn.Conv2d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_dim, n_frames))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def summary(model: Model, in_dim: int, frame_rate: float | None = None) -> dict:
    """Parameters, receptive field (frames, ms; one frame = 1000/frame_rate ms) and
    multiply-adds per second of audio (one forward pass over a 1 s input). `frame_rate`: the
    frontend's frames per second (default: the default frontend's)."""
    frame_rate = frame_rate or default_frame_rate()
    first, last = receptive_field(model.time_ops)
    frame_ms = 1000.0 / frame_rate
    n_frames = max(1, round(frame_rate))
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "receptive_field_frames": last - first + 1,
        "receptive_field_ms": (last - first + 1) * frame_ms,
        "context_frames": [first, last],
        "lookahead_frames": max(0, last),
        "lookahead_ms": max(0, last) * frame_ms,
        "output_stride_frames": model.stride,
        "macs_per_second": count_macs(model, in_dim, n_frames) * frame_rate / n_frames,
    }


def default_frame_rate() -> float:
    """Frames per second of the default frontend (`FrontendConfig()`: 16 kHz, 10 ms hop)."""
    cfg = FrontendConfig()
    return cfg.sample_rate / hop_samples(cfg)
