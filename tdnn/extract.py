"""Batch feature extraction: audio files -> [L, D] frames, chunked and batched through one
`Frontend`, in this process or a pool of worker processes; one .npy per file or one .npz archive.
`tdnn features` is the command line over it. An item is anything with `.path` (the audio file)
and `.key` (its output name without suffix)."""

from __future__ import annotations

import multiprocessing
import os
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import audio
from .atomic import atomic_write_bytes, inside
from .features import Frontend, FrontendConfig
from .workers import remember_parent, stop_if_orphaned


def load_chunk(items: list, sample_rate: int):
    """Load a chunk of items: ({item: waveform}, [(path, reason) for files that failed])."""
    waves, failures = {}, []
    for item in items:
        try:
            waves[item] = audio.load(item.path, sample_rate)
        except Exception as e:  # one bad file must not stop the batch
            failures.append((str(item.path), str(e)))
    return waves, failures


def analyse_chunk(waves: dict, frontend: Frontend, out: Path | None) -> dict:
    """Features for loaded clips, equal lengths batched; written to `out` if given.

    Returns key -> features [L, D] (None once written to `out`).
    """
    by_length, done = {}, {}
    for item, wave in waves.items():
        by_length.setdefault(len(wave), []).append(item)
    with torch.inference_mode():
        for group in by_length.values():
            batch = torch.from_numpy(np.stack([waves[item] for item in group]))
            feats = frontend(batch).transpose(1, 2).numpy()
            for item, f in zip(group, feats):
                done[item.key] = _write(out, item.key, f) if out else f
    return done


def extract_chunk(items: list, frontend: Frontend, out: Path | None):
    """Load and analyse one chunk: (done, failures) as in `analyse_chunk` and `load_chunk`."""
    waves, failures = load_chunk(items, frontend.cfg.sample_rate)
    return analyse_chunk(waves, frontend, out), failures


def _write(out: Path, key: str, feats: np.ndarray) -> None:
    """Save one [L, D] array as out/key.npy atomically (folders created), never outside out."""
    target = inside(out, f"{key}.npy", key)
    array = np.ascontiguousarray(feats)
    atomic_write_bytes(target, lambda f: np.save(f, array), durable=False)


def write_archive(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz (what np.savez writes) with keys in sorted order, atomically; any key
    name is allowed."""
    def write(f) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key in sorted(arrays):
                with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]))

    atomic_write_bytes(path, write)


_WORKER = {}


def _init_worker(cfg: FrontendConfig, threads: int, parent: int) -> None:
    """Set up a worker process: it stops with its parent and keeps one frontend."""
    remember_parent(parent)
    torch.set_num_threads(threads)
    _WORKER["frontend"] = Frontend(cfg)


def _worker_chunk(items, out):
    """Extract one chunk in a worker, unless the parent has died."""
    stop_if_orphaned()
    return extract_chunk(items, _WORKER["frontend"], out)


def extract_all(items: list, cfg: FrontendConfig, out: Path | None, jobs: int = 1,
                threads: int = 1, batch_size: int = 32, progress: bool = True):
    """Run `extract_chunk` over all items in chunks, in this process or a pool of `jobs`."""
    chunks = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    done, failures = {}, []
    bar = tqdm(total=len(items), unit="file", disable=None if progress else True, file=sys.stderr)
    if jobs <= 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            frontend = Frontend(cfg)
            results = (extract_chunk(chunk, frontend, out) for chunk in chunks)
            for (d, f), chunk in zip(results, chunks):
                done.update(d)
                failures.extend(f)
                bar.update(len(chunk))
        finally:
            torch.set_num_threads(previous)
    else:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(cfg, threads, os.getpid())) as pool:
            futures = [pool.submit(_worker_chunk, chunk, out) for chunk in chunks]
            for future, chunk in zip(futures, chunks):
                d, f = future.result()
                done.update(d)
                failures.extend(f)
                bar.update(len(chunk))
    bar.close()
    return done, failures
