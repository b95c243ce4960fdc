"""Frontend benchmark: the same clips through librosa, kaldi-native-fbank, python_speech_features
and tdnn's Frontend (per file and batched), then WAV files end to end through `tdnn features`
against a plain librosa loop that loads and writes the same files.

All methods run single-threaded and interleaved round by round, so they see the same machine
load; each figure is the best round, as wall-clock rate and as rate per CPU-second (which other
users of a shared machine disturb less). Prints a table and writes bench/results/frontend.json.

    python bench/frontend.py                 # 2000 clips, 200 files, 3 rounds (~2-4 min)
    python bench/frontend.py --clips 300 --files 50 --rounds 1    # a quick look
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy/librosa single-threaded, like torch below

import argparse
import contextlib
import io
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kaldi_native_fbank as knf
import librosa
import numpy as np
import python_speech_features as psf
import soundfile as sf
import torch

from tdnn.cli import main as tdnn_main
from tdnn.features import Frontend, FrontendConfig

SR, N_MELS, N_FFT, HOP, WIN, FMIN = 16000, 40, 512, 160, 400, 20.0
RESULTS = Path(__file__).parent / "results" / "frontend.json"


def make_clips(n: int, seed: int = 0) -> np.ndarray:
    """[n, 16000] one-second speech-like clips: a gliding harmonic voice, a chirp, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    clips = np.empty((n, SR), np.float32)
    for i in range(n):
        f0 = rng.uniform(90, 250) * (1 + 0.2 * t * rng.uniform(-1, 1))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        voice = sum(np.sin(k * phase) / k for k in range(1, 12))
        chirp = librosa.chirp(fmin=rng.uniform(100, 500), fmax=rng.uniform(2000, 7000),
                              sr=SR, length=SR)
        envelope = np.clip(np.sin(np.pi * t * rng.uniform(1, 3)), 0, None)
        y = 0.2 * voice * envelope + 0.05 * chirp + 0.01 * rng.standard_normal(SR)
        clips[i] = y / np.abs(y).max() * rng.uniform(0.2, 0.9)
    return clips


def librosa_logmel(y: np.ndarray) -> np.ndarray:
    """The reference: librosa log-mel [n_mels, L] in dB with the frontend's settings."""
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP,
                                         win_length=WIN, n_mels=N_MELS, fmin=FMIN)
    return librosa.power_to_db(mel, amin=1e-10, top_db=None)


def kaldi_fbank(y: np.ndarray, opts) -> np.ndarray:
    """kaldi-native-fbank [L, n_mels] for one clip."""
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(SR, y * 32768)
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


def clip_methods(clips: np.ndarray, batch_size: int) -> dict:
    """name -> function computing features for all clips (outputs kept for the agreement check)."""
    frontend = Frontend(FrontendConfig(n_mels=N_MELS, fmin=FMIN))
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = N_MELS
    tensor = torch.from_numpy(clips)

    def batched():
        with torch.inference_mode():
            return torch.cat([frontend(tensor[i:i + batch_size])
                              for i in range(0, len(tensor), batch_size)]).numpy()

    return {
        "librosa (per clip)": lambda: [librosa_logmel(y) for y in clips],
        "kaldi-native-fbank (per clip)": lambda: [kaldi_fbank(y, opts) for y in clips],
        "python_speech_features (per clip)": lambda: [
            psf.logfbank(y, SR, winlen=WIN / SR, winstep=HOP / SR, nfilt=N_MELS, nfft=N_FFT,
                         lowfreq=FMIN) for y in clips],
        "tdnn Frontend.extract (per clip)": lambda: [frontend.extract(y) for y in clips],
        f"tdnn Frontend (batched, {batch_size})": batched,
    }


def librosa_folder(src: Path, out: Path) -> None:
    """The plain loop: librosa.load each WAV, log-mel, np.save mirroring the tree."""
    for path in sorted(src.rglob("*.wav")):
        y, _ = librosa.load(path, sr=SR)
        target = out / path.relative_to(src).with_suffix(".npy")
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, librosa_logmel(y).T)


def tdnn_folder(src: Path, out: Path, *extra: str) -> None:
    """`tdnn features SRC --out OUT` run in this (warm) process."""
    with contextlib.redirect_stdout(io.StringIO()):
        rc = tdnn_main(["features", str(src), "--out", str(out), "--no-progress", *extra])
    assert rc == 0, f"tdnn features exited {rc}"


