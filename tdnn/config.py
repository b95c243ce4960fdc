"""Typed dataclass configs: load from TOML/YAML, override with `key.sub=value`, save beside a run."""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from .errors import ConfigError


T = TypeVar("T")


def read_file(path: str | Path) -> dict:
    """Read a `.toml`, `.yaml`/`.yml` or `.json` file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing .toml/.yaml/.json file")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config format; use .toml, .yaml or .json")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot parse config: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: config must be a mapping of option names to values")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set dotted keys from `key.sub=value` strings; values are parsed as YAML scalars or lists."""
    data = json.loads(json.dumps(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: write it as key=value (e.g. train.epochs=5)")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return data


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Build dataclass `cls` from a dict, checking names and types; unknown keys are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a section of options, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown option {where + unknown[0]!r}; valid options here: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(hints[k], v, where + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert `value` to type `tp` where that is unambiguous, else raise ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"option {where!r}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        return value if isinstance(value, tp) else from_dict(tp, value, where + ".")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"option {where!r}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"option {where!r}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"option {where!r}: expected true or false, got {value!r}")
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"option {where!r}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def load(cls: type[T], path: str | Path | None = None, overrides: list[str] = (),
         base: dict | None = None) -> T:
    """Resolve a config: dataclass defaults < `base` dict < file at `path` < overrides."""
    data = json.loads(json.dumps(base or {}))
    if path is not None:
        data = merge(data, read_file(path))
    return from_dict(cls, apply_overrides(data, list(overrides)))


def merge(base: dict, update: dict) -> dict:
    """Recursively merge `update` into a copy of `base` (sections merge, values replace)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def to_dict(cfg: Any) -> dict:
    """A plain dict of a config dataclass (tuples become lists) for saving."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def save(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (reloadable with `load`)."""
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


# ---------------------------------------------------------------- the frontend's options
# Here rather than in tdnn.features so that the command line can describe them without importing
# torch and librosa; tdnn.features re-exports them.

KINDS = ("logmel", "mfcc", "spectrogram", "fbank")


@dataclasses.dataclass
class FrontendConfig:
    """How waveforms become frames; every field is settable from a config file or the CLI."""

    kind: Literal["logmel", "mfcc", "spectrogram", "fbank"] = "logmel"
    sample_rate: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None  # None: next power of two >= the window
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float | None = None  # None: sample_rate / 2
    n_mfcc: int = 13
    deltas: int = 0  # 0, 1 (adds delta) or 2 (adds delta and delta-delta)
    normalize: Literal["none", "mean", "meanvar"] = "none"
    log_floor: float = 1e-10

    def __post_init__(self):
        def bad(option, why):
            raise ConfigError(f"frontend option {option!r}: {why}")
        if self.kind not in KINDS:
            bad("kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        if self.sample_rate <= 0:
            bad("sample_rate", "must be positive")
        if self.win_ms <= 0 or self.hop_ms <= 0:
            bad("win_ms/hop_ms", "window and hop must be positive")
        win = win_samples(self)
        if win < 2 or hop_samples(self) < 1:
            bad("win_ms/hop_ms", "window must be >= 2 samples and hop >= 1 sample")
        if self.n_fft is not None and (self.n_fft < win or self.n_fft % 2):
            bad("n_fft", f"must be even and >= the window ({win} samples)")
        nyquist = self.sample_rate / 2
        fmax = nyquist if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= nyquist:
            bad("fmin/fmax", f"need 0 <= fmin < fmax <= {nyquist:g} Hz")
        if self.n_mels < 1:
            bad("n_mels", "must be >= 1")
        if not 1 <= self.n_mfcc <= self.n_mels:
            bad("n_mfcc", f"must be between 1 and n_mels ({self.n_mels})")
        if self.deltas not in (0, 1, 2):
            bad("deltas", "must be 0, 1 or 2")
        if self.normalize not in ("none", "mean", "meanvar"):
            bad("normalize", "must be none, mean or meanvar")
        if not self.log_floor > 0:
            bad("log_floor", "must be positive")


def win_samples(cfg: FrontendConfig) -> int:
    """Window length in samples."""
    return int(round(cfg.sample_rate * cfg.win_ms / 1000))


def hop_samples(cfg: FrontendConfig) -> int:
    """Hop length in samples."""
    return int(round(cfg.sample_rate * cfg.hop_ms / 1000))


def fft_size(cfg: FrontendConfig) -> int:
    """FFT size: `n_fft`, or the next power of two >= the window."""
    return cfg.n_fft or 1 << (win_samples(cfg) - 1).bit_length()
