"""Export: the real-op frontend against the torch frontend, ONNX Runtime and torch.export parity
(max |Δ| of logits) with the frontend inside, dynamic batch/time axes, and `tdnn export`."""

import json

import numpy as np
import pytest
import torch

from run_fixture import make_run
from tdnn import export as E
from tdnn.cli import main
from tdnn.features import Frontend, FrontendConfig
from tdnn.models import ModelConfig, build_model

FRONTENDS = [FrontendConfig(), FrontendConfig(kind="mfcc", n_fft=1024),
             FrontendConfig(kind="fbank", deltas=2, normalize="meanvar"),
             FrontendConfig(kind="spectrogram", win_ms=20.0, hop_ms=12.5)]


def speechlike(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 16000
    tone = torch.sin(2 * torch.pi * 300 * t * (1 + torch.rand(batch, 1, generator=g)))
    return 0.3 * tone + 0.02 * torch.randn(batch, n, generator=g)


@pytest.mark.parametrize("cfg", FRONTENDS, ids=lambda c: c.kind)
def test_export_frontend_matches_frontend(cfg):
    fe = Frontend(cfg)
    x = speechlike(2, 12345)
    with torch.no_grad():
        ref, got = fe(x), E.ExportFrontend(fe)(x)
    assert got.shape == ref.shape
    # features in dB / log units: float32 DFT by matmul vs FFT differ by rounding only
    assert (got - ref).abs().max() < 1e-3 * max(1.0, ref.abs().max())


def test_kaldi_frame_matrix_is_dc_removal_then_preemphasis():
    x = np.random.default_rng(0).standard_normal(7)
    y = x - x.mean()
    expected = y - 0.97 * np.concatenate([[y[0]], y[:-1]])
    np.testing.assert_allclose(E.kaldi_frame_matrix(7) @ x, expected, atol=1e-12)


@pytest.mark.parametrize("preset", ["kws", "cnn2d"])
def test_onnx_parity_with_frontend_dynamic_axes(tmp_path, preset):
    torch.manual_seed(0)
    fe = Frontend(FrontendConfig())
    model = build_model(ModelConfig(preset=preset), fe.dim, 12).eval()
    path = E.export_onnx(model, fe, tmp_path / "m.onnx")
    session = E.onnx_session(path)
    assert session.get_inputs()[0].name == "wave"
    for batch, n in [(3, 16000), (1, 20800)]:  # other batch and clip length than traced
        x = speechlike(batch, n, seed=batch)
        diff, scale = E.parity(lambda w: model(fe(w)), lambda w: E.onnx_run(session, w), x)
        assert scale > 0.05 and diff < 1e-4


def test_onnx_features_only(tmp_path):
    fe = Frontend(FrontendConfig(n_mels=24))
    model = build_model(ModelConfig(preset="kws", causal=True), fe.dim, 5).eval()
    session = E.onnx_session(E.export_onnx(model, fe, tmp_path / "f.onnx", include_frontend=False))
    assert session.get_inputs()[0].name == "feats"
    feats = fe(speechlike(2, 16000))
    diff, _ = E.parity(model, lambda x: E.onnx_run(session, x), feats)
    assert diff < 1e-5


def test_torch_export_parity(tmp_path):
    fe = Frontend(FrontendConfig(kind="fbank"))
    model = build_model(ModelConfig(preset="kws"), fe.dim, 12).eval()
    program = E.load_program(E.export_program(model, fe, tmp_path / "m.pt2"))
    x = speechlike(4, 17600)
    diff, _ = E.parity(lambda w: model(fe(w)), lambda w: program(w).numpy(), x)
    assert diff < 1e-4


def test_cli_export_onnx(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    out = tmp_path / "exported" / "model.onnx"
    assert main(["export", str(run), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_abs_diff"] < 1e-4 and report["input"] == "wave"
    assert out.is_file() and json.loads(out.with_suffix(".json").read_text())["labels"][2] == "yes"


def test_pcen_run_exports_the_network_and_names_its_input(tmp_path, capsys):
    """PCEN is a filter over time, not traced into the graph: the network alone is exported
    and its sidecar says how to compute the input."""
    run = make_run(tmp_path / "run", ["frontend.kind=pcen", "model.causal=true"])
    out = tmp_path / "exported" / "model.onnx"
    assert main(["export", str(run), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["input"] == "feats" and report["max_abs_diff"] < 1e-4
    note = json.loads(out.with_suffix(".json").read_text())["frontend_not_included"]
    assert "librosa.pcen with b=0.024689" in note and "n_mels=40" in note


def test_cli_export_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "run folder not found" in capsys.readouterr().err
