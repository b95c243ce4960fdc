"""Training-time augmentation: waveform perturbations per clip, SpecAugment masks per batch.

Waveform steps, in the order a recording meets them (each with its own probability):
  speed      resample by a factor s (tempo and pitch change together, as Kaldi's 3-way speed
             perturbation and sox `speed` do), then centre-crop/pad back to the clip length;
  vtlp       vocal-tract-length perturbation by warping the STFT's frequency axis with the
             piecewise-linear VTLP map of Jaitly & Hinton (2013): f -> alpha*f up to a knee,
             then linear to Nyquist. Magnitudes are interpolated along frequency and phases
             re-accumulated from warped instantaneous frequencies (phase-vocoder style), so the
             duration is kept; alpha > 1 moves formants (and harmonics) up, like a shorter tract;
  shift      time shift by up to `shift_ms`, zero-filled (the TensorFlow reference's shift);
  reverb     convolution with a synthetic room response: a unit direct path plus exponentially
             decaying Gaussian noise reaching -60 dB at RT60, at a random direct-to-reverberant
             ratio; the level is kept;
  noise      a background-noise slice (or, with no noise files, coloured 1/f^beta noise) mixed at
             an exact SNR drawn from `snr_db` (powers measured over the whole clip);
  bandlimit  the channel: either telephone (16k -> 8 kHz, 300-3400 Hz band-pass, 8-bit mu-law,
             -> 16k) or a random low-pass made by resampling through a lower rate and back;
  gain       a random level change in dB.
On features, per batch: `MelVtlp` (VTLP on the mel bands, for features held in memory) and
`spec_augment` (SpecAugment masks).
All randomness comes from the `rng` passed in, so one seed gives one result.
`tdnn.batch_augment.BatchAugmenter` applies the same steps to a batch in torch (the trainer's
path); the functions here are its per-clip reference.
"""

from __future__ import annotations

import librosa
import numpy as np
import scipy.signal
import soxr
import torch

from .audio import SAMPLE_RATE, random_slice
from .config import AugmentConfig, FrontendConfig
from .errors import ConfigError

LN_1000 = np.log(1000.0)  # amplitude decay of 60 dB, in nepers


