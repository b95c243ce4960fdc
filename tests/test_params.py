"""Parameter formulas against actual nn.Module counts; the `tdnn model summary` command."""

import json

import pytest
import torch

from tdnn.cli import main
from tdnn.layers import ScanningMLP, TDNNLayer
from tdnn.models import ModelConfig, build_model
from tdnn.params import (compare_scanning, count_params, distributed_params, tdnn_layer_params,
                         undistributed_params, window_frames)

DIMS = [6, 5, 4]
CONTEXTS = [(-2, -1, 0, 1, 2), (-3, 0, 1), (-2, 2)]


@pytest.mark.parametrize("bias", [True, False])
def test_distributed_formula_counts_a_tdnn_stack(bias):
    layers = [TDNNLayer(n_in, n, c, batch_norm=False, bias=bias)
              for n_in, n, c in zip([7, *DIMS], DIMS, CONTEXTS)]
    assert count_params(torch.nn.Sequential(*layers)) == distributed_params(7, DIMS, CONTEXTS, bias)
    mlp = ScanningMLP(7, DIMS, CONTEXTS, bias=bias)
    assert count_params(mlp) == distributed_params(7, DIMS, CONTEXTS, bias)


@pytest.mark.parametrize("bias", [True, False])
def test_undistributed_formula_counts_a_whole_window_mlp(bias):
    window = window_frames(CONTEXTS)
    half = window // 2
    mlp = ScanningMLP(7, DIMS, [range(-half, window - half), [0], [0]], bias=bias)
    assert count_params(mlp) == undistributed_params(window, 7, DIMS, bias)


def test_both_scans_see_the_same_window():
    """Impulse test: the whole-window MLP and the TDNN stack depend on equally many frames."""
    window = window_frames(CONTEXTS)
    assert window == 1 + 4 + 4 + 4
    torch.manual_seed(0)
    distributed = ScanningMLP(3, DIMS, CONTEXTS, activation="tanh")
    undistributed = ScanningMLP(3, DIMS, [range(-6, 7), [0], [0]], activation="tanh")
    for mlp in (distributed, undistributed):
        x = torch.randn(1, 3, 31, requires_grad=True)
        mlp(x)[..., 15].sum().backward()
        assert int((x.grad.abs().sum(1) > 0).sum()) == window


def test_lecture_formulas_by_hand():
    # W=8 frames of D=2 features, N1=4, N2=2, first layer K=3: by hand 8*2*4 + 4*2 = 72
    # undistributed weights; distributed with contexts of 3 and 6 frames (W = 1 + 2 + 5 = 8):
    # 3*2*4 + 6*4*2 = 72 as well: a dense second layer saves nothing, sparse contexts do.
    assert undistributed_params(8, 2, [4, 2], bias=False) == 72
    assert undistributed_params(8, 2, [4, 2]) == 72 + 4 + 2
    assert distributed_params(2, [4, 2], [(-1, 0, 1), range(-2, 4)], bias=False) == 72
    cmp = compare_scanning(40, [64, 64, 64], [(-2, -1, 0, 1, 2), (-2, 0, 2), (-3, 0, 3)])
    assert cmp["window_frames"] == 15
    assert cmp["undistributed"] == 15 * 40 * 64 + 64 + 2 * (64 * 64 + 64)
    assert cmp["distributed_no_bias"] == 5 * 40 * 64 + 2 * 3 * 64 * 64


@pytest.mark.parametrize("rank", [None, 8])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_layer_formula_matches_module(rank, batch_norm):
    layer = TDNNLayer(20, 30, (-1, 0, 2), batch_norm=batch_norm, rank=rank)
    assert count_params(layer) == tdnn_layer_params(20, 30, 3, True, batch_norm, rank)


def test_model_summary_command_json(capsys):
    assert main(["model", "summary", "kws", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    model = build_model(ModelConfig(preset="kws"), 40, 12)
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["receptive_field_frames"] == 51  # 1 + 2 * (2 + 2 + 3 + 4 + 6 + 8) by hand
    assert info["scanning"]["distributed"] < info["scanning"]["undistributed"]


def test_model_summary_from_file_with_model_section(tmp_path, capsys):
    path = tmp_path / "train.yaml"
    path.write_text("model:\n  layers:\n    - {dim: 8, context: [-1, 0, 1], pool: max, "
                    "pool_width: 2, pool_stride: 2}\n    - {dim: 8, context: [0]}\n  head: frame\n")
    assert main(["model", "summary", str(path), "--in-dim", "10", "--classes", "3"]) == 0
    out = capsys.readouterr().out
    dense = 10 * 3 * 8 + 8 + 2 * 8 + 8 * 8 + 8 + 2 * 8 + 8 * 3 + 3
    assert f"parameters          {dense:,}" in out
    assert "receptive field     4 frames (40 ms)" in out


@pytest.mark.parametrize("argv", [["model", "summary", "nonesuch"],
                                  ["model", "summary", "missing.yaml"],
                                  ["model", "summary", "kws", "--set", "head=sideways"]])
def test_model_summary_user_errors(argv, capsys):
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err
