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


def test_a_preset_field_set_back_to_its_default_sticks():
    cfg = config.load(config.ModelConfig, overrides=["preset=kws", "dropout=0.0"])
    assert config.preset_config("kws").dropout == 0.1  # the preset's own value
    assert cfg.dropout == 0.0 and cfg.layers == config.preset_config("kws").layers


def test_preset_then_file_then_set(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("model:\n  preset: cnn2d\n  dropout: 0.3\n  stats: mean\n")
    cfg = config.load(config.TrainConfig, path, ["model.dropout=0.2"])
    cnn = config.preset_config("cnn2d")
    assert (cfg.model.arch, cfg.model.layers) == (cnn.arch, cnn.layers)  # from the preset
    assert (cfg.model.stats, cfg.model.dropout) == ("mean", 0.2)  # file, then --set


def test_a_section_keeps_its_code_default_preset():
    # TrainConfig's model defaults to the kws preset: one flag changes one field of it
    cfg = config.load(config.TrainConfig, overrides=["model.causal=true"])
    assert cfg.model.causal is True and cfg.model.preset == "kws"
    assert cfg.model.layers == config.preset_config("kws").layers


def test_saved_config_reloads_to_the_same_config(tmp_path):
    cfg = config.load(config.TrainConfig, overrides=["model.preset=kws", "model.dropout=0.0",
                                                     "frontend.normalize=mean"])
    config.save(cfg, tmp_path / "config.yaml")
    assert config.load(config.TrainConfig, tmp_path / "config.yaml") == cfg


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="nonesuch"):
        config.load(config.ModelConfig, overrides=["preset=nonesuch"])
