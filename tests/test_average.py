"""Weight averaging (tdnn.average, `tdnn average`) and the epochs a run keeps for it
(`keep_epochs`): means against hand-computed values, the kept epochs against the run's own
model.pt, and refusals that write nothing."""

import numpy as np
import pytest
import soundfile as sf
import torch

from run_fixture import LABELS, make_run
from tdnn import ensemble
from tdnn.average import average_state
from tdnn.cli import main
from tdnn.config import DataConfig, FrontendConfig, ModelConfig, TrainConfig
from tdnn.errors import ConfigError
from tdnn.runs import load_checkpoint, load_run
from tdnn.train import train


def test_average_state_by_hand():
    """Floats are the mean (computed in double), integer step counts the largest."""
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([4.0, -2.0]), "n": torch.tensor(5)}
    c = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(1)}
    out = average_state([a, b, c])
    assert out["w"].tolist() == [2.0, 1.0] and out["w"].dtype == torch.float32
    assert out["n"].item() == 5 and out["n"].dtype == torch.int64


def test_average_cli_writes_a_loadable_run_of_the_mean(tmp_path, capsys):
    """Two run folders of one model average into a run whose every float tensor is (a + b) / 2."""
    a, b = make_run(tmp_path / "a", seed=0), make_run(tmp_path / "b", seed=1)
    assert main(["average", str(a), str(b / "model.pt"), "--out", str(tmp_path / "avg")]) == 0
    assert "the mean of 2 checkpoints" in capsys.readouterr().out
    sa, sb = (load_checkpoint(p / "model.pt")["state_dict"] for p in (a, b))
    run = load_run(tmp_path / "avg")
    got = run.model.state_dict()
    for key, value in sa.items():
        if value.is_floating_point():
            np.testing.assert_allclose(got[key].numpy(), (value.numpy() + sb[key].numpy()) / 2,
                                       rtol=1e-6, atol=1e-7)
    assert run.labels == LABELS and (tmp_path / "avg" / "config.yaml").is_file()


@pytest.mark.parametrize("case", ["one", "labels", "model", "ensemble", "out_used",
                                  "out_is_source"])
def test_average_refuses_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    a, b = make_run(tmp_path / "a", seed=0), make_run(tmp_path / "b", seed=1)
    out = tmp_path / "avg"
    if case == "labels":
        b = make_run(tmp_path / "c", labels=LABELS[:-1] + ["left"])
    elif case == "model":
        b = make_run(tmp_path / "c", overrides=["model.causal=true"])
    elif case == "ensemble":
        b = tmp_path / "ens"
        b.mkdir()
        ensemble.write(b, [a, tmp_path / "b"], [0.5, 0.5])
    elif case == "out_used":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    elif case == "out_is_source":
        out = b
    argv = ["average", str(a)] + ([] if case == "one" else [str(b)]) + ["--out", str(out)]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tdnn average: error:") and "\n" not in err
    expected = {"one": "at least two", "labels": "labels differ", "model": "model options differ",
                "ensemble": "an ensemble folder", "out_used": "not an empty folder",
                "out_is_source": "one of the sources"}[case]
    assert expected in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_keep_epochs_keeps_the_last_epochs_and_the_last_is_model_pt(tmp_path):
    """A stream run (no validation: model.pt is the last epoch) with keep_epochs=2 of 3 keeps
    epochs 2 and 3; epoch 3's weights are model.pt's, epoch 2's differ."""
    rng = np.random.default_rng(1)
    sf.write(tmp_path / "s.wav", rng.normal(0, 0.05, 16000 * 12).astype(np.float32), 16000)
    (tmp_path / "reference.csv").write_text("file,label,start,end\ns.wav,yes,3.0,3.4\n")
    cfg = TrainConfig(epochs=3, keep_epochs=2, batch_size=4, progress=False, threads=1,
                      model=ModelConfig(preset="kws", causal=True),
                      frontend=FrontendConfig(normalize="none"), loss="window_ce",
                      data=DataConfig(train_streams=[str(tmp_path)]))
    train(cfg, tmp_path / "r")
    kept = sorted(p.name for p in (tmp_path / "r").glob("epoch_*.pt"))
    assert kept == ["epoch_002.pt", "epoch_003.pt"]
    best = load_checkpoint(tmp_path / "r" / "model.pt")
    last, before = (load_checkpoint(tmp_path / "r" / k) for k in kept[::-1])
    assert last["epoch"] == best["epoch"] == 3 and before["epoch"] == 2
    for key, value in best["state_dict"].items():
        assert torch.equal(last["state_dict"][key], value)
    assert any(not torch.equal(before["state_dict"][k], v) for k, v in best["state_dict"].items())
    with pytest.raises(ConfigError, match="keep_epochs"):
        train(TrainConfig(epochs=2, keep_epochs=3), tmp_path / "r2")
