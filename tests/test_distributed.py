"""DDP helpers: sharding, option parsing, single-process fallbacks, and a real 2-process
torchrun (gloo) group checking reductions, sampler shards and rank-0-only writes."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from tdnn import distributed as D
from tdnn.cli.features import parse_shard
from tdnn.errors import UserError


def test_shard_is_disjoint_and_covers_all():
    items = list(range(11))
    parts = [D.shard(items, i, 3) for i in range(3)]
    assert sorted(sum(parts, [])) == items
    assert [len(p) for p in parts] == [4, 4, 3]


@pytest.mark.parametrize("text", ["1", "a/2", "2/2", "-1/2", "0/0"])
def test_parse_shard_rejects_bad(text):
    with pytest.raises(UserError, match="--shard"):
        parse_shard(text)


def test_parse_shard_ok():
    assert parse_shard("3/4") == (3, 4)


def test_single_process_fallbacks(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    info = D.init()
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)
    assert D.reduce_sums({"a": 2.0}) == {"a": 2.0}
    assert D.gather_objects(5) == [5]
    model = torch.nn.Linear(2, 2)
    assert D.wrap_model(model, info) is model


def test_bad_env(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(UserError):
        D.env_info()


def test_rank_loader_single_process_is_the_plain_shuffled_loader():
    data = list(range(37))
    ref = torch.utils.data.DataLoader(data, batch_size=8, shuffle=True,
                                      generator=torch.Generator().manual_seed(5))
    got = D.rank_loader(data, 8, D.DistInfo(0, 1), seed=5)
    assert [b.tolist() for b in got] == [b.tolist() for b in ref]


def test_rank_loader_batches_together_are_the_single_process_batches():
    data = list(range(37))
    single = [b.tolist() for b in D.rank_loader(data, 8, D.DistInfo(0, 1), seed=5)]
    ranks = [[b.tolist() for b in D.rank_loader(data, 8, D.DistInfo(r, 2), seed=5)]
             for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 5  # equal steps: padded 37 -> 38
    for k in range(4):
        assert sorted(ranks[0][k] + ranks[1][k]) == sorted(single[k])
    assert set(ranks[0][4] + ranks[1][4]) == set(single[4]) | {single[0][0]}
    with pytest.raises(UserError, match="multiple"):
        D.rank_loader(data, 9, D.DistInfo(0, 2), seed=5)


WORKER = textwrap.dedent("""
    import json, sys, torch
    from pathlib import Path
    from tdnn import distributed as D
    out = Path(sys.argv[1])
    info = D.init()
    idx = [int(i) for b in D.rank_loader(list(range(10)), 4, info, seed=0) for i in b]
    sums = D.reduce_sums({"n": len(idx), "rank": info.rank})
    model = D.wrap_model(torch.nn.Linear(3, 1, bias=False), info)
    torch.manual_seed(info.rank)          # different data per rank
    x = torch.randn(4, 3)
    model(x).sum().backward()
    grads = D.gather_objects(D.unwrap(model).weight.grad.tolist())
    D.main_only((out / "written_by").write_text, str(info.rank))
    rows = D.gather_objects({"rank": info.rank, "world": info.world_size,
                             "idx": idx, "sums": sums, "x": x.tolist()})
    if info.is_main:
        (out / "result.json").write_text(json.dumps({"rows": rows, "grads": grads}))
    del model  # as in training: DDP holds the group; leave it before the group is destroyed
    D.cleanup()
