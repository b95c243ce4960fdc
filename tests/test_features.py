"""tdnn.features: numerical agreement with librosa / Kaldi, the framing rule, deltas, options."""

import kaldi_native_fbank as knf
import librosa
import numpy as np
import pytest
import python_speech_features as psf
import scipy.signal
import torch

from tdnn import config
from tdnn.errors import ConfigError
from tdnn.features import Frontend, FrontendConfig, PcenState, pcen

# Stated tolerances: max |difference| against the reference on the same signal.
DB_TOL = 1e-3        # logmel / mfcc, in dB (observed ~4e-5)
SPEC_DB_TOL = 0.05   # single FFT bins in noise are less stable in float32 (observed ~4e-3)
KALDI_LOG_TOL = 1e-3  # fbank, natural-log units (observed ~3e-5)
PCEN_TOL = 1e-5      # pcen output units (values ~0.3-2; observed ~3e-7)


def chirp_harmonics_noise(sr=16000, seconds=1.0, seed=0):
    """A rising chirp plus a 150 Hz harmonic series plus white noise."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    y = 0.3 * librosa.chirp(fmin=100, fmax=0.4 * sr, sr=sr, length=n)
    y += sum(0.1 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 20) if 150 * k < sr / 2)
    return (y + 0.01 * rng.standard_normal(n)).astype(np.float32)


def vowel(sr=16000, seconds=0.8, seed=1):
    """An eSpeak-like /a/: jittered glottal pulse train through three formant resonators."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    source = np.zeros(n)
    pos = 0.0
    while pos < n:
        source[int(pos)] = 1.0
        pos += sr / (120 * (1 + 0.02 * rng.standard_normal()))
    y = scipy.signal.lfilter([1.0], [1.0, -0.95], source)
    for freq, bw in [(700, 80), (1220, 90), (2600, 120)]:
        r = np.exp(-np.pi * bw / sr)
        y = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * freq / sr), r * r], y)
    y = 0.5 * y / np.abs(y).max() + 0.003 * rng.standard_normal(n)
    return y.astype(np.float32)


CONFIGS = [
    FrontendConfig(),
    FrontendConfig(sample_rate=8000, n_mels=23, fmin=64.0),
    FrontendConfig(win_ms=32.0, hop_ms=16.0, n_fft=1024, n_mels=64, fmax=7600.0),
]


def librosa_mel_db(y, fe):
    cfg = fe.cfg
    mel = librosa.feature.melspectrogram(
        y=y, sr=cfg.sample_rate, n_fft=fe.n_fft, hop_length=fe.hop_length,
        win_length=fe.win_length, n_mels=cfg.n_mels, fmin=cfg.fmin,
        fmax=cfg.fmax or cfg.sample_rate / 2)
    return librosa.power_to_db(mel, amin=cfg.log_floor, top_db=None)


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("signal", [chirp_harmonics_noise, vowel])
def test_logmel_and_mfcc_match_librosa(cfg, signal):
    y = signal(sr=cfg.sample_rate)[:-37]  # a length that is not a multiple of the hop
    fe = Frontend(cfg)
    ref = librosa_mel_db(y, fe)
    ours = fe.extract(y).T
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < DB_TOL
    mfcc = Frontend(FrontendConfig(**{**vars(cfg), "kind": "mfcc", "n_mfcc": 20}))
    ref_mfcc = librosa.feature.mfcc(S=ref, n_mfcc=20, dct_type=2, norm="ortho")
    assert np.abs(mfcc.extract(y).T - ref_mfcc).max() < DB_TOL


@pytest.mark.parametrize("signal", [chirp_harmonics_noise, vowel])
def test_spectrogram_matches_librosa_stft(signal):
    y = signal()
    fe = Frontend(FrontendConfig(kind="spectrogram"))
    spec = librosa.stft(y, n_fft=512, hop_length=160, win_length=400)
    ref = librosa.power_to_db(np.abs(spec) ** 2, amin=1e-10, top_db=None)
    ours = fe.extract(y).T
    assert ours.shape == ref.shape == (257, fe.num_frames(len(y)))
    assert np.abs(ours - ref).max() < SPEC_DB_TOL