class Augmenter:
    """Per-clip waveform augmentation: `augmenter(wave, rng) -> wave` of the same length.

    `noises` are long background recordings (e.g. from `load_background_noise`); slices of them
    are mixed in. Cheap enough for DataLoader workers (a few ms per 1 s clip).
    """

    def __init__(self, cfg: AugmentConfig, noises: list[np.ndarray] | None = None,
                 sample_rate: int = SAMPLE_RATE):
        self.cfg = cfg
        self.noises = [np.asarray(n, dtype=np.float32) for n in (noises or []) if len(n)]
        self.sr = int(sample_rate)
        self.telephone_sos = scipy.signal.butter(4, [300, 3400], btype="bandpass", fs=8000,
                                                 output="sos")

    def __call__(self, wave: np.ndarray, rng: np.random.Generator | int) -> np.ndarray:
        rng = np.random.default_rng(rng)
        cfg, x = self.cfg, np.asarray(wave, dtype=np.float32)
        n = len(x)
        if rng.random() < cfg.speed_prob:
            x = centre_fit(speed_perturb(x, rng.uniform(*cfg.speed), self.sr), n)
        if rng.random() < cfg.vtlp_prob:
            x = vtlp_warp(x, rng.uniform(*cfg.vtlp), self.sr)
        if cfg.shift_ms > 0:
            limit = int(cfg.shift_ms * self.sr / 1000)
            x = time_shift(x, int(rng.integers(-limit, limit + 1)))
        if rng.random() < cfg.reverb_prob:
            x = add_reverb(x, rng.uniform(*cfg.rt60), rng.uniform(*cfg.drr_db), self.sr, rng)
        if rng.random() < cfg.noise_prob:
            x = add_noise(x, self.noise_clip(n, rng), rng.uniform(*cfg.snr_db))
        if rng.random() < cfg.bandlimit_prob:
            if rng.random() < cfg.telephone_share:
                x = telephone(x, self.sr, self.telephone_sos)
            else:
                x = band_limit(x, self.sr, rng.uniform(*cfg.bandlimit_rate))
        x = x * np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
        return x.astype(np.float32, copy=False)

    def noise_clip(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` samples of noise: a random slice of a background file, else coloured noise."""
        if not self.noises:
            return colored_noise(n, rng.uniform(0.0, 2.0), rng)
        return random_slice(self.noises, n, rng)


def add_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`wave + k * noise` with k set so that 10 log10(P_wave / P_(k noise)) = snr_db exactly.

    A silent wave or silent noise leaves the wave unchanged (no SNR is defined).
    """
    p_wave = float(np.mean(np.square(wave, dtype=np.float64)))
    p_noise = float(np.mean(np.square(noise, dtype=np.float64)))
    if p_wave == 0.0 or p_noise == 0.0:
        return wave.copy()
    k = np.sqrt(p_wave / (p_noise * 10 ** (snr_db / 10)))
    return (wave + k * noise).astype(np.float32)


def colored_noise(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise with power spectrum 1/f^beta (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / f ** (beta / 2), n)
    return (noise / (np.std(noise) + 1e-12)).astype(np.float32)


def time_shift(wave: np.ndarray, shift: int) -> np.ndarray:
    """Move the wave `shift` samples later (negative: earlier), filling with zeros."""
    out = np.zeros_like(wave)
    if shift >= 0:
        out[shift:] = wave[:len(wave) - shift]
    else:
        out[:shift] = wave[-shift:]
    return out


def speed_perturb(wave: np.ndarray, factor: float, sr: int) -> np.ndarray:
    """Play `factor` times faster (length / factor, pitch * factor) by resampling."""
    return soxr.resample(wave, sr * factor, sr).astype(np.float32, copy=False)


def centre_fit(wave: np.ndarray, n: int) -> np.ndarray:
    """Centre-crop or symmetrically zero-pad to exactly `n` samples."""
    if len(wave) >= n:
        start = (len(wave) - n) // 2
        return wave[start:start + n]
    before = (n - len(wave)) // 2
    return np.pad(wave, (before, n - len(wave) - before))


def vtlp_points(alpha: float, sr: int) -> tuple[list[float], list[float]]:
    """Breakpoints (input Hz, output Hz) of the piecewise-linear VTLP map (Jaitly & Hinton 2013).

    f -> alpha * f up to a knee (0.6 of Nyquist, i.e. 4.8 kHz at 16 kHz, scaled so the output
    stays below Nyquist), then a straight line to Nyquist; 0 and Nyquist are fixed.
    """
    nyquist = sr / 2
    knee_out = 0.6 * nyquist * min(alpha, 1.0)
    return [0.0, knee_out / alpha, nyquist], [0.0, knee_out, nyquist]


def vtlp_map(freqs: np.ndarray, alpha: float, sr: int) -> np.ndarray:
    """Warped frequencies (Hz) of `freqs` under the VTLP map with factor `alpha`."""
    return np.interp(freqs, *vtlp_points(alpha, sr))


def vtlp_warp(wave: np.ndarray, alpha: float, sr: int, n_fft: int = 512,
              hop: int = 128) -> np.ndarray:
    """Warp the spectrum of `wave` by the VTLP map with factor `alpha`, keeping duration and RMS."""
    stft = librosa.stft(wave, n_fft=n_fft, hop_length=hop)
    n_bins = stft.shape[0]
    bins = np.arange(n_bins)
    bin_hz = sr / n_fft
    # Source position (in bins) of every output bin: the inverse of the warp map.
    xp, fp = vtlp_points(alpha, sr)
    src = np.clip(np.interp(bins * bin_hz, fp, xp) / bin_hz, 0, n_bins - 1)
    lo = np.minimum(src.astype(int), n_bins - 2)
    frac = (src - lo)[:, None]
    mag = np.abs(stft)
    mag_w = mag[lo] * (1 - frac) + mag[lo + 1] * frac
    # Instantaneous frequency of each bin from its frame-to-frame phase advance.
    phase = np.angle(stft)
    omega = 2 * np.pi * bins / n_fft
    advance = np.diff(phase, axis=1) - omega[:, None] * hop
    inst = omega[:, None] + (np.mod(advance + np.pi, 2 * np.pi) - np.pi) / hop
    inst_src = inst[lo] * (1 - frac) + inst[lo + 1] * frac
    inst_w = vtlp_map(inst_src * sr / (2 * np.pi), alpha, sr) * 2 * np.pi / sr
    start = phase[np.rint(src).astype(int), :1]
    phase_w = start + np.concatenate([np.zeros_like(start), np.cumsum(inst_w * hop, axis=1)], 1)
    out = librosa.istft(mag_w * np.exp(1j * phase_w), hop_length=hop, n_fft=n_fft,
                        length=len(wave))
    return _match_rms(out, wave)


def add_reverb(wave: np.ndarray, rt60: float, drr_db: float, sr: int,
               rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response (direct path + exponential noise tail).

    The tail decays by 60 dB over `rt60` seconds and its energy sits `drr_db` below the direct
    path; the output keeps the input's RMS level and length.
    """
    n = max(int(rt60 * sr), 2)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-LN_1000 * t / rt60)
    tail[0] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail ** 2))
    tail[0] = 1.0
    return _match_rms(scipy.signal.fftconvolve(wave, tail)[:len(wave)], wave)


def telephone(wave: np.ndarray, sr: int, sos: np.ndarray | None = None) -> np.ndarray:
    """Narrow-band telephone channel: to 8 kHz, 300-3400 Hz band-pass, 8-bit mu-law, back."""
    if sos is None:
        sos = scipy.signal.butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    narrow = scipy.signal.sosfilt(sos, soxr.resample(wave, sr, 8000))
    peak = max(float(np.max(np.abs(narrow))), 1e-9)
    coded = librosa.mu_expand(librosa.mu_compress(narrow / peak, mu=255), mu=255) * peak
    return centre_fit(soxr.resample(coded.astype(np.float32), 8000, sr), len(wave))


def band_limit(wave: np.ndarray, sr: int, rate: float) -> np.ndarray:
    """Remove content above rate/2 by resampling through `rate` and back (anti-aliased)."""
    if rate >= sr:
        return wave
    narrow = soxr.resample(wave, sr, rate)
    return centre_fit(soxr.resample(narrow, rate, sr).astype(np.float32), len(wave))


def _match_rms(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """`out` scaled to the RMS level of `ref` (unchanged when `out` is silent), as float32."""
    rms_out = np.sqrt(np.mean(np.square(out, dtype=np.float64)))
    rms_ref = np.sqrt(np.mean(np.square(ref, dtype=np.float64)))
    return (out * (rms_ref / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


def spec_augment(feats: torch.Tensor, cfg: AugmentConfig,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """SpecAugment masks on a batch [B, D, L]: frequency bands and time spans set to each
    example's mean; widths drawn in [0, *_mask_width], positions uniform, per example."""
    batch, dim, length = feats.shape
    mask = torch.zeros(batch, dim, length, dtype=torch.bool)
    for count, width, size, axis in ((cfg.freq_masks, cfg.freq_mask_width, dim, 1),
                                     (cfg.time_masks, cfg.time_mask_width, length, 2)):
        span = torch.arange(size)
        for _ in range(count):
            w = torch.randint(0, width + 1, (batch, 1), generator=generator).clamp(max=size)
            start = (torch.rand(batch, 1, generator=generator) * (size - w + 1)).long()
            hit = (span >= start) & (span < start + w)
            mask |= hit.unsqueeze(3 - axis)
    fill = feats.mean(dim=(1, 2), keepdim=True)
    return torch.where(mask.to(feats.device), fill, feats)


MEL_SCALES = {"logmel": False, "pcen": False, "fbank": True}  # frontend kind -> HTK (Kaldi) mel


class MelVtlp:
    """VTLP on features made of mel bands (frontend kinds logmel, pcen, fbank; deltas too): a
    band centred at f reads the bands at f's source under the VTLP map, interpolated linearly
    in mel between band centres (edge bands repeat), so what lay at f moves to vtlp_map(f), as
    `vtlp_warp` moves it in the waveform. For features whose waveforms are gone (stream
    segments); with probability `cfg.mel_vtlp_prob` per example, factor drawn from `cfg.vtlp`."""

    def __init__(self, frontend: FrontendConfig, cfg: AugmentConfig):
        if frontend.kind not in MEL_SCALES:
            raise ConfigError(f"option 'augment.mel_vtlp_prob': VTLP on features needs mel bands "
                              f"(frontend.kind logmel, pcen or fbank), not {frontend.kind!r}; "
                              "set it to 0")
        htk = MEL_SCALES[frontend.kind]
        fmax = frontend.fmax if frontend.fmax is not None else frontend.sample_rate / 2
        self.centres = librosa.mel_frequencies(frontend.n_mels + 2, fmin=frontend.fmin,
                                               fmax=fmax, htk=htk)[1:-1]
        self.htk, self.sr, self.cfg = htk, frontend.sample_rate, cfg

    def sources(self, alpha: float) -> np.ndarray:
        """Fractional band index each band reads at under factor `alpha` [n_mels]."""
        inputs, outputs = vtlp_points(alpha, self.sr)
        source_hz = np.interp(self.centres, outputs, inputs)  # the map's inverse
        mel = lambda f: librosa.hz_to_mel(f, htk=self.htk)  # noqa: E731
        return np.interp(mel(source_hz), mel(self.centres), np.arange(len(self.centres)))

    def warp(self, feats: torch.Tensor, alphas: np.ndarray) -> torch.Tensor:
        """feats [B, k * n_mels, L] (the bands, then k - 1 blocks of their deltas), row i warped
        by alphas[i]."""
        batch, dim, length = feats.shape
        n = len(self.centres)
        src = np.stack([self.sources(a) for a in alphas])
        lo = np.minimum(np.floor(src).astype(np.int64), n - 2)
        blocks = feats.reshape(batch, dim // n, n, length)
        index = torch.from_numpy(lo).to(feats.device)[:, None, :, None].expand_as(blocks)
        weight = torch.from_numpy(src - lo).to(feats)[:, None, :, None]
        out = torch.lerp(blocks.gather(2, index), blocks.gather(2, index + 1), weight)
        return out.reshape(feats.shape)

    def __call__(self, feats: torch.Tensor, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """The batch with each example warped with probability mel_vtlp_prob."""
        lo, hi = self.cfg.vtlp
        hit = torch.rand(len(feats), generator=generator) < self.cfg.mel_vtlp_prob
        alphas = lo + (hi - lo) * torch.rand(len(feats), generator=generator, dtype=torch.float64)
        return self.warp(feats, torch.where(hit, alphas, 1.0).numpy())