def tdnn_folder_subprocess(src: Path, out: Path) -> None:
    """`tdnn features` as a new process: includes Python and torch start-up."""
    subprocess.run([sys.executable, "-m", "tdnn", "features", str(src), "--out", str(out),
                    "--no-progress"], check=True, capture_output=True)


def write_files(clips: np.ndarray, root: Path) -> None:
    """One 16-bit WAV per clip, 10 per speaker folder."""
    for i, y in enumerate(clips):
        path = root / f"spk{i // 10:03d}" / f"clip{i:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, SR, subtype="PCM_16")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (other users' load excluded)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed_rounds(methods: dict, rounds: int, fresh_dir=None) -> dict:
    """Best (wall, CPU) seconds per method over interleaved rounds, after one warm-up call."""
    best = {name: [float("inf"), float("inf")] for name in methods}
    for r in range(rounds + 1):
        for name, fn in methods.items():
            args = () if fresh_dir is None else (fresh_dir(),)
            wall, cpu = time.perf_counter(), cpu_seconds()
            fn(*args)
            if r > 0:  # round 0 warms up (filterbank caches, torch kernels, file cache)
                best[name][0] = min(best[name][0], time.perf_counter() - wall)
                best[name][1] = min(best[name][1], cpu_seconds() - cpu)
    return best


def table(title: str, count: int, unit: str, best: dict, base: str) -> list[dict]:
    """Print rates (wall clock and CPU time) and ratios to `base`; return rows for the JSON."""
    wall0, cpu0 = best[base]
    rows = [{"method": name, "wall_s": wall, "cpu_s": cpu, f"{unit}_per_s": count / wall,
             "vs_librosa": wall0 / wall, f"{unit}_per_cpu_s": count / cpu,
             "vs_librosa_cpu": cpu0 / cpu} for name, (wall, cpu) in best.items()]
    print(f"\n{title} ({count} {unit}); wall clock, and per CPU-second")
    print(f"{'method':<46}{unit + '/s':>9}{'x librosa':>10}{unit + '/cpu-s':>13}{'x librosa':>10}")
    for row in rows:
        print(f"{row['method']:<46}{row[f'{unit}_per_s']:>9.0f}{row['vs_librosa']:>10.2f}"
              f"{row[f'{unit}_per_cpu_s']:>13.0f}{row['vs_librosa_cpu']:>10.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=2000, help="one-second clips in memory")
    parser.add_argument("--files", type=int, default=200, help="WAV files end to end")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (best is kept)")
    parser.add_argument("--batch-size", type=int, default=64, help="batched frontend batch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    clips = make_clips(args.clips)
    methods = clip_methods(clips, args.batch_size)
    reference = np.stack(methods["librosa (per clip)"]())
    ours = methods[f"tdnn Frontend (batched, {args.batch_size})"]()
    max_db = float(np.abs(ours - reference).max())
    print(f"agreement: batched Frontend vs librosa, max |diff| = {max_db:.2e} dB "
          f"over {args.clips} clips")
    clip_rows = table("in-memory clips", args.clips, "clips",
                      timed_rounds(methods, args.rounds), "librosa (per clip)")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_files(clips[:args.files], tmp / "wavs")
        counter = iter(range(10 ** 6))
        folder = {
            "librosa loop (load, log-mel, np.save)": lambda out: librosa_folder(tmp / "wavs", out),
            "tdnn features (in process)": lambda out: tdnn_folder(tmp / "wavs", out),
            "tdnn features --archive (in process)":
                lambda out: tdnn_folder(tmp / "wavs", out, "--archive", "f.npz"),
            "tdnn features --jobs 2 (in process)":
                lambda out: tdnn_folder(tmp / "wavs", out, "--jobs", "2"),
        }

        def fresh():
            return tmp / f"out{next(counter)}"

        best = timed_rounds(folder, 2 * args.rounds, fresh)  # short runs: more rounds
        best.update(timed_rounds({"tdnn features (new process, with start-up)":
                                  lambda out: tdnn_folder_subprocess(tmp / "wavs", out)},
                                 args.rounds, fresh))
        file_rows = table("WAV files end to end", args.files, "files", best,
                          "librosa loop (load, log-mel, np.save)")

    result = {
        "command": "python " + " ".join(sys.argv),
        "settings": {"sample_rate": SR, "n_mels": N_MELS, "n_fft": N_FFT, "hop": HOP,
                     "win": WIN, "fmin": FMIN, "rounds": args.rounds,
                     "batch_size": args.batch_size, "torch_threads": args.threads},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "librosa": librosa.__version__,
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "agreement_max_abs_db": max_db,
        "clips": clip_rows,
        "files": file_rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
