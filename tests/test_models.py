"""Models: shapes for every head and option, presets, frame-rate restoration, receptive field."""

import pytest
import torch

from tdnn import config
from tdnn.errors import ConfigError
from tdnn.models import (PRESETS, LayerSpec, ModelConfig, build_model, preset_config,
                         resolve_config, summary)

POOLED = [LayerSpec(8, [-1, 0, 1], pool="max", pool_width=2, pool_stride=2),
          LayerSpec(8, [-2, 0, 2], stride=2),
          LayerSpec(6, [-1, 0, 3], pool="avg", pool_width=3, pool_stride=1)]


def pooled_by_hand(model, h, stats):
    """Statistics pooling over time written out: mean, population std, attention weights."""
    if stats == "attention":
        w = torch.softmax(model.pool.score(h), dim=-1)
    else:
        w = torch.full_like(h[:, :1], 1.0 / h.shape[-1])
    mean = (w * h).sum(-1)
    if stats == "mean":
        return mean
    std = torch.sqrt((w * (h - mean[..., None]) ** 2).sum(-1).clamp(min=1e-6))
    return torch.cat([mean, std], dim=-1)


@pytest.mark.parametrize("stats", ["mean", "meanstd", "attention"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("arch", ["tdnn", "cnn2d"])
def test_clip_head_is_linear_map_of_pooled_trunk(stats, causal, arch):
    layers = [LayerSpec(s.dim, [-1, 0, 1], s.stride, s.pool, s.pool_width, s.pool_stride)
              for s in POOLED] if arch == "cnn2d" else POOLED
    cfg = ModelConfig(arch=arch, layers=layers, stats=stats, causal=causal, dropout=0.1)
    torch.manual_seed(0)
    model = build_model(cfg, 16, 5).eval()
    x = torch.randn(3, 16, 37)
    h = model.trunk(x)
    ref = pooled_by_hand(model, h, stats) @ model.classifier.weight.T + model.classifier.bias
    assert ref.shape == (3, 5)
    torch.testing.assert_close(model(x), ref)


@pytest.mark.parametrize("arch", ["tdnn", "cnn2d"])
@pytest.mark.parametrize("length", [37, 40, 5])
def test_frame_head_restores_input_length_by_repetition(arch, length):
    layers = [LayerSpec(8, [-1, 0, 1], pool="max", pool_width=2, pool_stride=2),
              LayerSpec(8, [-1, 0, 1], stride=2)]
    model = build_model(ModelConfig(arch=arch, layers=layers, head="frame"), 16, 4).eval()
    assert model.stride == 4
    x = torch.randn(2, 16, length)
    y = model(x)
    assert y.shape == (2, 4, length)
    decimated = model.classifier(model.trunk(x))
    assert decimated.shape[-1] == -(-length // 4)
    index = torch.arange(length) // 4
    torch.testing.assert_close(y, decimated[..., index])


@pytest.mark.parametrize("arch", ["tdnn", "cnn2d"])
@pytest.mark.parametrize("length", [37, 40, 5])
def test_learned_frame_head_is_a_transposed_convolution(arch, length):
    """upsample='learned': S logits per trunk frame, the same as ConvTranspose1d(kernel=stride=S)."""
    layers = [LayerSpec(8, [-1, 0, 1], pool="max", pool_width=2, pool_stride=2),
              LayerSpec(8, [-1, 0, 1], stride=2)]
    model = build_model(ModelConfig(arch=arch, layers=layers, head="frame", upsample="learned"),
                        16, 4).eval()
    x = torch.randn(2, 16, length)
    h = model.trunk(x)
    conv = torch.nn.ConvTranspose1d(h.shape[1], 4, kernel_size=4, stride=4)
    proj = model.classifier.proj                  # output channel j * 4 + c: sub-frame j, class c
    with torch.no_grad():
        proj.bias.copy_(conv.bias.repeat(4))
        w = conv.weight                           # [D, C, S]
        proj.weight.copy_(w.permute(2, 1, 0).reshape(16, -1, 1))
        expected = conv(h)[..., :length]
        torch.testing.assert_close(model(x), expected)
    assert model(x).shape == (2, 4, length)


def measured_context(model, length=161, in_dim=12):
    """(first, last) input offsets that trunk output frame t depends on, from input gradients."""
    model.eval()
    x = torch.randn(1, in_dim, length, requires_grad=True)
    h = model.trunk(x)
    t = h.shape[-1] // 2
    h[..., t].sum().backward()
    touched = (x.grad.abs().sum(1)[0] > 0).nonzero().flatten()
    anchor = t * model.stride
    return touched.min().item() - anchor, touched.max().item() - anchor


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("arch", ["tdnn", "cnn2d"])
def test_receptive_field_equals_impulse_measurement(causal, arch):
    layers = [LayerSpec(8, [-1, 0, 1], pool="avg", pool_width=2, pool_stride=2),
              LayerSpec(8, [-2, 0, 2], stride=2),
              LayerSpec(6, [-1, 0], pool="avg", pool_width=3)]
    if arch == "tdnn":
        layers.append(LayerSpec(6, [-3, 0, 1]))
    cfg = ModelConfig(arch=arch, layers=layers, activation="tanh", causal=causal)
    torch.manual_seed(0)
    model = build_model(cfg, 12, 3)
    first, last = measured_context(model)
    assert model.receptive_field == last - first + 1
    assert summary(model, 12)["context_frames"] == [first, last]
    if causal:
        assert last <= 0 and model.lookahead == 0


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_receptive_field_equals_impulse_measurement(name):
    in_dim = 16 if name == "waibel" else 12
    torch.manual_seed(0)
    model = build_model(preset_config(name), in_dim, 3)
    first, last = measured_context(model, in_dim=in_dim)
    assert model.receptive_field == last - first + 1


def test_compact_presets_fit_the_budget():
    kws = summary(build_model(preset_config("kws"), 40, 12), 40)
    cnn = summary(build_model(preset_config("cnn2d"), 40, 12), 40)
    assert kws["params"] <= 100_000 and cnn["params"] <= 100_000
    assert 0.7 < cnn["params"] / kws["params"] < 1.3
    # offsets +-2, 2, 3, 4, 6, 8 of the six context layers: 1 + 2 * 25 frames
    assert kws["receptive_field_frames"] == 51
    # kws_narrow by hand: each layer in*taps*out weights + out biases + 2*out batch-norm; the
    # head reads mean+std of the 128-wide layer
    narrow = summary(build_model(preset_config("kws_narrow"), 40, 12), 40)
    by_hand = ((40 * 5 * 40 + 40 + 80) + 5 * (40 * 3 * 40 + 40 + 80)
               + (40 * 128 + 128 + 256) + (256 * 12 + 12))
    assert narrow["params"] == by_hand == 41_308
    assert narrow["receptive_field_frames"] == 51
    # kws_wide by hand, the same sum with 128-wide context layers
    wide = summary(build_model(preset_config("kws_wide"), 40, 12), 40)
    by_hand = ((40 * 5 * 128 + 128 + 256) + 5 * (128 * 3 * 128 + 128 + 256)
               + (128 * 128 + 128 + 256) + (256 * 12 + 12))
    assert wide["params"] == by_hand == 293_516
    assert wide["receptive_field_frames"] == 51


def test_waibel_network_sizes():
    model = build_model(preset_config("waibel"), 16, 3)
    assert [b.affine.weight.shape for b in model.trunk.blocks] == [(8, 16, 3), (3, 8, 5)]
    assert model.trunk(torch.randn(1, 16, 15)).shape == (1, 3, 9)
    assert sum(p.numel() for p in model.parameters()) == 16 * 3 * 8 + 8 + 8 * 5 * 3 + 3


def test_preset_with_overrides_from_config_file(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("preset: kws\nhead: frame\ncausal: true\n")
    cfg = resolve_config(config.load(ModelConfig, path, ["dropout=0.3"]))
    assert cfg.layers == preset_config("kws").layers
    assert (cfg.head, cfg.causal, cfg.dropout) == ("frame", True, 0.3)
    model = build_model(cfg, 40, 12)
    assert model(torch.randn(1, 40, 50)).shape == (1, 12, 50)


@pytest.mark.parametrize("cfg,in_dim,n_classes", [
    (ModelConfig(), 40, 12),
    (ModelConfig(preset="nope"), 40, 12),
    (ModelConfig(preset="waibel"), 16, 5),
    (ModelConfig(preset="waibel", head="frame"), 16, 3),
    (ModelConfig(layers=[LayerSpec(4, [0], pool="median")]), 40, 12),
    (ModelConfig(arch="cnn2d", layers=[LayerSpec(4, [-1, 0, 2])]), 40, 12),
    (ModelConfig(arch="cnn2d", layers=[LayerSpec(4, [0], pool="max", pool_stride=2)] * 5), 8, 2),
])
def test_bad_configs_raise_config_error(cfg, in_dim, n_classes):
    with pytest.raises(ConfigError):
        build_model(cfg, in_dim, n_classes)


def test_onnx_export_is_length_generic():
    """Padding, pooling and frame upsampling trace without length constants: one export, any L."""
    ort = pytest.importorskip("onnxruntime")
    import io
    import warnings
    layers = [LayerSpec(8, [-3, 0, 1], pool="max", pool_width=2, pool_stride=2),
              LayerSpec(8, [-1, 0, 1], stride=2, pool="avg", pool_width=3)]
    torch.manual_seed(0)
    model = build_model(ModelConfig(layers=layers, head="frame", causal=True), 10, 4).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 10, 40),), buf, input_names=["x"],
                          dynamic_axes={"x": {0: "batch", 2: "frames"}}, dynamo=False)
    session = ort.InferenceSession(buf.getvalue())
    for length in (40, 23):
        x = torch.randn(2, 10, length)
        y = session.run(None, {"x": x.numpy()})[0]
        torch.testing.assert_close(torch.from_numpy(y), model(x).detach(), atol=1e-5, rtol=1e-5)
