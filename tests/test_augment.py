"""Augmentation: exact SNR, shift, speed and VTLP frequencies (of waveforms and of mel bands),
reverberation decay and DRR, band-limiting spectra, coloured-noise slope, SpecAugment masks and
determinism (speed is measured in bench/, not here)."""

import numpy as np
import pytest
import torch

from tdnn import augment as A

SR = 16000


def tone(freq, n=SR, amp=0.3):
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)


def peak_hz(wave):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return np.argmax(spectrum) * SR / len(wave)


def band_energy(wave, lo, hi):
    spectrum = np.abs(np.fft.rfft(wave)) ** 2
    f = np.fft.rfftfreq(len(wave), 1 / SR)
    return spectrum[(f >= lo) & (f < hi)].sum()


def snr_db(clean, mixed):
    return 10 * np.log10(np.sum(clean.astype(np.float64) ** 2)
                         / np.sum((mixed.astype(np.float64) - clean) ** 2))


@pytest.mark.parametrize("target", [-5.0, 0.0, 7.5, 20.0])
def test_add_noise_hits_the_snr_exactly(target):
    rng = np.random.default_rng(0)
    clean = tone(440) * np.hanning(SR).astype(np.float32)
    noise = rng.standard_normal(SR).astype(np.float32) * 3
    assert snr_db(clean, A.add_noise(clean, noise, target)) == pytest.approx(target, abs=1e-3)


def test_add_noise_leaves_silence_alone():
    silent = np.zeros(100, np.float32)
    assert not A.add_noise(silent, np.ones(100, np.float32), 0.0).any()


def test_augmenter_noise_only_stays_in_the_snr_range():
    cfg = A.AugmentConfig.off()
    cfg.noise_prob, cfg.snr_db = 1.0, (5.0, 10.0)
    noise = np.random.default_rng(1).standard_normal(5 * SR).astype(np.float32)
    aug = A.Augmenter(cfg, [noise])
    clean = tone(300)
    for seed in range(5):
        assert 5.0 - 1e-3 <= snr_db(clean, aug(clean, seed)) <= 10.0 + 1e-3


def test_off_config_is_identity_and_full_config_keeps_shape_and_is_seeded():
    clean = tone(500)
    assert np.array_equal(A.Augmenter(A.AugmentConfig.off())(clean, 3), clean)
    cfg = A.AugmentConfig(noise_prob=1, speed_prob=1, vtlp_prob=1, reverb_prob=1,
                          bandlimit_prob=1)
    aug = A.Augmenter(cfg)
    out = aug(clean, np.random.default_rng(7))
    assert out.shape == clean.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.array_equal(out, aug(clean, np.random.default_rng(7)))
    assert not np.array_equal(out, aug(clean, np.random.default_rng(8)))


def test_time_shift_by_hand():
    x = np.arange(1, 7, dtype=np.float32)
    assert A.time_shift(x, 2).tolist() == [0, 0, 1, 2, 3, 4]
    assert A.time_shift(x, -2).tolist() == [3, 4, 5, 6, 0, 0]
    assert A.time_shift(x, 0).tolist() == x.tolist()


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturb_scales_length_and_pitch(factor):
    out = A.speed_perturb(tone(1000), factor, SR)
    assert abs(len(out) - SR / factor) <= 1
    assert peak_hz(out) == pytest.approx(1000 * factor, abs=2)


def test_vtlp_map_is_piecewise_linear_with_fixed_ends():
    for alpha in (0.9, 1.1):
        f = np.array([0.0, 1000.0, 3000.0, SR / 2])
        warped = A.vtlp_map(f, alpha, SR)
        assert warped[0] == 0 and warped[-1] == SR / 2
        assert warped[1:3] == pytest.approx(alpha * f[1:3])
        assert np.all(np.diff(A.vtlp_map(np.linspace(0, SR / 2, 100), alpha, SR)) > 0)


