"""The Speech Commands recipe end to end on a tiny corpus, and recipe discovery."""

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest

from tdnn.cli import main as cli_main
from tdnn.cli.recipe import available
from tdnn.runs import load_run

sys.path.insert(0, str(Path(__file__).parent))
from sc_fixture import make_corpus  # noqa: E402
from test_train import TINY  # noqa: E402


def test_recipes_are_discovered_from_their_folders():
    assert available()["speech-commands"] == "recipes.speech_commands.run"


@pytest.mark.slow
def test_speech_commands_recipe_end_to_end(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "data")
    voices = tmp_path / "voices"  # a held-out folder without list files, one keyword + one other
    for word in ("no", "cat"):
        for clip in sorted((corpus / word).glob("*.wav"))[:6]:
            (voices / word).mkdir(parents=True, exist_ok=True)
            shutil.copy(clip, voices / word / clip.name)
    run = tmp_path / "run"
    sets = [x for item in TINY + ["epochs=2"] for x in ("--set", item)]
    engines = make_corpus(tmp_path / "engines", speakers=6, takes=1)  # other engines' voices
    code = cli_main(["recipe", "speech-commands", "--out", str(run), "--data-dir", str(corpus),
                     "--heldout", str(voices), "--voices", str(engines), "--dev-voices", str(engines),
                     "--seed", "1",
                     "--baseline", "logmel", "--baseline", "cnn2d", "--baseline-epochs", "1",
                     *sets])
    assert code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["seed"] == 1
    model = load_run(run).model
    assert metrics["params"] == sum(p.numel() for p in model.parameters())
    held = metrics["heldout"]["voices"]
    assert held["n"] == 12 and held["per_class"]["_unknown_"]["support"] == 6
    assert set(held["by_word"]) == {"no", "cat"}
    assert "voices" in metrics["baselines"]["cnn2d"]["heldout"]
    assert metrics["baselines"]["logmel"]["summary"]["params"] != metrics["params"]
    # the cnn2d baseline trains as the log-mel TDNN does: config.toml without the preset's dropout
    cnn, logmel = load_run(run / "baseline_cnn2d").cfg, load_run(run / "baseline_logmel").cfg
    assert (cnn.model.arch, cnn.model.dropout, cnn.epochs) == ("cnn2d", 0.0, 1)
    assert (cnn.optim, cnn.augment, cnn.frontend) == (logmel.optim, logmel.augment, logmel.frontend)
    # dev = the validation split of --voices: speakers 0-1 x 6 words x 1 take, scored whole
    assert metrics["dev"]["n"] == 12 and metrics["dev"]["per_class"]["_unknown_"]["support"] == 2
    report = (run / "report.md").read_text()
    assert "Baseline comparison" in report and "| cnn2d |" in report
    for name in ("test/metrics.json", "test/confusion.png", "curves.png",
                 "heldout/voices/report.md", "baseline_cnn2d/model.pt"):
        assert (run / name).is_file(), name
    # RUN is a trained model for the other commands.
    assert cli_main(["evaluate", str(run), "--data-dir", str(voices), "--out",
                     str(tmp_path / "ev")]) == 0
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert ev["accuracy"] == pytest.approx(held["accuracy"])
    # the recipe's test figure is what `tdnn evaluate` scores clip by clip on the test split
    assert cli_main(["evaluate", str(run), "--data-dir", str(corpus), "--out",
                     str(tmp_path / "ev_test")]) == 0
    with open(tmp_path / "ev_test" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == metrics["test"]["n"]
    assert metrics["test"]["accuracy"] == pytest.approx(
        sum(r["label"] == r["predicted"] for r in rows) / len(rows))
    # the ensemble of the main model and the log-mel baseline is scored like them, and is a
    # model folder for `tdnn evaluate` too
    fused = metrics["ensemble"]
    assert fused["params"] == metrics["params"] + metrics["baselines"]["logmel"]["params"]
    assert cli_main(["evaluate", str(run / "ensemble"), "--data-dir", str(voices), "--out",
                     str(tmp_path / "ev_ens")]) == 0
    ev = json.loads((tmp_path / "ev_ens" / "metrics.json").read_text())
    assert ev["accuracy"] == pytest.approx(fused["heldout"]["voices"]["accuracy"])
    assert "**Ensemble**" in report


def test_recipe_bad_option_is_a_clear_error(tmp_path, capsys):
    code = cli_main(["recipe", "speech-commands", "--out", str(tmp_path / "r"), "--data-dir",
                     str(tmp_path / "missing"), "--no-heldout", "--baseline", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "missing" in err[0]


def test_engines_render_dev_and_training_voices_once(tmp_path, monkeypatch):
    pytest.importorskip("piper", reason="the piper extra is not installed")
    from argparse import Namespace

    from recipes.speech_commands import run as recipe
    from tdnn.errors import UserError
    monkeypatch.setenv("TDNN_TTS_CACHE", str(tmp_path / "cache"))
    args = Namespace(engines="piper", seed=0, jobs=1, takes=1, task=12)
    folder = recipe.stage_voices(tmp_path / "voices", args)
    # Piper's one voice (joe) is a dev voice: all 35 words in the validation list, none trained.
    validation = (folder / "validation_list.txt").read_text().split()
    assert len(validation) == 35 and all("piper-joe_nohash_0" in f for f in validation)
    assert not [f for f in folder.glob("*/*.wav") if f.parent.name != "_background_noise_"
                and f.relative_to(folder).as_posix() not in validation]
    stamp = (folder / "yes" / "piper-joe_nohash_0.wav").stat().st_mtime_ns
    assert recipe.stage_voices(folder, args) == folder  # finished: nothing rendered again
    assert (folder / "yes" / "piper-joe_nohash_0.wav").stat().st_mtime_ns == stamp
    with pytest.raises(UserError, match="--engines"):
        recipe.stage_voices(tmp_path / "v2", Namespace(engines="espeak,kokoro", seed=0, jobs=1,
                                                       takes=1, task=12))
    with pytest.raises(UserError, match="--takes"):
        recipe.stage_voices(tmp_path / "v3", Namespace(engines="piper", seed=0, jobs=1, takes=0,
                                                       task=12))
    mine = tmp_path / "mine"  # a folder tdnn did not start is refused and left alone
    (mine / "notes.txt").parent.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(UserError, match="--voices-dir"):
        recipe.stage_voices(mine, args)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_compare_seeds_pairs_runs_by_seed(tmp_path, capsys):
    """Mean, std and the paired t-test of main model vs baseline, by hand (df = 2)."""
    from recipes.speech_commands import compare_seeds

    def section(acc):
        held = {"ten_word_accuracy": acc - 0.1, "accuracy": acc - 0.2}
        return {"best": {"val_accuracy": acc}, "test": {"accuracy": acc}, "params": 10,
                "epochs_run": 18, "heldout": {"heldout_tts": held}}

    runs = []
    for seed, (main, cnn) in enumerate([(0.98, 0.96), (0.97, 0.97), (0.99, 0.95)]):
        run = tmp_path / f"s{seed}"
        run.mkdir()
        (run / "metrics.json").write_text(json.dumps(
            {"seed": seed, **section(main), "baselines": {"cnn2d": section(cnn)}}))
        runs.append(run)
    assert compare_seeds.main([*map(str, runs), "--out", str(tmp_path / "c.json")]) == 0
    test = next(r for r in json.loads((tmp_path / "c.json").read_text())["rows"]
                if r["metric"] == "test")
    # differences 2, 0, 4 points: mean 2, sd 2, t = sqrt(3); df 2: p = 1 - t / sqrt(2 + t^2)
    assert test["delta_points"] == pytest.approx(2.0)
    assert test["main_std"] == pytest.approx(0.01)
    assert test["p_value"] == pytest.approx(1 - 3 ** 0.5 / 5 ** 0.5)
    assert "| eSpeak test | 98.00 ± 1.00 | 96.00 ± 1.00 | +2.00 | 0.23 |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="same seed"):
        compare_seeds.main([str(runs[0]), str(runs[0]), "--out", str(tmp_path / "d.json")])