@pytest.mark.parametrize("signal", [chirp_harmonics_noise, vowel])
def test_fbank_matches_kaldi_native_fbank(signal):
    """Kaldi's frames start at 0; zero-padding win/2 in front shifts them onto our centres."""
    y = signal()
    fe = Frontend(FrontendConfig(kind="fbank", n_mels=40))
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = 16000
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = 40
    kaldi = knf.OnlineFbank(opts)
    half = fe.win_length // 2
    padded = np.pad(y, (half, fe.win_length - half)) * 32768
    kaldi.accept_waveform(16000, padded.tolist())
    kaldi.input_finished()
    ref = np.stack([kaldi.get_frame(i) for i in range(kaldi.num_frames_ready)])
    ours = fe.extract(y)
    assert ours.shape == ref.shape == (fe.num_frames(len(y)), 40)
    assert np.abs(ours - ref).max() < KALDI_LOG_TOL


@pytest.mark.parametrize("signal", [chirp_harmonics_noise, vowel])
def test_pcen_matches_librosa(signal):
    """librosa's recipe (its pcen docstring): magnitude mel of int32-range audio, librosa.pcen
    at its defaults; the smoother starts at the first frame's steady state."""
    y = signal()[:-37]
    fe = Frontend(FrontendConfig(kind="pcen"))
    mel = librosa.feature.melspectrogram(y=y.astype(np.float64), sr=16000, n_fft=512,
                                         hop_length=160, win_length=400, n_mels=40, fmin=20.0,
                                         power=1, pad_mode="constant") * 2.0 ** 31
    frames = 0.4 * 16000 / 160  # the time constant in frames; b as librosa.pcen derives it
    b = (np.sqrt(1 + 4 * frames ** 2) - 1) / (2 * frames ** 2)
    ref = librosa.pcen(mel, sr=16000, hop_length=160, time_constant=0.4,
                       zi=(1 - b) * mel[:, :1])
    ours = fe.extract(y).T
    assert ours.shape == ref.shape == (40, fe.num_frames(len(y)))
    assert np.abs(ours - ref).max() < PCEN_TOL


def test_pcen_of_a_steady_input_is_the_closed_form():
    """A constant band keeps the smoother at its own value M = S, so PCEN is
    (S / (eps + S)**0.98 + 2)**0.5 - 2**0.5 at every frame (librosa's defaults, by hand)."""
    level = np.array([[1e-3], [1.0], [5e4]]) * np.ones((3, 50))
    out, _ = pcen(level, b=0.05)
    expected = (level / (1e-6 + level) ** 0.98 + 2) ** 0.5 - 2 ** 0.5
    np.testing.assert_allclose(out, expected, rtol=1e-9)


def test_pcen_in_pieces_equals_one_pass():
    mel = np.abs(np.random.default_rng(3).standard_normal((4, 301))) * 1e6
    whole, _ = pcen(mel, b=0.03)
    state = PcenState(0.03)
    pieces = [state(torch.from_numpy(mel[:, a:a + n])) for a, n in [(0, 1), (1, 77), (78, 223)]]
    np.testing.assert_allclose(torch.cat(pieces, dim=-1).numpy(), whole, rtol=1e-6)


def test_pcen_refuses_deltas():
    with pytest.raises(ConfigError, match="deltas"):
        FrontendConfig(kind="pcen", deltas=1)