@pytest.mark.parametrize("alpha", [0.9, 1.1])
def test_vtlp_warp_moves_a_tone_and_keeps_length(alpha):
    out = A.vtlp_warp(tone(1000), alpha, SR)
    assert len(out) == SR
    assert peak_hz(out) == pytest.approx(1000 * alpha, abs=5)
    assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(tone(1000) ** 2)), rel=1e-4)


def test_vtlp_warp_with_alpha_one_is_near_identity():
    x = np.random.default_rng(2).standard_normal(SR).astype(np.float32)
    y = A.vtlp_warp(x, 1.0, SR)
    assert np.corrcoef(x[512:-512], y[512:-512])[0, 1] > 0.99


def test_reverb_impulse_response_has_drr_and_rt60():
    impulse = np.zeros(SR, np.float32)
    impulse[0] = 1.0
    rt60, drr = 0.4, 6.0
    h = A.add_reverb(impulse, rt60, drr, SR, np.random.default_rng(0)).astype(np.float64)
    assert 10 * np.log10(h[0] ** 2 / np.sum(h[1:] ** 2)) == pytest.approx(drr, abs=1e-6)
    win = int(0.05 * SR)
    early = np.sum(h[1:1 + win] ** 2)
    late_start = int(rt60 / 2 * SR)
    late = np.sum(h[late_start:late_start + win] ** 2)
    assert 10 * np.log10(early / late) == pytest.approx(30.0, abs=4.0)  # 60 dB per RT60
    x = tone(700)
    assert np.sqrt(np.mean(A.add_reverb(x, rt60, drr, SR, np.random.default_rng(1)) ** 2)) == \
        pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-4)


def test_telephone_removes_high_and_low_bands():
    x = np.random.default_rng(3).standard_normal(SR).astype(np.float32) * 0.1
    y = A.telephone(x, SR)
    assert len(y) == SR
    in_band = band_energy(y, 500, 3000) / 2500
    assert band_energy(y, 4500, 8000) / 3500 < in_band * 1e-3
    assert band_energy(y, 20, 150) / 130 < in_band * 0.05


def test_band_limit_cuts_above_half_the_rate():
    x = np.random.default_rng(4).standard_normal(SR).astype(np.float32) * 0.1
    y = A.band_limit(x, SR, 8000)
    assert band_energy(y, 4200, 8000) < 1e-3 * band_energy(y, 0, 3800)
    assert band_energy(y, 100, 3500) == pytest.approx(band_energy(x, 100, 3500), rel=0.05)


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_colored_noise_spectral_slope(beta):
    n = 2**16
    noise = A.colored_noise(n, beta, np.random.default_rng(5)).astype(np.float64)
    f = np.fft.rfftfreq(n, 1 / SR)
    power = np.abs(np.fft.rfft(noise)) ** 2
    keep = (f > 50) & (f < 7000)
    slope = np.polyfit(np.log10(f[keep]), np.log10(power[keep]), 1)[0]
    assert slope == pytest.approx(-beta, abs=0.1)
    assert noise.std() == pytest.approx(1.0, rel=1e-6)


def test_spec_augment_freq_masks_fill_whole_rows_with_the_mean():
    feats = torch.randn(6, 40, 101) + 5
    cfg = A.AugmentConfig(freq_masks=2, freq_mask_width=8, time_masks=0)
    out = A.spec_augment(feats, cfg, torch.Generator().manual_seed(0))
    fill = feats.mean(dim=(1, 2))
    for b in range(6):
        changed = (out[b] != feats[b]).any(dim=1)
        assert changed.sum() <= 16
        assert torch.allclose(out[b][changed], fill[b].expand(int(changed.sum()), 101))
    assert (out != feats).any()


