"""`tdnn features`: mirrored tree, archive, list files, config precedence, bad files, exit codes."""

import numpy as np
import pytest
import soundfile as sf
import yaml

from tdnn import audio, config
from tdnn.cli import main
from tdnn.features import Frontend, FrontendConfig


@pytest.fixture
def corpus(tmp_path):
    """Nested folder: clips of different lengths and rates, one FLAC, one corrupt file."""
    rng = np.random.default_rng(0)
    root = tmp_path / "in"
    clips = {"one": (16000, 16000), "yes/a": (16000, 16000), "yes/b": (12345, 16000),
             "no/deep/c": (8000, 8000)}
    for key, (n, sr) in clips.items():
        path = root / f"{key}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal(n), sr)
    sf.write(root / "no" / "d.flac", 0.1 * rng.standard_normal(4000), 16000)
    (root / "no" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (root / "notes.md").write_text("not audio, and not picked up from folders\n")
    return root


GOOD = ["one", "yes/a", "yes/b", "no/deep/c", "no/d"]


def expected(root, key, cfg):
    path = next(root.glob(f"{key}.*"))
    return Frontend(cfg).extract(audio.load(path, cfg.sample_rate))


def test_folder_mirrors_tree_and_reports_bad_file(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["features", str(corpus), "--out", str(out), "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "broken.wav" in err and "not readable" in err
    assert "broken.wav" in (out / "failed.txt").read_text()
    cfg = config.load(FrontendConfig, out / "frontend.yaml")
    assert cfg == FrontendConfig()
    written = sorted(p.relative_to(out).with_suffix("").as_posix() for p in out.rglob("*.npy"))
    assert written == sorted(GOOD)
    for key in GOOD:
        feats = np.load(out / f"{key}.npy")
        np.testing.assert_allclose(feats, expected(corpus, key, cfg), atol=1e-4)
    assert np.load(out / "yes/b.npy").shape == (1 + 12345 // 160, 40)


def test_all_good_exits_zero_and_archive_matches(corpus, tmp_path):
    (corpus / "no" / "broken.wav").unlink()
    rc = main(["features", str(corpus), "--out", str(tmp_path / "o"), "--archive", "f.npz",
               "--kind", "mfcc", "--no-progress"])
    assert rc == 0
    assert not (tmp_path / "o" / "failed.txt").exists()
    archive = np.load(tmp_path / "o" / "f.npz")
    assert sorted(archive.files) == sorted(GOOD)
    cfg = FrontendConfig(kind="mfcc")
    for key in GOOD:
        np.testing.assert_allclose(archive[key], expected(corpus, key, cfg), atol=1e-4)


def test_list_file_with_missing_entry(corpus, tmp_path, capsys):
    listing = corpus / "list.txt"
    listing.write_text("# clips\nyes/a.wav\n\nno/missing.wav\n")
    rc = main(["features", str(listing), str(corpus / "one.wav"), "--out", str(tmp_path / "o"),
               "--no-progress"])
    assert rc == 1
    assert "missing.wav" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o").rglob("*.npy")) == ["a.npy", "one.npy"]
    assert (tmp_path / "o" / "yes" / "a.npy").exists()


def test_config_file_flags_and_set_precedence(corpus, tmp_path):
    run_cfg = tmp_path / "config.yaml"
    run_cfg.write_text(yaml.safe_dump({"frontend": {"kind": "mfcc", "n_mels": 64, "n_mfcc": 30},
                                       "train": {"epochs": 3}}))
    out = tmp_path / "o"
    main(["features", str(corpus / "one.wav"), "--out", str(out), "--config", str(run_cfg),
          "--n-mfcc", "20", "--set", "deltas=1", "--no-progress"])
    cfg = config.load(FrontendConfig, out / "frontend.yaml")
    assert (cfg.kind, cfg.n_mels, cfg.n_mfcc, cfg.deltas) == ("mfcc", 64, 20, 1)
    assert np.load(out / "one.npy").shape == (101, 40)


def test_process_pool_gives_same_output(corpus, tmp_path):
    for jobs in ("1", "2"):
        main(["features", str(corpus), "--out", str(tmp_path / jobs), "--jobs", jobs,
              "--batch-size", "2", "--no-progress"])
    for key in GOOD:
        np.testing.assert_array_equal(np.load(tmp_path / "1" / f"{key}.npy"),
                                      np.load(tmp_path / "2" / f"{key}.npy"))


@pytest.mark.parametrize("args, words", [
    (["--n-mfcc", "99", "--kind", "mfcc"], "n_mfcc"),
    (["--set", "kind=cepstrum"], "kind"),
    (["--archive", "f.zip"], ".npz"),
    (["--jobs", "0"], "--jobs"),
])
def test_bad_options_exit_2_with_one_line(corpus, tmp_path, capsys, args, words):
    rc = main(["features", str(corpus), "--out", str(tmp_path / "o"), "--no-progress", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and words in err and len(err.splitlines()) == 1


def test_missing_input_empty_folder_and_collisions_exit_2(corpus, tmp_path, capsys):
    out = ["--out", str(tmp_path / "o"), "--no-progress"]
    assert main(["features", str(tmp_path / "nothing"), *out]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["features", str(tmp_path / "empty"), *out]) == 2
    sf.write(corpus / "one.flac", np.zeros(100) + 0.1, 16000)
    assert main(["features", str(corpus), *out]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "no audio files" in err and "one.flac" in err