@pytest.mark.parametrize("kind", ["logmel", "mfcc", "spectrogram", "fbank", "pcen"])
@pytest.mark.parametrize("n_samples", [1, 159, 160, 161, 16000, 16001])
def test_framing_rule(kind, n_samples):
    fe = Frontend(FrontendConfig(kind=kind))
    feats = fe(torch.zeros(2, n_samples) + 0.01)
    assert feats.shape == (2, fe.dim, 1 + n_samples // 160) == (2, fe.dim, fe.num_frames(n_samples))
    assert fe.num_frames(16000) == 101


@pytest.mark.parametrize("kind", ["logmel", "fbank"])
def test_frame_i_is_centred_at_sample_i_hop(kind):
    """An impulse at sample 37*hop is loudest in frame 37 and (near) symmetric around it."""
    y = np.zeros(16000, np.float32) + 1e-4
    y[37 * 160] = 1.0
    energy = Frontend(FrontendConfig(kind=kind)).extract(y).sum(axis=1)
    assert energy.argmax() == 37
    assert abs(energy[36] - energy[38]) < 1e-2 * abs(energy[37] - energy[36])


def test_batch_equals_one_by_one():
    """Also covers the CPU path that analyses a large batch in chunks."""
    clips = np.stack([chirp_harmonics_noise(seed=s) for s in range(11)])
    fe = Frontend(FrontendConfig(kind="mfcc", deltas=2, normalize="meanvar"))
    batch = fe(torch.from_numpy(clips)).numpy()
    for clip, feats in zip(clips, batch):
        np.testing.assert_allclose(feats.T, fe.extract(clip), atol=1e-4)


def test_deltas_match_regression_references():
    y = vowel()
    base = Frontend(FrontendConfig(kind="mfcc")).extract(y)  # [L, 13]
    fe = Frontend(FrontendConfig(kind="mfcc", deltas=2))
    feats = fe.extract(y)
    assert feats.shape[1] == fe.dim == 39
    np.testing.assert_allclose(feats[:, :13], base, atol=1e-5)
    delta = librosa.feature.delta(base, width=5, order=1, axis=0, mode="nearest")
    np.testing.assert_allclose(feats[:, 13:26], delta, atol=1e-3)
    np.testing.assert_allclose(feats[:, 13:26], psf.delta(base, 2), atol=1e-3)
    np.testing.assert_allclose(feats[:, 26:], psf.delta(psf.delta(base, 2), 2), atol=1e-3)


@pytest.mark.parametrize("mode", ["mean", "meanvar"])
def test_normalisation_per_utterance(mode):
    y = vowel()
    raw = Frontend(FrontendConfig()).extract(y)
    normed = Frontend(FrontendConfig(normalize=mode)).extract(y)
    expect = raw - raw.mean(axis=0)
    if mode == "meanvar":
        expect = expect / raw.std(axis=0)
    np.testing.assert_allclose(normed, expect, atol=1e-3)


def test_dims_rates_and_no_state():
    assert Frontend(FrontendConfig(kind="spectrogram")).dim == 257
    assert Frontend(FrontendConfig(kind="mfcc", deltas=1)).dim == 26
    fe = Frontend(FrontendConfig(hop_ms=20.0, win_ms=40.0))
    assert (fe.hop_length, fe.win_length, fe.n_fft, fe.frame_rate) == (320, 640, 1024, 50.0)
    assert fe.state_dict() == {}  # constants are rebuilt from the config, not checkpointed


@pytest.mark.parametrize("override", [
    "kind=cepstrum", "n_mfcc=50", "fmax=9000", "n_fft=256", "n_fft=513", "deltas=3",
    "normalize=global", "log_floor=0", "hop_ms=0", "pcen_time_constant=0"])
def test_bad_options_raise_config_error(override):
    with pytest.raises(ConfigError):
        config.load(FrontendConfig, overrides=[override])


def test_config_round_trip(tmp_path):
    cfg = config.load(FrontendConfig, overrides=["kind=mfcc", "n_mels=64", "deltas=1"])
    config.save(cfg, tmp_path / "frontend.yaml")
    assert config.load(FrontendConfig, tmp_path / "frontend.yaml") == cfg


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    clips = torch.from_numpy(np.stack([vowel(seed=s) for s in range(4)]))
    for kind in ["logmel", "mfcc", "fbank"]:
        fe = Frontend(FrontendConfig(kind=kind, deltas=1))
        cpu = fe(clips)
        gpu = fe.cuda()(clips.cuda()).cpu()
        assert torch.allclose(cpu, gpu, atol=1e-2)