def test_spec_augment_time_masks_seeded_and_bounded():
    feats = torch.randn(4, 40, 101)
    cfg = A.AugmentConfig(freq_masks=0, time_masks=3, time_mask_width=5)
    a = A.spec_augment(feats, cfg, torch.Generator().manual_seed(1))
    b = A.spec_augment(feats, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    cols = (a != feats).any(dim=1)
    assert (cols.sum(dim=1) <= 15).all()
    assert torch.equal(A.spec_augment(feats, A.AugmentConfig.off()), feats)


def _mean_bands(frontend, wave):
    return frontend(torch.from_numpy(wave)[None])[0].mean(1)


def _centroid(bands, linear):
    """Band position of a tone: the power-weighted mean index of the peak band and its
    neighbours (`linear` turns a band's value into power)."""
    k = int(bands.argmax())
    idx = np.arange(max(k - 1, 0), min(k + 2, len(bands)))
    w = linear(bands[idx].double().numpy())
    return float((idx * w).sum() / w.sum())


@pytest.mark.parametrize("kind, linear", [("logmel", lambda db: 10 ** (db / 10)),
                                          ("fbank", np.exp)])
@pytest.mark.parametrize("alpha", [0.9, 1.1])
@pytest.mark.parametrize("freq", [700.0, 1500.0, 3000.0])
def test_mel_vtlp_puts_a_tone_where_the_warped_tone_lies(kind, linear, alpha, freq):
    """Warping the features of a tone at f gives the bands of a tone at vtlp_map(f) as librosa
    (logmel) or the Kaldi banks (fbank) compute them: the power-weighted position of the peak
    within a fifth of a band."""
    from tdnn.config import FrontendConfig
    from tdnn.features import Frontend
    cfg = FrontendConfig(kind=kind)
    frontend = Frontend(cfg)
    feats = frontend(torch.from_numpy(tone(freq))[None])
    warped = A.MelVtlp(cfg, A.AugmentConfig()).warp(feats, np.array([alpha]))[0].mean(1)
    reference = _mean_bands(frontend, tone(float(A.vtlp_map(freq, alpha, SR))))
    assert _centroid(warped, linear) == pytest.approx(_centroid(reference, linear), abs=0.2)


def test_mel_vtlp_factor_one_and_probability_zero_change_nothing():
    from tdnn.config import FrontendConfig
    feats = torch.randn(3, 40, 50)
    cfg = FrontendConfig(kind="pcen")
    assert torch.equal(A.MelVtlp(cfg, A.AugmentConfig()).warp(feats, np.ones(3)), feats)
    never = A.MelVtlp(cfg, A.AugmentConfig(mel_vtlp_prob=0.0))
    assert torch.equal(never(feats, torch.Generator().manual_seed(0)), feats)
    always = A.MelVtlp(cfg, A.AugmentConfig(mel_vtlp_prob=1.0, vtlp=(1.1, 1.1)))
    assert torch.equal(always(feats, torch.Generator().manual_seed(0)),
                       always.warp(feats, np.full(3, 1.1)))


def test_mel_vtlp_warps_deltas_as_the_deltas_of_the_warped_bands():
    """The warp is along the bands only and deltas are along time, so warping [bands; deltas]
    equals taking the deltas of the warped bands."""
    from tdnn.config import FrontendConfig
    from tdnn.features import Frontend, deltas
    cfg = FrontendConfig(kind="logmel", deltas=1)
    wave = np.random.default_rng(3).standard_normal(SR).astype(np.float32) * 0.1
    feats = Frontend(cfg)(torch.from_numpy(wave)[None])
    warp = A.MelVtlp(cfg, A.AugmentConfig())
    out = warp.warp(feats, np.array([0.92]))
    bands = out[:, :40]
    assert torch.equal(bands, warp.warp(feats[:, :40], np.array([0.92])))
    assert torch.allclose(out[:, 40:], deltas(bands), atol=1e-4)


def test_mel_vtlp_refuses_features_without_mel_bands():
    from tdnn.config import FrontendConfig
    from tdnn.errors import ConfigError
    for kind in ("mfcc", "spectrogram"):
        with pytest.raises(ConfigError, match="augment.mel_vtlp_prob.*logmel, pcen or fbank"):
            A.MelVtlp(FrontendConfig(kind=kind), A.AugmentConfig(mel_vtlp_prob=0.5))
    with pytest.raises(ConfigError, match="augment.mel_vtlp_prob"):
        A.AugmentConfig(mel_vtlp_prob=1.5)
