"""Batch augmentation in torch against independent references: the per-clip numpy steps of
`tdnn.augment` (soxr, librosa, scipy) row by row for the same drawn parameters, scipy's
convolution, exact SNRs, tone frequencies and exact shifts; the augmenter's draws come from the
generator only (speed is measured in bench/train.py, not here)."""

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from tdnn import augment as A
from tdnn import batch_augment as BA
from tdnn.config import AugmentConfig

SR = 16000


def voice(seed: int, n: int = SR) -> np.ndarray:
    """A harmonic voice (f0 90-250 Hz, harmonics below 6 kHz) under a Hann envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    f0 = rng.uniform(90, 250)
    y = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k
            for k in range(1, 80) if k * f0 < 6000)
    return (0.3 * y * np.hanning(n) / np.abs(y).max()).astype(np.float32)


def batch(*rows) -> torch.Tensor:
    return torch.from_numpy(np.stack(rows))


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b ** 2)))


def peak_hz(wave) -> float:
    spectrum = np.abs(np.fft.rfft(np.asarray(wave) * np.hanning(len(wave))))
    return np.argmax(spectrum) * SR / len(wave)


def snr_db(clean, mixed) -> float:
    clean, mixed = np.asarray(clean, np.float64), np.asarray(mixed, np.float64)
    return 10 * np.log10(np.sum(clean ** 2) / np.sum((mixed - clean) ** 2))


def test_speed_matches_soxr_per_row_and_moves_a_tone():
    factors = [0.9, 0.96, 1.04, 1.1]
    waves = [voice(i) for i in range(4)]
    out = BA.speed(batch(*waves), torch.tensor(factors, dtype=torch.float64)).numpy()
    for row, wave, f in zip(out, waves, factors):
        assert rel_err(row, A.centre_fit(A.speed_perturb(wave, f, SR), SR)) < 0.01
    tone = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)).astype(np.float32)
    moved = BA.speed(batch(tone, tone), torch.tensor([0.9, 1.1], dtype=torch.float64)).numpy()
    assert [peak_hz(r) for r in moved] == pytest.approx([900, 1100], abs=2)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_scales_a_bursts_duration(factor):
    burst = np.zeros(SR, np.float32)
    burst[4000:12000] = voice(5, 8000)
    out = BA.speed(batch(burst), torch.tensor([factor], dtype=torch.float64))[0].numpy()
    loud = np.flatnonzero(np.abs(out) > 1e-3 * np.abs(out).max())
    first, last = np.flatnonzero(np.abs(burst) > 1e-3 * np.abs(burst).max())[[0, -1]]
    assert (loud[-1] - loud[0]) == pytest.approx((last - first) / factor, abs=8)


def test_vtlp_matches_the_numpy_warp_per_row_and_keeps_rms():
    alphas = [0.9, 0.97, 1.03, 1.1]
    waves = [voice(10 + i) for i in range(4)]
    out = BA.vtlp(batch(*waves), torch.tensor(alphas), SR).numpy()
    for row, wave, a in zip(out, waves, alphas):
        assert rel_err(row, A.vtlp_warp(wave, a, SR)) < 0.01
        assert np.sqrt(np.mean(row ** 2)) == pytest.approx(np.sqrt(np.mean(wave ** 2)), rel=1e-4)


def test_vtlp_map_agrees_with_numpy_both_ways():
    freqs = torch.linspace(0, SR / 2, 101, dtype=torch.float64)[None].repeat(2, 1)
    alphas = torch.tensor([0.9, 1.1], dtype=torch.float64)
    warped = BA.vtlp_map(freqs, alphas, SR)
    for row, a in zip(warped, alphas.tolist()):
        assert row.numpy() == pytest.approx(A.vtlp_map(freqs[0].numpy(), a, SR))
    assert BA.vtlp_map(warped, alphas, SR, inverse=True).numpy() == pytest.approx(freqs.numpy())


def test_shift_is_exact():
    x = torch.arange(1, 7, dtype=torch.float32).repeat(3, 1)
    out = BA.shift(x, torch.tensor([2, -2, 0]))
    assert out.tolist() == [[0, 0, 1, 2, 3, 4], [3, 4, 5, 6, 0, 0], [1, 2, 3, 4, 5, 6]]
    wave = voice(3)
    for k in (-1600, 37, 1600):
        assert np.array_equal(BA.shift(batch(wave), torch.tensor([k]))[0].numpy(),
                              A.time_shift(wave, k))


def test_reverb_is_scipy_convolution_at_the_input_level():
    waves = [voice(20), voice(21)]
    noise = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rirs = BA.synthetic_rirs(torch.tensor([0.3, 0.5], dtype=torch.float64),
                             torch.tensor([3.0, 8.0], dtype=torch.float64), SR, noise)
    out = BA.reverb(batch(*waves), rirs.float()).numpy()
    for row, wave, rir in zip(out, waves, rirs.numpy()):
        wet = scipy.signal.fftconvolve(wave.astype(np.float64), rir)[:SR]
        wet *= np.sqrt(np.mean(wave.astype(np.float64) ** 2) / np.mean(wet ** 2))
        assert np.abs(row - wet).max() < 1e-5


def test_synthetic_rir_has_its_drr_length_and_decay():
    rt60, drr = 0.4, 6.0
    noise = torch.randn(1, 9000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    h = BA.synthetic_rirs(torch.tensor([rt60], dtype=torch.float64),
                          torch.tensor([drr], dtype=torch.float64), SR, noise)[0].numpy()
    assert h[0] == 1.0 and not h[int(rt60 * SR):].any()
    assert 10 * np.log10(1 / np.sum(h[1:] ** 2)) == pytest.approx(drr, abs=1e-6)
    win = int(0.05 * SR)
    early = np.sum(h[1:1 + win] ** 2)
    late = np.sum(h[int(rt60 / 2 * SR):int(rt60 / 2 * SR) + win] ** 2)
    assert 10 * np.log10(early / late) == pytest.approx(30.0, abs=4.0)  # 60 dB per RT60


def test_mix_at_snr_hits_each_rows_snr_and_leaves_silence_alone():
    clean = batch(voice(30), voice(31), np.zeros(SR, np.float32))
    noise = torch.randn(3, SR, generator=torch.Generator().manual_seed(2)) * 3
    targets = torch.tensor([-5.0, 12.5, 0.0], dtype=torch.float64)
    out = BA.mix_at_snr(clean, noise, targets)
    for i in range(2):
        assert snr_db(clean[i], out[i]) == pytest.approx(float(targets[i]), abs=1e-3)
    assert not out[2].any()


def test_colored_noise_spectral_slope():
    n, betas = 2**16, torch.tensor([0.0, 1.0, 2.0])
    white = torch.randn(3, n, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    noise = BA.colored_noise(n, betas, white).double().numpy()
    f = np.fft.rfftfreq(n, 1 / SR)
    keep = (f > 50) & (f < 7000)
    for row, beta in zip(noise, betas.tolist()):
        power = np.abs(np.fft.rfft(row)) ** 2
        slope = np.polyfit(np.log10(f[keep]), np.log10(power[keep]), 1)[0]
        assert slope == pytest.approx(-beta, abs=0.1)
        assert row.std() == pytest.approx(1.0, rel=1e-5)


def test_band_limit_cuts_each_rows_band():
    x = np.random.default_rng(4).standard_normal(SR).astype(np.float32) * 0.1
    out = BA.band_limit(batch(x, x), SR, torch.tensor([8000.0, 12000.0])).numpy()
    f = np.fft.rfftfreq(SR, 1 / SR)
    for row, cut in zip(out, (4000, 6000)):
        power = np.abs(np.fft.rfft(row)) ** 2
        assert power[f > cut + 200].sum() < 1e-3 * power[f < cut - 200].sum()
    low = voice(40)  # harmonics below 6 kHz pass both channels alike
    out = BA.band_limit(batch(low), SR, torch.tensor([12800.0]))[0].numpy()
    assert rel_err(out, A.band_limit(low, SR, 12800)) < 0.01


def test_telephone_matches_the_numpy_channel_per_row():
    waves = [voice(50), voice(51)]
    out = BA.telephone(batch(*waves), SR).numpy()
    for row, wave in zip(out, waves):
        assert rel_err(row, A.telephone(wave, SR)) < 0.02


def test_mu_law_is_librosas():
    x = torch.linspace(-1, 1, 2001, dtype=torch.float64)
    ref = librosa.mu_expand(librosa.mu_compress(x.numpy(), mu=255), mu=255)
    assert BA.mu_law(x).numpy() == pytest.approx(ref, abs=1e-12)


def test_off_config_is_identity():
    waves = batch(voice(60), voice(61))
    out = BA.BatchAugmenter(AugmentConfig.off())(waves, torch.Generator().manual_seed(0))
    assert torch.equal(out, waves)


def test_draws_come_from_the_generator_only():
    cfg = AugmentConfig(noise_prob=0.5, speed_prob=0.5, vtlp_prob=0.5, reverb_prob=0.5,
                        bandlimit_prob=0.5)
    aug = BA.BatchAugmenter(cfg)
    waves = batch(*[voice(70 + i) for i in range(6)])
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    first = aug(waves, gen)
    assert first.shape == waves.shape and first.dtype == torch.float32
    assert torch.isfinite(first).all()
    assert torch.equal(aug(waves, torch.Generator().set_state(state)), first)
    assert not torch.equal(aug(waves, gen), first)  # the generator moved on


def test_noise_only_augmenter_mixes_slices_of_the_noise_at_an_snr_in_range():
    cfg = AugmentConfig.off()
    cfg.noise_prob, cfg.snr_db = 1.0, (5.0, 10.0)
    ramp = np.arange(1, 5001, dtype=np.float32)  # shorter than a clip: tiled
    aug = BA.BatchAugmenter(cfg, [ramp])
    clean = torch.randn(8, SR, generator=torch.Generator().manual_seed(9)) * 0.1
    out = aug(clean, torch.Generator().manual_seed(6))
    for c, o in zip(clean.numpy(), out.numpy()):
        assert 5.0 - 1e-3 <= snr_db(c, o) <= 10.0 + 1e-3
        added = o.astype(np.float64) - c  # k * a run of the tiled ramp
        wrap = int(np.flatnonzero(np.diff(added) < 0)[0]) + 1  # where the ramp restarts at 1
        expected = (5000 - wrap + np.arange(SR)) % 5000 + 1
        np.testing.assert_allclose(added, expected * added[wrap], rtol=1e-3)


def test_probabilities_pick_rows():
    cfg = AugmentConfig.off()
    cfg.noise_prob = 0.25
    aug = BA.BatchAugmenter(cfg)
    waves = torch.randn(400, 1000, generator=torch.Generator().manual_seed(8))
    changed = (aug(waves, torch.Generator().manual_seed(7)) != waves).any(1).float().mean()
    assert float(changed) == pytest.approx(0.25, abs=0.07)  # 3.2 standard deviations


def test_bad_batch_shape_is_one_clear_error():
    with pytest.raises(ValueError, match=r"waves \[batch, samples\]"):
        BA.BatchAugmenter(AugmentConfig())(torch.zeros(SR), torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_batch_matches_the_cpu_batch_for_the_same_draws():
    cfg = AugmentConfig(noise_prob=0.5, speed_prob=0.5, vtlp_prob=0.5, reverb_prob=0.5,
                        bandlimit_prob=0.5)
    noise = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32)
    for noises in ([noise], []):
        aug = BA.BatchAugmenter(cfg, noises)
        waves = batch(*[voice(90 + i) for i in range(8)])
        cpu = aug(waves, torch.Generator().manual_seed(10))
        cuda = aug(waves.cuda(), torch.Generator().manual_seed(10))
        assert cuda.is_cuda
        torch.testing.assert_close(cuda.cpu(), cpu, atol=2e-4, rtol=1e-3)