""")


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(script), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    # the workers' own last words come before torchrun's summary: keep both
    assert proc.returncode == 0, proc.stderr[:3000] + "\n...\n" + proc.stderr[-1500:]
    res = json.loads((tmp_path / "result.json").read_text())
    rows = res["rows"]
    assert [r["rank"] for r in rows] == [0, 1] and rows[0]["world"] == 2
    # loader shares: disjoint, together the whole set (10 items, 5 each, no padding needed)
    assert sorted(rows[0]["idx"] + rows[1]["idx"]) == list(range(10))
    assert rows[0]["sums"] == rows[1]["sums"] == {"n": 10.0, "rank": 1.0}
    # DDP: each rank holds the mean of both ranks' local gradients (d sum(xw)/dw = sum_rows x)
    local = [torch.tensor(r["x"]).sum(0) for r in rows]
    expected = (local[0] + local[1]) / 2
    for g in res["grads"]:
        torch.testing.assert_close(torch.tensor(g[0]), expected)
    assert (tmp_path / "written_by").read_text() == "0"


TRAIN_OPTIONS = [
    "epochs=2", "batch_size=16", "eval_batch_size=64", "threads=1", "progress=false", "seed=3",
    "device=cpu", "data.task=12", "frontend.n_mels=16",
    "model.layers=[{dim: 12, context: [-2, 0, 2]}, {dim: 12, context: [0]}]",
    "model.batch_norm=false", "model.dropout=0", "augment.noise_prob=0", "augment.shift_ms=0",
    "augment.speed_prob=0", "augment.vtlp_prob=0", "augment.reverb_prob=0",
    "augment.bandlimit_prob=0", "augment.gain_db=[0, 0]", "augment.freq_masks=0",
    "augment.time_masks=0"]

TRAIN_WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch.distributed as dist
    from tdnn import config, distributed
    from tdnn.train import TrainConfig, train
    shares = []
    plain_loader = distributed.rank_loader

    def spy(*args, **kwargs):  # record this rank's share of each epoch
        loader = plain_loader(*args, **kwargs)
        shares.append([int(i) for i in loader.sampler])
        return loader

    distributed.rank_loader = spy
    cfg = config.load(TrainConfig, overrides=sys.argv[2:])
    train(cfg, sys.argv[1])
    assert dist.is_initialized() and dist.get_world_size() == 2
    (Path(sys.argv[1]) / f"shares{dist.get_rank()}.json").write_text(json.dumps(shares))
    distributed.cleanup()
""")


@pytest.mark.slow
def test_ddp_training_matches_single_process(tmp_path):
    """2 processes x 8 clips = 1 process x 16 clips per step: same final weights and metrics.

    Without batch norm, dropout and augmentation (the parts that legitimately draw per rank),
    a DDP step on the ranks' halves of a global batch is the single-process step on it."""
    from sc_fixture import make_corpus
    from tdnn import config
    from tdnn.runs import load_checkpoint
    from tdnn.train import TrainConfig, train

    corpus = make_corpus(tmp_path / "corpus", speakers=12, takes=2)
    options = TRAIN_OPTIONS + [f"data.root={corpus}"]
    single = train(config.load(TrainConfig, overrides=options), tmp_path / "single")
    assert single["steps_per_epoch"] == 6  # 96 clips: the batches divide evenly
    script = tmp_path / "train_worker.py"
    script.write_text(TRAIN_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(script), str(tmp_path / "ddp")] + options
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_checkpoint(tmp_path / "single" / "model.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "ddp" / "model.pt")["state_dict"]
    shares = [json.loads((tmp_path / "ddp" / f"shares{r}.json").read_text()) for r in (0, 1)]
    for epoch in range(2):  # each rank trained on its own half of every epoch
        halves = shares[0][epoch], shares[1][epoch]
        assert len(halves[0]) == len(halves[1]) == 48
        assert sorted(halves[0] + halves[1]) == list(range(96))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    for s_row, d_row in zip(single["history"], ddp["history"]):
        assert d_row["train_accuracy"] == s_row["train_accuracy"]
        assert d_row["val_accuracy"] == s_row["val_accuracy"]
        assert d_row["train_loss"] == pytest.approx(s_row["train_loss"], rel=1e-4)
        assert d_row["val_loss"] == pytest.approx(s_row["val_loss"], rel=1e-4)
    assert single["history"][-1]["train_loss"] < single["history"][0]["train_loss"]


def test_features_shards_cover_the_inputs_once(tmp_path, capsys):
    import numpy as np

    from sc_fixture import make_corpus
    from tdnn.cli import main

    corpus = make_corpus(tmp_path / "corpus", words=("yes", "no"), speakers=3, takes=1)
    clips = sorted(p.relative_to(corpus).with_suffix(".npy").as_posix()
                   for p in corpus.rglob("*.wav"))
    for i in range(2):
        out = tmp_path / f"share{i}"
        assert main(["features", str(corpus), "--out", str(out), "--shard", f"{i}/2",
                     "--no-progress"]) == 0
    shares = [sorted(p.relative_to(tmp_path / f"share{i}").as_posix()
                     for p in (tmp_path / f"share{i}").rglob("*.npy")) for i in range(2)]
    assert shares == [clips[0::2], clips[1::2]]  # files sorted, dealt out
    assert main(["features", str(corpus), "--out", str(tmp_path / "a"), "--archive", "f.npz",
                 "--shard", "1/2", "--no-progress"]) == 0
    keys = sorted(np.load(tmp_path / "a" / "f.shard1of2.npz").files)
    assert keys == [c[:-len(".npy")] for c in clips[1::2]]
    assert main(["features", str(corpus), "--out", str(tmp_path / "b"), "--shard", "2/2"]) == 2
    assert "--shard" in capsys.readouterr().err
