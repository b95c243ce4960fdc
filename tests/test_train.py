"""Training: a tiny run learns, a killed run resumes to the same result, bad configs are named."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tdnn import config
from tdnn.cli import main as cli_main
from tdnn.errors import ConfigError, UserError
from tdnn.layers import TDNNLayer
from tdnn.models import LayerSpec, ModelConfig, build_model
from tdnn.runs import load_checkpoint, load_run, save_checkpoint
from tdnn.config import features_config
from tdnn.train import ScheduleConfig, TrainConfig, clip_data, fit, schedule_at, train
from tdnn.train_data import FeatureData

sys.path.insert(0, str(Path(__file__).parent))
from sc_fixture import make_corpus  # noqa: E402

TINY = ["epochs=3", "batch_size=16", "threads=1", "progress=false", "optim.lr=0.03", "frontend.normalize=meanvar",
        "augment.speed_prob=0", "augment.vtlp_prob=0", "augment.reverb_prob=0",
        "augment.bandlimit_prob=0", "augment.noise_prob=0.5",
        "model.layers=[{dim: 16, context: [-2, 0, 2]}, {dim: 16, context: [-4, 0, 4]}]"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("sc"))


def tiny_config(corpus, *more) -> TrainConfig:
    return config.load(TrainConfig, None, [f"data.root={corpus}", *TINY, *more])


def test_tiny_run_learns_above_chance(corpus, tmp_path):
    metrics = train(tiny_config(corpus, "epochs=4"), tmp_path / "run")
    history = metrics["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    # Validation: 2 speakers x 5 words x 2 takes + 1 silence + 1 unknown clip; the biggest
    # class holds 4 of 22 clips, so chance (always the majority) is 0.18.
    assert metrics["best"]["val_accuracy"] > 0.5
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    run_dir = tmp_path / "run"
    for name in ("config.yaml", "model.pt", "last.pt", "metrics.json", "train.log", "curves.png"):
        assert (run_dir / name).is_file(), name
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["history"] == json.loads(json.dumps(history))
    assert "epoch 4" in (run_dir / "train.log").read_text()
    # The saved config reloads to the resolved one (model preset expanded into layers).
    reloaded = config.load(TrainConfig, run_dir / "config.yaml")
    assert reloaded.epochs == 4 and len(reloaded.model.layers) == 2
    # load_run rebuilds the best model: same predictions as the checkpoint's weights.
    run = load_run(run_dir)
    assert run.labels[:2] == ["_silence_", "_unknown_"]
    best = load_checkpoint(run_dir / "model.pt")
    assert best["epoch"] == metrics["best"]["epoch"]
    for key, value in run.model.state_dict().items():
        assert torch.equal(value, best["state_dict"][key])
    # a run folder of an earlier version, whose config still names the retired model options
    best["config"]["model"].update(attention_dim=32, freq_kernel=3)
    save_checkpoint(best, run_dir / "model.pt")
    assert load_run(run_dir).labels == run.labels


def comparable(history):
    """History rows without wall-clock timings."""
    return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in history]


def test_killed_run_resumes_to_the_same_result(corpus, tmp_path):
    cfg = tiny_config(corpus, "augment.vtlp_prob=0.5", "augment.freq_masks=1")
    reference = train(cfg, tmp_path / "full")
    steps_per_epoch = reference["steps_per_epoch"]
    kill_at = steps_per_epoch + 2  # part-way through the second epoch
    overrides = [f"data.root={corpus}", *TINY, "augment.vtlp_prob=0.5", "augment.freq_masks=1"]
    script = (
        "import os, signal, sys\n"
        "from tdnn import config\n"
        "from tdnn.train import TrainConfig, train\n"
        f"cfg = config.load(TrainConfig, None, {overrides!r})\n"
        f"def kill(step):\n"
        f"    if step == {kill_at}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"train(cfg, {str(tmp_path / 'killed')!r}, on_step=kill)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    killed = tmp_path / "killed"
    assert load_checkpoint(killed / "last.pt")["state"]["epoch"] == 1
    assert not list(killed.glob(".*.tmp")), "a temporary checkpoint was left behind"
    with pytest.raises(UserError, match="--resume"):
        train(cfg, killed)
    resumed = train(cfg, killed, resume=True)
    assert comparable(resumed["history"]) == comparable(reference["history"])
    a = load_checkpoint(tmp_path / "full" / "model.pt")["state_dict"]
    b = load_checkpoint(killed / "model.pt")["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


class Killed(Exception):
    """Stands in for a killed process."""


def test_cached_feature_copies_are_read_back_on_resume(corpus, tmp_path):
    cfg = tiny_config(corpus, "data.feature_copies=2")
    reference = train(cfg, tmp_path / "full")

    def kill(step):
        if step == reference["steps_per_epoch"] + 1:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, tmp_path / "killed", on_step=kill)
    stored = sorted(p.name.split("-")[0] for p in (tmp_path / "killed" / "features").iterdir())
    assert stored == ["train0", "train1", "validation"]
    resumed = train(cfg, tmp_path / "killed", resume=True)
    log = (tmp_path / "killed" / "train.log").read_text()
    assert log.count("read from") == 3  # the resume computed no features
    assert comparable(resumed["history"]) == comparable(reference["history"])
    # another augmentation makes other features: new files, the old ones left as they were
    other = dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, noise_prob=0.9))
    train(other, tmp_path / "other")
    assert not set(os.listdir(tmp_path / "other" / "features")) & \
        set(os.listdir(tmp_path / "killed" / "features"))


def test_resume_without_checkpoint_is_an_error(corpus, tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        train(tiny_config(corpus), tmp_path / "new", resume=True)


@pytest.mark.parametrize("override, option", [
    ("epochs=0", "epochs"),
    ("optim.lr=-1", "optim.lr"),
    ("optim.label_smoothing=1.5", "optim.label_smoothing"),
    ("data.task=20", "data.task"),
    ("schedule.kind=linear", "schedule.kind"),
    ("optim.betas=[0.9, 1.2]", "optim.betas"),
    ("data.root=", "data.root"),
    ("data.train_unknown_percentage=-5", "data.train_unknown_percentage"),
])
def test_bad_config_values_name_the_option(corpus, tmp_path, override, option):
    cfg_overrides = [f"data.root={corpus}", override]
    with pytest.raises(ConfigError, match=option.replace(".", r"\.")):
        train(config.load(TrainConfig, None, cfg_overrides), tmp_path / "run")


def test_cli_reports_bad_values_in_one_line(corpus, tmp_path, capsys):
    code = cli_main(["train", "--out", str(tmp_path / "run"), "--data-dir", str(corpus),
                     "--set", "optim.lr=0", "--set", "progress=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "optim.lr" in err[0]
    code = cli_main(["train", "--out", str(tmp_path / "run"), "--set", "optim.nope=1"])
    assert code == 2 and "optim.nope" in capsys.readouterr().err


def test_learning_rate_schedules():
    total = 100
    cosine = [schedule_at(s, total, ScheduleConfig("cosine", warmup=0.1, final_lr=0.01), 1.0)[0]
              for s in range(total + 1)]
    assert cosine[0] == pytest.approx(0.1) and cosine[9] == pytest.approx(1.0)
    assert np.all(np.diff(cosine[:10]) > 0) and np.all(np.diff(cosine[10:]) <= 0)
    assert cosine[total] == pytest.approx(0.01)
    # Half-way through the decay the cosine is at the mid point between peak and floor.
    assert cosine[55] == pytest.approx(0.01 + 0.99 * 0.5)
    assert schedule_at(7, total, ScheduleConfig("constant"), 0.5) == (0.5, None)


@pytest.mark.parametrize("total, warmup", [(100, 0.3), (37, 0.2), (7, 0.5)])
def test_onecycle_is_torchs_onecyclelr_step_for_step(total, warmup):
    # The reference: torch's own scheduler driving AdamW (learning rate and beta1 cycled).
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=0.02)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=total,
                                              pct_start=warmup)
    for step in range(total):
        group = opt.param_groups[0]
        assert schedule_at(step, total, ScheduleConfig("onecycle", warmup=warmup), 0.02) == \
            (group["lr"], group["betas"][0])
        opt.step()
        ref.step()


def test_onecycle_with_a_one_step_warmup_starts_at_the_peak():
    # 5 steps x 0.2: torch's OneCycleLR divides by zero; the warm-up phase is one step long,
    # so step 0 is the peak, and the last step is the floor lr / 25 / 1e4.
    cfg = ScheduleConfig("onecycle", warmup=0.2)
    assert schedule_at(0, 5, cfg, 0.02) == (0.02, 0.85)
    assert schedule_at(4, 5, cfg, 0.02) == (pytest.approx(0.02 / 25 / 1e4), 0.95)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint({"w": torch.ones(3)}, path)

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint({"w": torch.zeros(3)}, path)
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_resampled_unknown_share_changes_each_epoch_with_a_fixed_size(corpus):
    data = clip_data(tiny_config(corpus, "data.resample_unknown=true"))
    labels = [ex.label for ex in data.train.examples]
    n_known = sum(label in ("yes", "no", "up", "down", "left") for label in labels)
    assert len(data.unknown) == labels.count("_unknown_") == 16  # every 'cat' train clip
    first, second = data.epoch_indices(1), data.epoch_indices(2)
    for indices in (first, second):
        drawn = [i for i in indices if labels[i] == "_unknown_"]
        assert len(drawn) == data.n_unknown == int(np.ceil(n_known * 0.1))
        assert len(indices) == len(labels) - 16 + data.n_unknown
    assert first != second and first == data.epoch_indices(1)


def test_training_unknown_share_leaves_validation_alone(corpus):
    default = clip_data(tiny_config(corpus))
    data = clip_data(tiny_config(corpus, "data.train_unknown_percentage=30"))
    labels = [ex.label for ex in data.train.examples]
    n_known = sum(label in ("yes", "no", "up", "down", "left") for label in labels)
    # 80 known training clips: 10% gives 8 of the 16 'cat' clips, 30% gives ceil(24) = all 16.
    assert n_known == 80
    assert [ex.label for ex in default.train.examples].count("_unknown_") == 8
    assert labels.count("_unknown_") == 16
    assert ([(ex.path, ex.label) for ex in data.validation.examples]
            == [(ex.path, ex.label) for ex in default.validation.examples])
    resampled = clip_data(tiny_config(corpus, "data.train_unknown_percentage=5",
                                      "data.resample_unknown=true"))
    assert resampled.n_unknown == 4  # ceil(80 * 0.05) drawn of the 16 each epoch


def semi_orthogonality_error(layer) -> float:
    """Largest deviation of M Mᵀ / α² from I for a TDNN-F factor M (α² its mean diagonal)."""
    m = layer.factor.weight.detach().reshape(layer.factor.weight.shape[0], -1)
    p = m @ m.T
    return float((p / p.diagonal().mean() - torch.eye(len(p))).abs().max())


def test_trainer_keeps_tdnnf_factors_semi_orthogonal():
    torch.manual_seed(0)
    cfg = ModelConfig(layers=[LayerSpec(16, [-1, 0, 1], rank=4), LayerSpec(16, [-2, 0, 2], rank=4)])
    model = build_model(cfg, 10, 3)
    factored = [m for m in model.modules() if isinstance(m, TDNNLayer)]
    before = [semi_orthogonality_error(m) for m in factored]
    x, y = torch.randn(64, 10, 20), torch.randint(0, 3, (64,))
    fit(model, FeatureData(x, y), features_config(epochs=3, batch_size=8, lr=1e-2))
    after = [semi_orthogonality_error(m) for m in factored]
    assert min(before) > 0.2  # PyTorch's initialisation is far from semi-orthogonal
    assert max(after) < 0.05


def test_extra_training_corpora_and_a_validation_corpus(corpus, tmp_path):
    voices = make_corpus(tmp_path / "voices", speakers=6, takes=1)  # another "engine"
    cfg = tiny_config(corpus, f"data.extra_train=[{voices}]", f"data.validation_root={voices}")
    data = clip_data(cfg)
    keywords = ("yes", "no", "up", "down", "left")

    def clips(root, speakers, takes):  # the fixture's layout: speakers 0-1 validation, 2-3 test
        return {str(root / w / f"spk{s:02d}_nohash_{t}.wav")
                for w in keywords for s in speakers for t in range(takes)}

    train = {str(ex.path) for ex in data.train.examples if ex.label in keywords}
    val = {str(ex.path) for ex in data.validation.examples if ex.label in keywords}
    assert train == clips(corpus, range(4, 12), 2) | clips(voices, range(4, 6), 1)
    assert val == clips(voices, range(2), 1)


def test_extra_validation_corpora_join_the_validation_speakers(corpus, tmp_path):
    voices = make_corpus(tmp_path / "voices", speakers=6, takes=1)
    data = clip_data(tiny_config(corpus, f"data.extra_validation=[{voices}]"))
    keywords = ("yes", "no", "up", "down", "left")
    val = {str(ex.path) for ex in data.validation.examples if ex.label in keywords}
    # the fixture's layout: speakers 0-1 are validation; the corpus has 2 takes, voices 1
    assert val == {str(root / w / f"spk{s:02d}_nohash_{t}.wav") for root, takes in
                   ((corpus, 2), (voices, 1)) for w in keywords for s in range(2)
                   for t in range(takes)}
