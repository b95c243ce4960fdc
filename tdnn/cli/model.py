"""`tdnn model summary <preset or config>`: parameters, receptive field, multiply-adds, scanning comparison."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import config
from ..errors import ConfigError

# The presets of tdnn.models, named here so that `--help` needs no torch (a test keeps them equal).
PRESET_NAMES = ("kws", "waibel", "kaldi", "cnn2d", "kws_embed", "kws_narrow", "kws_wide")

# Input sizes a preset is usually built for: (features per frame, classes).
PRESET_SHAPES = {"waibel": (16, 3), "kaldi": (40, 39)}


def register(subparsers) -> None:
    """Add `tdnn model` with its `summary` action."""
    p = subparsers.add_parser(
        "model", help="describe a model: parameters, receptive field, multiply-adds",
        description="Build a model from a preset name or a config file (a model section, or a "
                    "training config with a `model:` section) and print its accounting.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("action", choices=["summary"], help="what to do with the model")
    p.add_argument("model", help=f"preset name ({', '.join(PRESET_NAMES)}) or a .yaml/.toml/.json file")
    p.add_argument("--in-dim", type=int, default=None,
                   help="features per frame; when unset 16 for waibel, else 40")
    p.add_argument("--classes", type=int, default=None,
                   help="output classes; when unset 3 for waibel, 39 for kaldi, else 12")
    p.add_argument("--frame-rate", type=float, default=None,
                   help="frames per second of audio (default: the default frontend's, 100)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model option, e.g. --set causal=true (repeatable)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def load_model_config(spec: str, overrides: list[str]):
    """A ModelConfig from a preset name or a config file (whole file, or its `model` section)."""
    from ..models import PRESETS, ModelConfig, resolve_config

    if spec in PRESETS:
        return resolve_config(config.load(ModelConfig, None, overrides, base={"preset": spec}))
    path = Path(spec)
    if not path.suffix:
        raise ConfigError(f"{spec}: not a preset ({', '.join(PRESETS)}) nor a config file")
    data = config.read_file(path)
    if isinstance(data.get("model"), dict):
        data = data["model"]
    return resolve_config(config.load(ModelConfig, None, overrides, base=data))


def run(args: argparse.Namespace) -> int:
    """Build the model and print its summary."""
    from ..models import build_model, summary
    from ..params import count_params, model_scanning

    cfg = load_model_config(args.model, args.overrides)
    in_dim, n_classes = PRESET_SHAPES.get(cfg.preset, (40, 12))
    in_dim = args.in_dim or in_dim
    n_classes = args.classes or n_classes
    if args.frame_rate is not None and args.frame_rate <= 0:
        raise ConfigError(f"--frame-rate {args.frame_rate}: give frames per second > 0")
    model = build_model(cfg, in_dim, n_classes)
    info = summary(model, in_dim, args.frame_rate)
    info.update(in_dim=in_dim, classes=n_classes, scanning=model_scanning(model, in_dim),
                layers=[(name, type(m).__name__, count_params(m))
                        for name, m in model.trunk.blocks.named_children()])
    print(json.dumps(info, indent=2) if args.json else format_summary(cfg, info))
    return 0


def format_summary(cfg, info: dict) -> str:
    """Human-readable summary lines."""
    name = cfg.preset or "custom"
    lines = [f"model {name}: arch {cfg.arch}, head {cfg.head}"
             + (f" ({cfg.stats} pooling)" if cfg.head == "clip" else "")
             + f", {info['in_dim']} features in, {info['classes']} classes"
             + (", causal" if cfg.causal else ""),
             f"  parameters          {info['params']:,}",
             f"  receptive field     {info['receptive_field_frames']} frames "
             f"({info['receptive_field_ms']:.0f} ms), offsets {info['context_frames']}",
             f"  lookahead           {info['lookahead_frames']} frames ({info['lookahead_ms']:.0f} ms)",
             f"  output stride       {info['output_stride_frames']} frames",
             f"  multiply-adds       {info['macs_per_second'] / 1e6:.2f} M per second of audio",
             "  trunk layers:"]
    lines += [f"    {n:>3} {kind:<12} {p:>9,} params" for n, kind, p in info["layers"]]
    scan = info["scanning"]
    if scan:
        lines += [f"  scanning a {scan['window_frames']}-frame window with layer sizes "
                  f"{scan['dims']}:",
                  f"    undistributed (W*D*N1 + N1*N2 + ...)  {scan['undistributed']:>11,}"
                  f"  ({scan['undistributed_no_bias']:,} without biases)",
                  f"    distributed   (K*D*N1 + K*N1*N2 + ...) {scan['distributed']:>10,}"
                  f"  ({scan['distributed_no_bias']:,} without biases)",
                  f"    ratio {scan['ratio']:.1f}x"]
    return "\n".join(lines)
