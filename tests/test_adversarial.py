"""Adversarial inputs and faults (issue 13): each ends in one stderr line naming the file or
option, a non-zero exit, nothing lost and nothing written outside --out.

A small adversarial corpus is built once: empty, truncated and good clips, a FIFO, names with a
newline and a tab, a dangling link and a linked folder that loops. Full and read-only output
folders are tiny tmpfs mounts (skipped, with the reason, where mounting is not permitted).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tdnn import config
from tdnn.cli import main as cli_main
from tdnn.data.corpus import DONE, PLAN
from tdnn.train import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from sc_fixture import make_corpus, tone_word  # noqa: E402

TDNN = [sys.executable, "-m", "tdnn"]
TINY = ["batch_size=16", "threads=1", "progress=false", "augment.speed_prob=0",
        "augment.vtlp_prob=0", "augment.reverb_prob=0", "augment.bandlimit_prob=0",
        "model.layers=[{dim: 8, context: [-2, 0, 2]}]"]
PREPARE = ["prepare", "synth-commands", "--words", "yes,no", "--noise-seconds", "1", "--jobs",
           "1", "--quiet"]


def sets(*overrides: str) -> list[str]:
    """`--set` flags for the given overrides."""
    return [a for o in overrides for a in ("--set", o)]


def cli(capsys, *args) -> tuple[int, str, list[str]]:
    """Run `tdnn ARGS` in this process: (exit code, stdout, stderr lines)."""
    capsys.readouterr()
    rc = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, [line for line in err.splitlines() if line.strip()]


def one_error(err: list[str], *needles: str) -> str:
    """The single error line, checked to contain every needle."""
    assert len(err) == 1, err
    assert all(n in err[0] for n in needles), err[0]
    return err[0]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` (relative path -> bytes), to prove nothing changed."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A real-style Speech Commands copy (user data: no tdnn markers)."""
    return make_corpus(tmp_path_factory.mktemp("sc"), words=("yes", "no", "up"), speakers=6,
                       takes=1)


@pytest.fixture(scope="module")
def run_dir(corpus, tmp_path_factory) -> Path:
    """A finished 2-epoch run trained by `tdnn train` on the tiny corpus."""
    out = tmp_path_factory.mktemp("run") / "R"
    assert cli_main(["train", "--out", str(out), "--data-dir", str(corpus),
                     *sets("epochs=2", *TINY)]) == 0
    return out


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    """The adversarial audio folder."""
    root = tmp_path_factory.mktemp("bad")
    sf.write(root / "good.wav", tone_word("yes", 0, 0), 16000, subtype="PCM_16")
    (root / "empty.wav").write_bytes(b"")
    (root / "truncated.wav").write_bytes((root / "good.wav").read_bytes()[:3000])
    os.mkfifo(root / "fifo.wav")
    shutil.copy(root / "good.wav", root / "new\nline.wav")
    shutil.copy(root / "good.wav", root / "tab\tname.wav")
    (root / "dangling.wav").symlink_to(root / "gone.wav")
    (root / "sub").mkdir()
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    return root


