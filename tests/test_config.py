"""Config loading: files, overrides, type checks and clear errors."""

from dataclasses import dataclass, field

import pytest

from tdnn import config
from tdnn.errors import ConfigError


@dataclass
class Inner:
    lr: float = 1e-3
    sizes: list[int] = field(default_factory=lambda: [8, 8])


@dataclass
class Outer:
    name: str = "run"
    epochs: int = 3
    inner: Inner = field(default_factory=Inner)
    mode: str | None = None


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('epochs = 5\n[inner]\nlr = 0.1\n')
    cfg = config.load(Outer, path, ["inner.sizes=[1, 2, 3]", "name=x"])
    assert cfg == Outer(name="x", epochs=5, inner=Inner(lr=0.1, sizes=[1, 2, 3]))


def test_yaml_round_trip(tmp_path):
    cfg = Outer(epochs=7, inner=Inner(lr=0.5, sizes=[4]))
    config.save(cfg, tmp_path / "c.yaml")
    assert config.load(Outer, tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("override, message", [
    (["epochs=three"], "epochs"),
    (["inner.nope=1"], "inner.nope"),
    (["epochs"], "key=value"),
    (["inner.lr=[1]"], "inner.lr"),
])
def test_bad_values_name_the_option(override, message):
    with pytest.raises(ConfigError, match=message):
        config.load(Outer, None, override)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml"):
        config.load(Outer, tmp_path / "missing.toml")
