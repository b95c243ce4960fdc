"""Export a trained model for deployment: ONNX (run with onnxruntime) and `torch.export` (.pt2).

The exported graph takes the waveform and includes the frontend. `torch.stft` returns complex
tensors, which the ONNX exporter does not take, so `ExportFrontend` computes the same features
with real ops only: each frame's windowed DFT is one `conv1d` whose kernels are the window
times the DFT basis (for Kaldi fbank the per-frame DC removal and pre-emphasis are linear too and
are folded into the same kernels), then the frontend's own mel/log/DCT, deltas and normalisation.
`include_frontend=False` exports the network alone on feature input [B, D, L].
The speech_embedding frontend is itself two ONNX models run by ONNX Runtime, which torch cannot
trace into the graph: a run using it is always exported as the network alone, and the sidecar
says which models (and which convention, `tdnn.embedding`) must compute its input. The `pcen`
frontend is a recurrent filter over time, exported the same way: the network alone, the
sidecar naming the PCEN settings that compute its input.

ONNX uses the TorchScript-based exporter (`dynamo=False`), which needs no `onnxscript`.
Both formats keep the batch and time axes dynamic (inputs of any clip length).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .config import EMBEDDING_MEL_DIM
from .errors import UserError
from .features import KALDI_INT16_SCALE, KALDI_PREEMPH, Frontend

FORMATS = ("onnx", "torch-export")


def dft_kernels(window: np.ndarray, n_fft: int) -> np.ndarray:
    """[2F, len(window)] rows: window * cos and -window * sin of the first F = n_fft//2 + 1
    DFT bins, so conv1d with them gives the real and imaginary spectrum of each frame."""
    n = np.arange(len(window))[None]
    k = np.arange(n_fft // 2 + 1)[:, None]
    angle = 2 * np.pi * k * n / n_fft
    return np.concatenate([np.cos(angle), -np.sin(angle)]) * window[None]


def kaldi_frame_matrix(win: int) -> np.ndarray:
    """[win, win] linear map of Kaldi's per-frame DC removal then pre-emphasis
    (y[n] = x[n] - 0.97 x[n-1], with x[-1] = x[0])."""
    dc = np.eye(win) - 1.0 / win
    pre = np.eye(win) - KALDI_PREEMPH * np.eye(win, k=-1)
    pre[0, 0] = 1.0 - KALDI_PREEMPH
    return pre @ dc


class ExportFrontend(nn.Module):
    """The same features as `frontend` (to float rounding) from real-valued ops only."""

    def __init__(self, frontend: Frontend):
        super().__init__()
        self.frontend = frontend
        cfg = frontend.cfg
        self.kind, self.hop = cfg.kind, frontend.hop_length
        win, n_fft = frontend.win_length, frontend.n_fft
        window = frontend.window.double().numpy()
        if cfg.kind == "fbank":
            self.pad = (win // 2, win - win // 2)
            kern = dft_kernels(window, n_fft) @ kaldi_frame_matrix(win) * KALDI_INT16_SCALE
        else:  # torch.stft centres a short window inside n_fft and zero-pads n_fft // 2 each side
            left = (n_fft - win) // 2
            full = np.zeros(n_fft)
            full[left:left + win] = window
            self.pad = (n_fft // 2, n_fft // 2)
            kern = dft_kernels(full, n_fft)
        self.bins = n_fft // 2 + 1
        self.register_buffer("kernels", torch.tensor(kern, dtype=torch.float32)[:, None])

    def forward(self, wave: Tensor) -> Tensor:
        """Features [B, D, L] from waveforms [B, T]."""
        fe, cfg = self.frontend, self.frontend.cfg
        spec = nn.functional.conv1d(nn.functional.pad(wave[:, None], self.pad), self.kernels,
                                    stride=self.hop)
        re, im = spec[:, :self.bins], spec[:, self.bins:]
        power = re * re + im * im
        if self.kind == "fbank":
            feats = torch.log(torch.matmul(fe.mel, power).clamp_min(cfg.log_floor))
        else:
            if self.kind != "spectrogram":
                power = torch.matmul(fe.mel, power)
            feats = 10.0 * torch.log10(power.clamp_min(cfg.log_floor))
            if self.kind == "mfcc":
                feats = torch.matmul(fe.dct, feats)
        return fe._normalize(fe._add_deltas(feats))


class Pipeline(nn.Module):
    """Waveform [B, T] -> logits: export frontend then the model (eval mode)."""

    def __init__(self, frontend: Frontend, model: nn.Module):
        super().__init__()
        self.frontend = ExportFrontend(frontend).eval()
        self.model = model.eval()

    def forward(self, wave: Tensor) -> Tensor:
        return self.model(self.frontend(wave))


def export_module(model: nn.Module, frontend: Frontend, include_frontend: bool = True
                  ) -> tuple[nn.Module, str]:
    """The module to export and the name of its input ('wave' [B, T] or 'feats' [B, D, L])."""
    if include_frontend:
        return Pipeline(frontend, model).eval(), "wave"
    return model.eval(), "feats"


def example_input(frontend: Frontend, include_frontend: bool, clip_samples: int | None,
                  batch: int = 2, seed: int = 0) -> Tensor:
    """A deterministic example batch (noise) of one clip length (None: one second at the
    frontend's rate), for tracing and parity."""
    g = torch.Generator().manual_seed(seed)
    wave = 0.1 * torch.randn(batch, clip_samples or frontend.cfg.sample_rate, generator=g)
    if include_frontend:
        return wave
    with torch.no_grad():
        return frontend(wave)


def export_onnx(model: nn.Module, frontend: Frontend, path: str | Path, clip_samples: int | None = None,
                include_frontend: bool = True, opset: int = 17) -> Path:
    """Write an ONNX graph (batch and time axes dynamic); input 'wave' or 'feats', output 'logits'
    ([batch, classes], or [batch, classes, frames] for a frame head)."""
    module, name = export_module(model, frontend, include_frontend)
    x = example_input(frontend, include_frontend, clip_samples)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame_head = getattr(getattr(model, "cfg", None), "head", "clip") == "frame"
    axes = {name: {0: "batch", x.dim() - 1: "time"},
            "logits": {0: "batch", 2: "frames"} if frame_head else {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints from shapes
        torch.onnx.export(module, (x,), str(path), input_names=[name], output_names=["logits"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    return path


def onnx_session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU session using `threads` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def onnx_run(session, x: Tensor | np.ndarray) -> np.ndarray:
    """Run a single-input session on `x`."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.asarray(x, dtype=np.float32)})[0]


def export_program(model: nn.Module, frontend: Frontend, path: str | Path,
                   clip_samples: int | None = None, include_frontend: bool = True) -> Path:
    """Write a `torch.export` program (.pt2; batch and time axes dynamic)."""
    module, _ = export_module(model, frontend, include_frontend)
    x = example_input(frontend, include_frontend, clip_samples)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad():
        program = torch.export.export(
            module, (x,), dynamic_shapes=({0: batch, x.dim() - 1: torch.export.Dim.AUTO},))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "No complete tensor found": CPU weights
        torch.export.save(program, str(path))
    return path


def load_program(path: str | Path) -> nn.Module:
    """The callable module of a saved `torch.export` program."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "No complete tensor found": CPU weights
        return torch.export.load(str(path)).module()


@torch.no_grad()
def parity(reference, run, x: Tensor) -> tuple[float, float]:
    """(max |Δ| between the reference's logits and `run(x)`, max |logit|) on input `x`."""
    expected = reference(x).numpy()
    got = np.asarray(run(x))
    if got.shape != expected.shape:
        raise AssertionError(f"exported output shape {got.shape} != {expected.shape}")
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())


def export_run(run, out: str | Path, fmt: str = "onnx", include_frontend: bool = True,
               opset: int = 17) -> dict:
    """Export a loaded run and check it: returns {path, format, input, max_abs_diff, ...}.

    The parity check feeds the exported model a batch of 3 noise clips and compares its
    logits with the eager model on the same input (the eager frontend, for a full pipeline)."""
    if fmt not in FORMATS:
        raise UserError(f"export format {fmt!r}: use one of {', '.join(FORMATS)}")
    model, frontend = run.model.eval(), run.frontend.eval()
    note = embedding_note(frontend) or pcen_note(frontend)
    include_frontend = include_frontend and note is None
    module, name = export_module(model, frontend, include_frontend)
    if fmt == "onnx":
        path = export_onnx(model, frontend, out, run.clip_samples, include_frontend, opset)
        session = onnx_session(path)
        call = lambda x: onnx_run(session, x)  # noqa: E731
    else:
        path = export_program(model, frontend, out, run.clip_samples, include_frontend)
        program = load_program(path)
        call = lambda x: program(x).numpy()  # noqa: E731
    x = example_input(frontend, include_frontend, run.clip_samples, batch=3, seed=1)
    reference = (lambda w: model(frontend(w))) if include_frontend else model
    diff, scale = parity(reference, call, x)
    return {"path": str(path), "format": fmt, "input": name,
            "input_shape": ["batch", "samples"] if include_frontend else
            ["batch", frontend.dim, "frames"],
            "labels": list(run.labels), "sample_rate": run.sample_rate,
            "output_shape": ["batch", "classes", "frames"] if run.frame_head else
            ["batch", "classes"],
            "clip_samples": run.clip_samples, "max_abs_diff": diff, "max_abs_logit": scale,
            **({"frontend_not_included": note} if note else {})}


def embedding_note(frontend: Frontend) -> str | None:
    """What computes the input of a speech_embedding run's exported network (None otherwise)."""
    if frontend.embedding is None:
        return None
    from . import embedding as emb

    files = ", ".join(f"{name} (sha256 {digest})" for name, digest in emb.MODEL_SHA256.items())
    mel = frontend.cfg.embedding_mel
    what = ("its central 8 mel frames, frame by frame" if mel == "frames"
            else "mean and std of its central 8 mel frames")
    extra = f", then {EMBEDDING_MEL_DIM[mel]} values: {what}" if mel else ""
    return (f"input 'feats' [batch, {frontend.dim}, frames] is Google speech_embedding: {files} from "
            f"{emb.WHEEL}, licence {emb.LICENSE}, run as tdnn.embedding.SpeechEmbedding does "
            f"(int16-scaled 16 kHz audio, mel/10 + 2 with an 80 dB floor per window, windows of "
            f"{emb.WINDOW_FRAMES} mel frames every {emb.WINDOW_STEP}; frame i centred at sample "
            f"{emb.HOP} i{extra})")


def pcen_note(frontend: Frontend) -> str | None:
    """What computes the input of a pcen run's exported network (None for other kinds)."""
    cfg = frontend.cfg
    if cfg.kind != "pcen":
        return None
    return (f"input 'feats' [batch, {frontend.dim}, frames] is PCEN as tdnn.features computes "
            f"it: librosa.feature.melspectrogram(power=1, n_mels={cfg.n_mels}, "
            f"n_fft={frontend.n_fft}, win_length={frontend.win_length}, "
            f"hop_length={frontend.hop_length}, fmin={cfg.fmin:g}, "
            f"fmax={cfg.fmax or cfg.sample_rate / 2:g}, centred, zero-padded) of "
            f"the waveform times 2**31, then librosa.pcen with b={frontend.pcen_b:.6f} "
            f"(time constant {cfg.pcen_time_constant:g} s) and its other defaults, the "
            "smoother starting in its steady state for the first frame")
