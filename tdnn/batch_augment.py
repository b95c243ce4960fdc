"""Waveform augmentation of a whole batch in torch: the steps of `tdnn.augment`, per item.

The same steps, order, probabilities and ranges as the per-clip `tdnn.augment.Augmenter` (its
module docstring gives the semantics), computed on a batch [B, N] so that augmentation costs
no more than the model step: speed (one FFT upsampling of the batch, read at the sped-up times),
VTLP (one STFT of the batch), shift, reverb (one FFT convolution), noise at an exact SNR,
band-limiting (FFT masks; the telephone channel at 8 kHz with mu-law) and gain. Functions below
act on tensors; the `BatchAugmenter` draws every parameter from the `torch.Generator` it is
given, so one generator state gives one result (training resumes exactly from a saved state).
Values agree with the numpy steps for the same parameters (tests/test_batch_augment.py); the
draws themselves differ, since the two take them from different generators."""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.signal
import torch

from . import audio
from .config import AugmentConfig

LN_1000 = math.log(1000.0)  # amplitude decay of 60 dB, in nepers
TELEPHONE_RATE = 8000
MU = 255
UP = 2  # `speed` oversamples this many times before its cubic interpolation


def speed(waves: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Row i played factors[i] times faster (length N / f, pitch * f), centre-fit back to N.

    Band-limited resampling of the whole batch at once: each row is upsampled UP times by one
    FFT (low-passed at Nyquist / f when speeding up, against aliasing; zero-padded, so nothing
    wraps around the ends), then read at times f * t by bicubic `grid_sample`.
    """
    n = waves.shape[-1]
    f = factors.to(torch.float64)[:, None]
    padded = fast_length(n + n // 4)
    spec = torch.fft.rfft(waves, padded)
    keep = torch.arange(padded // 2 + 1) <= padded / 2 / f.clamp(min=1.0)
    size = padded * UP
    up = torch.fft.irfft(spec * keep.to(waves.device), size) * UP
    length = torch.round(n / f)  # samples of the resampled clip, centred in N
    start = torch.where(length >= n, torch.div(length - n, 2, rounding_mode="floor"),
                        -torch.div(n - length, 2, rounding_mode="floor"))
    t = start + torch.arange(n, dtype=torch.float64)  # output sample index before the fit
    x = (2 * UP * f * t / (size - 1) - 1).to(waves.dtype)  # grid coordinate of time f * t
    grid = torch.stack([x, torch.zeros_like(x)], -1)[:, None].to(waves.device)
    out = torch.nn.functional.grid_sample(up[:, None, None], grid, mode="bicubic",
                                          padding_mode="zeros", align_corners=True)[:, 0, 0]
    return torch.where(((t >= 0) & (t < length)).to(waves.device), out, 0.0)


def vtlp_map(freqs: torch.Tensor, alphas: torch.Tensor, sr: int,
             inverse: bool = False) -> torch.Tensor:
    """The piecewise-linear VTLP map (`tdnn.augment.vtlp_points`) of rows of `freqs` (Hz), one
    alpha per row, clamped to [0, Nyquist]; `inverse` maps output frequencies back to input."""
    nyquist = sr / 2
    alphas = alphas.to(freqs)
    knee_out = (0.6 * nyquist * alphas.clamp(max=1.0))[:, None]
    knee_in = knee_out / alphas[:, None]
    if inverse:
        knee_in, knee_out = knee_out, knee_in
    slope = (nyquist - knee_out) / (nyquist - knee_in)  # of the line from the knee to Nyquist
    f = freqs.clamp(0, nyquist)
    return torch.where(f <= knee_in, f * (knee_out / knee_in),
                       torch.addcmul(knee_out - knee_in * slope, f, slope))


def vtlp(waves: torch.Tensor, alphas: torch.Tensor, sr: int, n_fft: int = 512,
         hop: int = 128) -> torch.Tensor:
    """Row i's STFT frequency axis warped by the VTLP map with alphas[i]: magnitudes
    interpolated, phases re-accumulated from warped instantaneous frequencies; length and RMS
    kept (the batch form of `tdnn.augment.vtlp_warp`)."""
    window = torch.hann_window(n_fft, dtype=waves.dtype, device=waves.device)
    stft = torch.stft(waves, n_fft, hop, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    n_bins = stft.shape[1]
    bin_hz = sr / n_fft
    bins = torch.arange(n_bins, dtype=waves.dtype, device=waves.device)
    src = (vtlp_map(bins * bin_hz, alphas, sr, inverse=True) / bin_hz).clamp(0, n_bins - 1)
    lo = src.long().clamp(max=n_bins - 2)
    frac = (src - lo)[..., None]

    rows = (torch.arange(len(waves), device=waves.device) * n_bins)[:, None]

    def warp(x):
        """x [B, bins, frames] read at the fractional source bins."""
        flat = x.reshape(-1, x.shape[2])
        take = lambda k: flat.index_select(0, (rows + k).reshape(-1)).view(x.shape)  # noqa: E731
        return torch.lerp(take(lo), take(lo + 1), frac)

    # Instantaneous frequency of each bin: its frame-to-frame phase advance beyond the bin's
    # own, wrapped to (-pi, pi] (the angle of S_t+1 conj(S_t) turned back by omega * hop).
    omega = 2 * math.pi * bins / n_fft
    turn = torch.polar(torch.ones_like(omega), -omega * hop)[:, None]
    excess = (stft[..., 1:] * (stft[..., :-1].conj() * turn)).angle()
    hz = torch.add((src * bin_hz)[..., None], warp(excess), alpha=sr / (2 * math.pi * hop))
    step = vtlp_map(hz.reshape(len(waves), -1), alphas, sr).reshape(hz.shape) * (
        2 * math.pi * hop / sr)
    start = stft[..., 0].angle().gather(1, src.round().long())[..., None]
    phase_w = torch.cumsum(torch.cat([start, step], 2), 2)
    mag = warp((stft.real.square() + stft.imag.square()).sqrt())
    warped = torch.complex(mag * torch.cos(phase_w), mag * torch.sin(phase_w))
    out = torch.istft(warped, n_fft, hop, window=window, center=True, length=waves.shape[-1])
    return match_rms(out, waves)


def shift(waves: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Row i moved shifts[i] samples later (negative: earlier), zero-filled."""
    n = waves.shape[-1]
    out = torch.zeros_like(waves)
    for i, k in enumerate(shifts.tolist()):
        if 0 <= k < n:
            out[i, k:] = waves[i, :n - k]
        elif -n < k < 0:
            out[i, :k] = waves[i, -k:]
    return out


def synthetic_rirs(rt60: torch.Tensor, drr_db: torch.Tensor, sr: int,
                   noise: torch.Tensor) -> torch.Tensor:
    """Room responses [B, R]: a unit direct path and a Gaussian tail (rows of `noise`, [B, R])
    decaying by 60 dB over rt60[i] seconds, its energy drr_db[i] dB below the direct path."""
    length = torch.clamp((rt60 * sr).long(), min=2)
    t = torch.arange(noise.shape[1], dtype=rt60.dtype) / sr
    tail = noise * torch.exp(-LN_1000 * t / rt60[:, None])
    tail = torch.where((t > 0) & (torch.arange(noise.shape[1]) < length[:, None]), tail, 0.0)
    energy = tail.square().sum(1, keepdim=True)
    tail = tail * torch.sqrt(10 ** (-drr_db[:, None] / 10) / energy)
    tail[:, 0] = 1.0
    return tail


def reverb(waves: torch.Tensor, rirs: torch.Tensor) -> torch.Tensor:
    """Row i convolved with rirs[i] (FFT), cut to N samples, at its own RMS level."""
    n = waves.shape[-1]
    size = fast_length(n + rirs.shape[1] - 1)
    wet = torch.fft.irfft(torch.fft.rfft(waves, size) * torch.fft.rfft(rirs.to(waves), size),
                          size)[:, :n]
    return match_rms(wet, waves)


def colored_noise(n: int, betas: torch.Tensor, white: torch.Tensor) -> torch.Tensor:
    """Unit-power rows with power spectrum 1/f^betas[i], shaped from `white` [B, n]."""
    spectrum = torch.fft.rfft(white.double())
    f = torch.arange(spectrum.shape[1], dtype=torch.float64)
    f[0] = 1.0
    noise = torch.fft.irfft(spectrum / f ** (betas.double()[:, None] / 2), n)
    return (noise / (noise.std(1, keepdim=True) + 1e-12)).float()


def mix_at_snr(waves: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """`waves + k * noise` per row, k set so that 10 log10(P_wave / P_(k noise)) = snr_db
    exactly; a row whose wave or noise is silent is left unchanged."""
    noise, snr_db = noise.to(waves), snr_db.to(waves.device)
    p_wave = waves.double().square().mean(1)
    p_noise = noise.double().square().mean(1)
    ok = (p_wave > 0) & (p_noise > 0)
    k = torch.where(ok, torch.sqrt(p_wave / (p_noise.clamp(min=1e-300) * 10 ** (snr_db / 10))), 0)
    return (waves + k[:, None].to(waves) * noise).to(waves.dtype)


def band_limit(waves: torch.Tensor, sr: int, rates: torch.Tensor) -> torch.Tensor:
    """Row i with content above rates[i]/2 removed (ideal low-pass; padded so nothing wraps)."""
    n = waves.shape[-1]
    spec = torch.fft.rfft(waves, 2 * n)
    freqs = torch.fft.rfftfreq(2 * n, 1 / sr, device=waves.device)
    spec = spec * (freqs < rates[:, None].to(freqs) / 2)
    return torch.fft.irfft(spec, 2 * n)[:, :n].to(waves.dtype)


def telephone(waves: torch.Tensor, sr: int) -> torch.Tensor:
    """The narrow-band channel of `tdnn.augment.telephone`: resampled to 8 kHz, 300-3400 Hz
    band-pass (the order-4 Butterworth's complex response, applied by FFT), 8-bit mu-law at the
    row's peak, back to `sr`."""
    n = waves.shape[-1]
    n8 = round(2 * n * TELEPHONE_RATE / sr)
    spec = torch.fft.rfft(waves, 2 * n)[:, :n8 // 2 + 1] * telephone_response(n8).to(waves.device)
    narrow = torch.fft.irfft(spec, n8) * (n8 / (2 * n))
    peak = narrow.abs().amax(1, keepdim=True).clamp(min=1e-9)
    coded = mu_law(narrow / peak) * peak
    wide = torch.fft.irfft(torch.fft.rfft(coded), 2 * n) * (2 * n / n8)
    return wide[:, :n].to(waves.dtype)


@functools.lru_cache(maxsize=8)
def telephone_response(n8: int) -> torch.Tensor:
    """The telephone band-pass's complex frequency response at the rfft bins of length `n8`."""
    sos = scipy.signal.butter(4, [300, 3400], btype="bandpass", fs=TELEPHONE_RATE, output="sos")
    _, h = scipy.signal.sosfreqz(sos, worN=np.fft.rfftfreq(n8, 1 / TELEPHONE_RATE),
                                 fs=TELEPHONE_RATE)
    return torch.from_numpy(h.astype(np.complex64))


def mu_law(x: torch.Tensor, mu: int = MU) -> torch.Tensor:
    """8-bit mu-law compress, quantise and expand of values in [-1, 1] (librosa's rounding)."""
    compressed = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    edges = torch.linspace(-1, 1, mu + 1, dtype=x.dtype, device=x.device)
    code = (torch.bucketize(compressed, edges) - (mu + 1) // 2).to(x.dtype) * 2.0 / (mu + 1)
    return torch.sign(code) / mu * (torch.pow(1.0 + mu, code.abs()) - 1)


def match_rms(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Rows of `out` scaled to the RMS level of the rows of `ref` (a silent row is kept)."""
    rms_out = out.double().square().mean(1, keepdim=True).sqrt()
    rms_ref = ref.double().square().mean(1, keepdim=True).sqrt()
    scale = torch.where(rms_out > 0, rms_ref / rms_out.clamp(min=1e-300), 1.0)
    return (out * scale.to(out)).to(ref.dtype)


class BatchAugmenter:
    """`augmenter(waves [B, N] float32, generator) -> waves [B, N]`, each row augmented as
    `tdnn.augment.Augmenter` would a clip (same steps, order, probabilities and ranges).

    `noises` are long background recordings; slices of them (tiled when shorter than a clip)
    are mixed in, or coloured 1/f^beta noise (beta in [0, 2)) when there are none. Every draw
    comes from `generator` (a CPU `torch.Generator`, whatever device the waves are on), in a
    fixed order.
    """

    def __init__(self, cfg: AugmentConfig, noises: list[np.ndarray] | None = None,
                 sample_rate: int = audio.SAMPLE_RATE):
        self.cfg = cfg
        self.noises = [np.asarray(x, dtype=np.float32) for x in (noises or []) if len(x)]
        self.sr = int(sample_rate)
        self._bank: dict[int, list[torch.Tensor]] = {}

    def __call__(self, waves: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if waves.ndim != 2:
            raise ValueError(f"BatchAugmenter wants waves [batch, samples], got shape "
                             f"{tuple(waves.shape)}")
        cfg, sr = self.cfg, self.sr
        batch, n = waves.shape
        u = torch.rand(batch, 16, generator=generator, dtype=torch.float64)
        between = lambda col, lo_hi: lo_hi[0] + u[:, col] * (lo_hi[1] - lo_hi[0])  # noqa: E731
        x = waves.float()
        rows = u[:, 0] < cfg.speed_prob
        if rows.any():
            x = _rows(x, rows, speed(x[rows], between(1, cfg.speed)[rows]))
        rows = u[:, 2] < cfg.vtlp_prob
        if rows.any():
            x = _rows(x, rows, vtlp(x[rows], between(3, cfg.vtlp)[rows].float(), sr))
        if cfg.shift_ms > 0:
            limit = int(cfg.shift_ms * sr / 1000)
            x = shift(x, (u[:, 4] * (2 * limit + 1)).long() - limit)
        rows = u[:, 5] < cfg.reverb_prob
        if rows.any():
            rt60, drr = between(6, cfg.rt60)[rows], between(7, cfg.drr_db)[rows]
            tail = torch.randn(int(rows.sum()), max(int(rt60.max() * sr), 2),
                               generator=generator, dtype=torch.float64)
            x = _rows(x, rows, reverb(x[rows], synthetic_rirs(rt60, drr, sr, tail).float()))
        rows = u[:, 8] < cfg.noise_prob
        if rows.any():
            noise = self.noise_slices(n, u[rows, 10], u[rows, 11], generator)
            x = _rows(x, rows, mix_at_snr(x[rows], noise, between(9, cfg.snr_db)[rows]))
        rows = u[:, 12] < cfg.bandlimit_prob
        if rows.any():
            phone = rows & (u[:, 13] < cfg.telephone_share)
            low = rows & ~phone
            if phone.any():
                x = _rows(x, phone, telephone(x[phone], sr))
            if low.any():
                x = _rows(x, low, band_limit(x[low], sr, between(14, cfg.bandlimit_rate)[low]))
        gain = 10 ** (between(15, cfg.gain_db) / 20)
        return (x * gain[:, None].to(x)).to(waves.dtype)

    def noise_slices(self, n: int, pick: torch.Tensor, start: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
        """`n`-sample noise rows: noise file floor(pick * files) from floor(start * (len - n + 1)),
        or (no files) coloured noise with beta = 2 * pick."""
        if not self.noises:
            white = torch.randn(len(pick), n, generator=generator, dtype=torch.float64)
            return colored_noise(n, 2 * pick, white)
        tiled = self._tiled(n)
        rows = []
        for p, s in zip(pick.tolist(), start.tolist()):
            noise = tiled[int(p * len(tiled))]
            first = int(s * (len(noise) - n + 1))
            rows.append(noise[first:first + n])
        return torch.stack(rows)

    def _tiled(self, n: int) -> list[torch.Tensor]:
        """The noises, each shorter than `n` samples repeated to at least `n`."""
        if n not in self._bank:
            self._bank[n] = [torch.from_numpy(audio.tile_to(x, n)) for x in self.noises]
        return self._bank[n]


def fast_length(m: int) -> int:
    """The smallest 2^a 3^b 5^c >= m (a fast FFT length)."""
    best = 1 << (m - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p2 = p35
            while p2 < m:
                p2 *= 2
            best = min(best, p2)
            p35 *= 3
        p5 *= 5
    return best


def _rows(x: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """`x` with the rows selected by the mask `rows` replaced by `values`."""
    out = x.clone()
    out[rows] = values.to(x.dtype)
    return out
