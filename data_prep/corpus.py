"""The corpus build loop every `tdnn prepare` builder shares: plan, write, collect, mark done.

`begin` removes what an earlier build recorded (and only that: never files the program did not
make) and records the new plan; workers make items with `attempt` (a failed item is reported
and the rest still built; a full disk stops the build instead of leaving empty clips); `collect`
gathers their manifest rows and failures under one progress bar; `write_csv` writes the
manifest and `finish` marks the corpus complete (see `tdnn.data.corpus`). Files are written
atomically, so an interrupted build is simply run again.
"""

from __future__ import annotations

import csv
import errno
import io
import json
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from tdnn.atomic import atomic_write_bytes, atomic_write_text
from tdnn.data.corpus import DONE, PLAN
from tdnn.workers import stop_if_orphaned


def previous_files(out: Path) -> list[str]:
    """Files an earlier build in `out` wrote: its plan, else the `file` column of its manifest."""
    if (out / PLAN).is_file():
        try:
            return list(json.loads((out / PLAN).read_text())["files"])
        except (ValueError, KeyError, TypeError):
            return []
    manifest = out / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as fh:
            return [row["file"] for row in csv.DictReader(fh) if row.get("file")]
    return []


def remove_previous(out: Path) -> int:
    """Delete the files an earlier build recorded (and folders they leave empty); return count."""
    removed = 0
    root = out.resolve()
    for rel in previous_files(out):
        path = out / rel
        if not path.resolve().is_relative_to(root):
            continue  # a plan never names files outside its corpus; ignore a tampered one
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed += 1
        for parent in path.parents:
            if parent == out or not parent.is_relative_to(out):
                break
            try:
                parent.rmdir()
            except OSError:
                break
    return removed


def begin(out: Path, files: list[str]) -> None:
    """Start a build in `out`: drop the done marker and earlier outputs, record the plan."""
    out.mkdir(parents=True, exist_ok=True)
    (out / DONE).unlink(missing_ok=True)
    remove_previous(out)
    atomic_write_text(out / PLAN, json.dumps({"files": sorted(files)}, indent=0) + "\n")


def finish(out: Path) -> None:
    """Mark the corpus in `out` complete (written last)."""
    atomic_write_text(out / DONE, "tdnn prepare finished\n")


def write_wav(path: Path, wave, sample_rate: int) -> None:
    """Write a 16-bit PCM WAV completely or not at all (encoded in memory: a write error inside
    libsndfile's callbacks would be swallowed). A worker whose parent died stops here."""
    stop_if_orphaned()
    buf = io.BytesIO()
    sf.write(buf, wave, sample_rate, subtype="PCM_16", format="WAV")
    data = buf.getvalue()
    atomic_write_bytes(path, lambda f: f.write(data), durable=False)


def attempt(rel: str, make, rows: list[dict], failures: list[tuple[str, str]]) -> None:
    """Append `make()`'s manifest row to `rows`; if it raises, append (rel, reason) to
    `failures` and go on, except for errors that stop the whole build (`fatal`)."""
    try:
        rows.append(make())
    except Exception as e:  # noqa: BLE001 - report the item, keep building the rest
        if fatal(e):
            raise
        failures.append((rel, f"{type(e).__name__}: {e}"))


def collect(results, total: int, desc: str, unit: str = "clip", progress: bool = True
            ) -> tuple[list[dict], list[tuple[str, str]]]:
    """All manifest rows and failures of the (rows, failures) pairs that `results` (the
    workers, e.g. `espeak.map_processes`) yields, with a progress bar of `total` items."""
    rows, failures = [], []
    with tqdm(total=total, unit=unit, disable=not progress, desc=desc) as bar:
        for r, f in results:
            rows += r
            failures += f
            bar.update(len(r) + len(f))
    return rows, failures


def speaker_died(task) -> tuple[list[dict], list[tuple[str, str]]]:
    """The (rows, failures) of a speaker task whose worker process died (`map_processes`'s
    `crashed`): no rows, one failure naming the speaker; the other speakers are built."""
    return [], [(f"speaker {task.speaker.id}", "its worker process died (libespeak-ng "
                 "crashed); its clips are left out, the other speakers are built")]


def write_csv(path: Path, fields: list[str] | None, rows: list[dict]) -> None:
    """Write a CSV file atomically: a header of `fields` (None: the first row's keys) and the
    rows; an empty file when there are neither fields nor rows."""
    if fields is None and not rows:
        atomic_write_text(path, "")
        return
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(fields if fields is not None else rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def fatal(error: Exception) -> bool:
    """True for errors that stop the whole build (full disk, read-only or vanished folder)."""
    return isinstance(error, OSError) and error.errno in (
        errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT)