@pytest.fixture
def tiny_fs(tmp_path):
    """Mount a tmpfs (`size=` and other options) on a fresh folder; unmount afterwards."""
    mounted = []

    def mount(name: str, options: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'})")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def prepare(capsys, out: Path, *more) -> int:
    """`tdnn prepare synth-commands` for a two-word corpus; its exit code."""
    return cli(capsys, *PREPARE, "--out", out, *more)[0]


# ------------------------------------------------------------ data loss, writes outside --out

def test_recipe_corpus_dir_never_deletes_user_files(tmp_path, capsys):
    important = tmp_path / "important"
    important.mkdir()
    (important / "thesis.tex").write_text("thesis")
    rc, _, err = cli(capsys, "recipe", "speech-commands", "--out", tmp_path / "RC",
                     "--corpus-dir", important, "--speakers", "2", "--no-heldout",
                     "--baseline", "none", "--set", "epochs=1")
    assert rc == 2
    one_error(err, f"--corpus-dir {important}", "not empty")
    assert (important / "thesis.tex").read_text() == "thesis"


def test_list_entries_cannot_write_outside_out(tmp_path, bad, capsys):
    proj = tmp_path / "proj"
    (proj / "lists").mkdir(parents=True)
    (proj / "audio").mkdir()
    shutil.copy(bad / "good.wav", proj / "audio" / "a.wav")
    (proj / "lists" / "train.txt").write_text("../audio/a.wav\n")
    before = snapshot(proj)
    rc, _, err = cli(capsys, "features", proj / "lists" / "train.txt", "--out", proj / "feats")
    assert rc == 2
    one_error(err, f"{proj / 'lists' / 'train.txt'}:1", "outside --out")
    assert snapshot(proj) == before


def test_archive_name_cannot_leave_out(tmp_path, bad, capsys):
    rc, _, err = cli(capsys, "features", bad / "good.wav", "--out", tmp_path / "f",
                     "--archive", "../x.npz")
    assert rc == 2
    one_error(err, "--archive ../x.npz", "outside")
    assert not (tmp_path / "x.npz").exists()


def _write_half_then_disk_full(f, array, *args, **kwargs):
    """Stands in for np.lib.format.write_array: writes part of a file, then the disk is full."""
    f.write(b"\x93NUMPY half")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("archive", [None, "a.npz"])
def test_features_rewrite_is_atomic(tmp_path, bad, capsys, monkeypatch, archive):
    out = tmp_path / "f"
    extra = ["--archive", archive] if archive else []
    assert cli(capsys, "features", bad / "good.wav", "--out", out, *extra)[0] == 0
    before = snapshot(out)
    monkeypatch.setattr(np.lib.format, "write_array", _write_half_then_disk_full)
    rc, _, err = cli(capsys, "features", bad / "good.wav", "--out", out, *extra)
    assert rc == 2
    one_error(err, "disk full", str(out / (archive or "good.npy")))
    assert snapshot(out) == before  # the good file survives, no temporary left behind


def _wavs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.wav") if p.is_file()]


def test_prepare_on_a_full_disk_stops_with_one_line(tiny_fs, capsys):
    out = tiny_fs("full", "size=2m") / "D"
    rc, _, err = cli(capsys, *PREPARE, "--out", out, "--speakers", "40")
    assert rc == 2
    one_error(err, "disk full")
    assert _wavs(out) and all(p.stat().st_size > 44 for p in _wavs(out))  # no empty clips
    assert not list(out.rglob("*.tmp")) and not (out / DONE).exists()
    assert all(sf.info(p).frames == 16000 for p in _wavs(out) if "noise" not in str(p))


def test_interrupted_corpus_is_refused_and_real_copies_accepted(tmp_path, corpus, run_dir,
                                                                capsys):
    out = tmp_path / "D"
    assert prepare(capsys, out, "--speakers", "2") == 0
    assert (out / DONE).is_file() and (out / PLAN).is_file()
    (out / DONE).unlink()  # as if prepare had been killed
    rc, _, err = cli(capsys, "train", "--out", tmp_path / "R", "--data-dir", out,
                     *sets("epochs=1", *TINY))
    assert rc == 2
    one_error(err, str(out), "incomplete corpus", "rerun prepare")
    assert not (tmp_path / "R" / "model.pt").exists()
    rc, _, err = cli(capsys, "evaluate", run_dir, "--data-dir", out, "--out", tmp_path / "E")
    assert rc == 2
    one_error(err, "incomplete corpus")
    rc, _, err = cli(capsys, "evaluate", run_dir, "--data-dir", corpus, "--out", tmp_path / "E2")
    assert rc == 0, err  # a copy with no markers is user data: accepted


def test_killed_prepare_leaves_no_workers_and_an_incomplete_corpus(tmp_path):
    out = tmp_path / "D"
    proc = subprocess.Popen([*TDNN, *PREPARE[:-3], "--jobs", "2", "--quiet", "--out", str(out),
                             "--speakers", "60"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _wavs(out) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)  # poll for the condition: the first clip is on disk
        children = _children(proc.pid)
        assert children and proc.poll() is None, "prepare finished before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in children)
    assert (out / PLAN).is_file() and not (out / DONE).exists()
    rc = subprocess.run([*TDNN, "train", "--out", str(tmp_path / "R"), "--data-dir", str(out)],
                        capture_output=True, text=True)
    assert rc.returncode == 2 and "incomplete corpus" in rc.stderr


def _children(pid: int) -> list[int]:
    """Child process ids of `pid` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_prepare_overwrite_removes_only_its_own_stale_files(tmp_path, capsys):
    out = tmp_path / "D"
    assert prepare(capsys, out, "--speakers", "2") == 0
    (out / "notes.txt").write_text("mine")
    (out / "no" / "mine.wav").write_bytes(b"user clip")
    old_no = [p for p in (out / "no").iterdir() if p.name != "mine.wav"]
    rc, _, err = cli(capsys, *PREPARE[:3], "yes", "--noise-seconds", "0", "--jobs", "1",
                     "--quiet", "--out", out, "--speakers", "2", "--overwrite")
    assert rc == 0, err
    assert old_no and not any(p.exists() for p in old_no)
    assert not (out / "_background_noise_").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "no" / "mine.wav").read_bytes() == b"user clip"
    assert len(_wavs(out / "yes")) == 2 and (out / DONE).is_file()


def test_features_refuse_to_mix_kinds_in_one_out(tmp_path, bad, capsys):
    out = tmp_path / "f"
    assert cli(capsys, "features", bad / "good.wav", "--out", out, "--kind", "spectrogram")[0] == 0
    before = snapshot(out)
    rc, _, err = cli(capsys, "features", bad / "good.wav", "--out", out, "--kind", "mfcc")
    assert rc == 2
    one_error(err, f"--out {out}", "kind=spectrogram")
    assert snapshot(out) == before


def test_evaluate_and_stream_eval_keep_the_runs_metrics(run_dir, corpus, tmp_path, capsys):
    before = snapshot(run_dir)
    rc, _, err = cli(capsys, "evaluate", run_dir, "--data-dir", corpus, "--out", run_dir)
    assert rc == 2
    one_error(err, f"--out {run_dir}", "metrics.json")
    rc, _, err = cli(capsys, "stream", run_dir, "--eval", corpus, "--out", run_dir)
    assert rc == 2
    one_error(err, f"--out {run_dir}", "metrics.json")
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("override,needle", [("epochs=1", "'epochs'"),
                                             ("model.preset=cnn2d", "'model.")])
def test_resume_keeps_the_saved_config_true(run_dir, capsys, override, needle):
    before = snapshot(run_dir)
    rc, _, err = cli(capsys, "train", "--out", run_dir, "--resume", "--set", override)
    assert rc == 2
    one_error(err, needle)
    assert snapshot(run_dir) == before


# ------------------------------------------------------------ one line instead of a traceback

def test_read_only_outputs_are_one_line(tiny_fs, run_dir, bad, corpus, capsys):
    ro = tiny_fs("ro", "size=1m,ro")
    cases = [
        ("features", bad / "good.wav", "--out", ro / "f"),
        (*PREPARE, "--out", ro / "D", "--speakers", "1"),
        ("train", "--out", ro / "R", "--data-dir", corpus, *sets("epochs=1", *TINY)),
        ("evaluate", run_dir, "--data-dir", corpus, "--out", ro / "E"),
        ("export", run_dir, "--out", ro / "m.onnx"),
    ]
    for args in cases:
        rc, _, err = cli(capsys, *args)
        assert rc == 2, args
        one_error(err, str(ro), "not writable")


def test_export_to_an_existing_folder_is_one_line(run_dir, tmp_path, capsys):
    (tmp_path / "m.onnx").mkdir()
    rc, _, err = cli(capsys, "export", run_dir, "--out", tmp_path / "m.onnx")
    assert rc == 2
    one_error(err, str(tmp_path / "m.onnx"))


def test_full_disk_during_training_is_one_line(tiny_fs, corpus, capsys):
    out = tiny_fs("full", "size=64k") / "R"
    rc, _, err = cli(capsys, "train", "--out", out, "--data-dir", corpus,
                     *sets("epochs=1", *TINY, "model.layers=[{dim: 256, context: [-2, 0, 2]}]"))
    assert rc == 2
    one_error(err, "disk full", str(out))
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("override,needle", [
    ("seed=-1", "'seed'"), ("seed=12345678901234567890123", "'seed'"),
    ("optim.weight_decay=.nan", "'optim.weight_decay'"),
    ("data.silence_percentage=.nan", "'data.silence_percentage'"),
    ("optim.lr=.inf", "'optim.lr'"), ("optim.lr=1e38", "'optim.lr'"),
    ("augment.noise_prob=5", "'augment.noise_prob'"),
    ("frontend.hop_ms=30", "'hop_ms'"), ("frontend.n_mels=2000", "'n_mels'"),
    ("data=5", "'data'"), ("data.clip_samples=1e9", "'data.clip_samples'"),
])
def test_bad_config_values_are_named(corpus, tmp_path, capsys, override, needle):
    rc, _, err = cli(capsys, "train", "--out", tmp_path / "R", "--data-dir", corpus,
                     *sets("epochs=1", *TINY, override))
    assert rc == 2
    line = one_error(err, needle)
    assert "expected float" not in line
    assert not (tmp_path / "R").exists()


def test_exponent_without_a_dot_is_a_number():
    cfg = config.load(TrainConfig, None, ["data.clip_samples=2e4", "optim.lr=1e-3"])
    assert cfg.data.clip_samples == 20000 and cfg.optim.lr == pytest.approx(1e-3)


def test_fmax_1e9_is_read_as_a_number(bad, tmp_path, capsys):
    rc, _, err = cli(capsys, "features", bad / "good.wav", "--out", tmp_path / "f",
                     "--fmax", "1e9")
    assert rc == 2
    one_error(err, "fmin/fmax", "8000")


def test_a_diverging_loss_stops_training(corpus, tmp_path, capsys, monkeypatch):
    nan = torch.tensor(float("nan"), requires_grad=True)
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", lambda *a, **k: nan * 1)
    rc, _, err = cli(capsys, "train", "--out", tmp_path / "R", "--data-dir", corpus,
                     *sets("epochs=1", *TINY))
    assert rc == 2
    one_error(err, "training diverged", "loss is nan", "optim.lr")
    assert not (tmp_path / "R" / "model.pt").exists()


def test_wrong_checkpoints_and_configs_are_one_line(run_dir, corpus, tmp_path, capsys):
    wrong = tmp_path / "RL"
    wrong.mkdir()
    shutil.copy(run_dir / "last.pt", wrong / "model.pt")
    rc, _, err = cli(capsys, "evaluate", wrong, "--data-dir", corpus, "--out", tmp_path / "E")
    assert rc == 2
    one_error(err, str(wrong / "model.pt"), "not a model checkpoint")

    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    ckpt["labels"] = ckpt["labels"][:3]
    mismatch = tmp_path / "RM"
    mismatch.mkdir()
    torch.save(ckpt, mismatch / "model.pt")
    rc, _, err = cli(capsys, "evaluate", mismatch, "--data-dir", corpus, "--out", tmp_path / "E")
    assert rc == 2
    one_error(err, str(mismatch / "model.pt"), "weights do not fit")

    binary = tmp_path / "c.yaml"
    binary.write_bytes(bytes(range(256)))
    rc, _, err = cli(capsys, "train", "--out", tmp_path / "R", "--config", binary)
    assert rc == 2
    one_error(err, str(binary), "not a text config")


@pytest.mark.parametrize("command", ["features", "predict", "stream"])
def test_a_fifo_never_blocks(command, bad, run_dir, tmp_path):
    args = {"features": ["features", bad / "fifo.wav", "--out", tmp_path / "f"],
            "predict": ["predict", run_dir, bad / "fifo.wav"],
            "stream": ["stream", run_dir, bad / "fifo.wav"]}[command]
    done = subprocess.run([*TDNN, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    one_error(done.stderr.splitlines(), str(bad / "fifo.wav"), "FIFO")


def test_folder_scans_report_what_they_skip(bad, run_dir, tmp_path, capsys):
    rc, _, err = cli(capsys, "features", bad, "--out", tmp_path / "f")
    assert rc == 1
    text = "\n".join(err)
    for needle in ("fifo.wav: a FIFO", "dangling.wav: dangling symbolic link",
                   "sub/loop: linked folder not followed", "empty.wav: empty file",
                   "truncated.wav: truncated"):
        assert needle in text, needle
    rc, out, err = cli(capsys, "predict", run_dir, bad)
    assert rc == 1
    assert any("sub/loop: linked folder not followed" in line for line in err)
    assert len(out.splitlines()) == 3  # good, new\nline, tab\tname: one line each
    assert any(line.startswith(str(bad / "new\\nline.wav") + "\t") for line in out.splitlines())
    assert any(line.startswith(str(bad / "tab\\tname.wav") + "\t") for line in out.splitlines())


def test_failed_list_escapes_names_and_a_clean_rerun_removes_it(tmp_path, bad, capsys):
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "a\nb.wav").write_bytes(b"")
    (odd / "c\td.wav").write_bytes(b"")
    out = tmp_path / "f"
    rc, _, err = cli(capsys, "features", odd, "--out", out)
    assert rc == 1
    lines = (out / "failed.txt").read_text().splitlines()
    assert len(lines) == 2 and all(line.count("\t") == 1 for line in lines)
    assert lines[0].startswith(str(odd / "a\\nb.wav") + "\t")
    assert lines[1].startswith(str(odd / "c\\td.wav") + "\t")
    for p in odd.iterdir():
        shutil.copy(bad / "good.wav", p)
    assert cli(capsys, "features", odd, "--out", out)[0] == 0
    assert not (out / "failed.txt").exists()


def _interrupted(folder: Path) -> Path:
    """A folder as a killed build leaves it: a plan, one clip, no completion marker."""
    (folder / "yes").mkdir(parents=True)
    (folder / PLAN).write_text(json.dumps({"files": ["yes/a_nohash_0.wav"]}))
    (folder / "yes" / "a_nohash_0.wav").write_bytes(b"half")
    return folder


def test_ablate_rebuilds_interrupted_corpora_and_keeps_user_ones(tmp_path, monkeypatch):
    from data_prep import synth_commands
    from tdnn.experiments import ablation

    built = []
    monkeypatch.setattr(synth_commands, "build",
                        lambda out, *a, **k: built.append(out) or {"failures": []})
    user = tmp_path / "kws"
    user.mkdir()
    (user / "thesis.tex").write_text("mine")
    _interrupted(tmp_path / "pairs")
    ablation.ensure_corpora(ablation.AblationConfig(), tmp_path, {"pairs", "kws"}, log=str)
    assert built == [tmp_path / "pairs"]
    assert (user / "thesis.tex").read_text() == "mine"


def test_recipe_corpus_stage_resumes_an_interrupted_build(tmp_path, monkeypatch):
    from argparse import Namespace

    from data_prep import synth_commands
    from recipes.speech_commands import run as recipe

    built = []
    monkeypatch.setattr(synth_commands, "build",
                        lambda out, *a, **k: built.append(out) or {"failures": []})
    folder = _interrupted(tmp_path / "corpus")
    args = Namespace(speakers=2, seed=0, jobs=1)
    assert recipe.stage_corpus(folder, args) == folder and built == [folder]
    (folder / DONE).write_text("")
    assert recipe.stage_corpus(folder, args) == folder and built == [folder]  # found, not rebuilt
