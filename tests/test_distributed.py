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
from tdnn.errors import UserError


def test_shard_is_disjoint_and_covers_all():
    items = list(range(11))
    parts = [D.shard(items, i, 3) for i in range(3)]
    assert sorted(sum(parts, [])) == items
    assert [len(p) for p in parts] == [4, 4, 3]


@pytest.mark.parametrize("text", ["1", "a/2", "2/2", "-1/2", "0/0"])
def test_parse_shard_rejects_bad(text):
    with pytest.raises(UserError):
        D.parse_shard(text)


def test_parse_shard_ok():
    assert D.parse_shard("3/4") == (3, 4)


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
    D.cleanup()
""")


def test_torchrun_two_processes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(script), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
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
