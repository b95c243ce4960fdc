"""Typed dataclass configs: load from TOML/YAML, override with `key.sub=value`, save beside a run."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .atomic import atomic_write_text
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def read_file(path: str | Path) -> dict:
    """Read a `.toml`, `.yaml`/`.yml` or `.json` file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing .toml/.yaml/.json file")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text config file; pass a .toml/.yaml/.json "
                          "file") from None
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
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                section = ".".join(parts[:i + 1])
                raise ConfigError(f"option {section!r}: set to {node!r} (by --set {section}=... or "
                                  f"the config file), but it is a section ({item!r} sets a field "
                                  "in it); drop that setting")
        node[parts[-1]] = value
    return data


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Build dataclass `cls` from a dict, checking names and types; unknown keys are errors."""
    if not isinstance(data, dict):
        name = where.rstrip(".") or cls.__name__
        raise ConfigError(f"option {name!r}: is a section of options ({cls.__name__}), got "
                          f"{data!r}; set its fields instead, e.g. {name}.<field>=VALUE")
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
    if tp in (int, float) and isinstance(value, str) and NUMBER.match(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e9 (no dot) as a string
        if tp is int and value.is_integer() and abs(value) < 2**63:
            value = int(value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"option {where!r}: must be a finite number, got {value!r}")
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
    """Write the resolved config as YAML (reloadable with `load`), atomically."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
