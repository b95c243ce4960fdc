"""Keyword-spotting evaluation on long streams: reference lists, hits, false alarms per hour and
the detection-error trade-off (DET) curve.

A reference event is a keyword spoken at a known time `[start, end]` (seconds) in a stream. A
detection `(time, label, score)` is a hit when it has the event's label and falls in
`[start, end + tolerance]` (a detector fires once it has heard the word, so after its start and
at most `tolerance` after its end); each event is hit at most once, and every detection that hits
no event is a false alarm (a repeat on an already-hit event included).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LayoutError

REFERENCE = "reference.csv"
REF_FIELDS = ["file", "label", "start", "end"]


@dataclass(frozen=True)
class Event:
    """A keyword known to be spoken in `file` from `start` to `end` seconds."""

    file: str
    label: str
    start: float
    end: float


@dataclass(frozen=True)
class Detection:
    """The detector's claim that `label` was spoken, fired at `time` seconds with `score`."""

    time: float
    label: str
    score: float


def write_reference(events: list[Event], path: str | Path) -> None:
    """Write events as `file,label,start,end` CSV rows."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(REF_FIELDS)
        for e in events:
            w.writerow([e.file, e.label, f"{e.start:.4f}", f"{e.end:.4f}"])


def read_reference(path: str | Path) -> list[Event]:
    """Read a reference CSV written by `write_reference`; LayoutError if it is malformed."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: reference list not found; build streams with "
                          "`python -m data_prep.synth_streams` or write file,label,start,end rows")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return [Event(r["file"], r["label"], float(r["start"]), float(r["end"])) for r in rows]
    except (KeyError, TypeError, ValueError):
        raise LayoutError(f"{path}: expected a CSV with columns {','.join(REF_FIELDS)}") from None


@dataclass
class Score:
    """Counts for one threshold over a set of streams."""

    hits: int
    misses: int
    false_alarms: int
    hours: float

    @property
    def miss_rate(self) -> float:
        """Share of reference events not detected."""
        total = self.hits + self.misses
        return self.misses / total if total else 0.0

    @property
    def fa_per_hour(self) -> float:
        """False alarms per hour of audio."""
        return self.false_alarms / self.hours if self.hours else 0.0

    def as_dict(self) -> dict:
        """Counts and rates, for metrics.json."""
        return {"hits": self.hits, "misses": self.misses, "false_alarms": self.false_alarms,
                "hours": self.hours, "miss_rate": self.miss_rate,
                "hit_rate": 1.0 - self.miss_rate, "fa_per_hour": self.fa_per_hour}


def match(detections: list[Detection], events: list[Event], tolerance: float = 1.0
          ) -> tuple[int, int]:
    """(hits, false alarms) of one stream's detections against its events.

    Detections are taken in time order; each takes the earliest-starting unhit event of its
    label whose window `[start, end + tolerance]` contains it."""
    hit = [False] * len(events)
    order = sorted(range(len(events)), key=lambda i: events[i].start)
    false_alarms = 0
    for d in sorted(detections, key=lambda d: d.time):
        for i in order:
            e = events[i]
            if not hit[i] and e.label == d.label and e.start <= d.time <= e.end + tolerance:
                hit[i] = True
                break
        else:
            false_alarms += 1
    return sum(hit), false_alarms


def score(detections: dict[str, list[Detection]], events: list[Event], seconds: float,
          tolerance: float = 1.0) -> Score:
    """Hits, misses and false alarms over streams (`detections` keyed by stream file name)."""
    by_file: dict[str, list[Event]] = {}
    for e in events:
        by_file.setdefault(e.file, []).append(e)
    hits = fas = 0
    for name in set(by_file) | set(detections):
        h, f = match(detections.get(name, []), by_file.get(name, []), tolerance)
        hits, fas = hits + h, fas + f
    return Score(hits, len(events) - hits, fas, seconds / 3600.0)


def det_points(scores: list[tuple[float, Score]]) -> dict:
    """Threshold sweep as lists (threshold, miss rate, false alarms per hour) for JSON/plots."""
    return {"threshold": [t for t, _ in scores],
            "miss_rate": [s.miss_rate for _, s in scores],
            "fa_per_hour": [s.fa_per_hour for _, s in scores]}


def plot_det(curves: dict[str, dict], path: str | Path,
             title: str = "Keyword spotting on streams") -> None:
    """Save DET curves (miss rate against false alarms per hour), one per name, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, points in curves.items():
        fa = np.asarray(points["fa_per_hour"], dtype=float)
        miss = np.asarray(points["miss_rate"], dtype=float)
        ax.plot(fa, 100 * miss, marker=".", label=name)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("false alarms per hour")
    ax.set_ylabel("miss rate (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
