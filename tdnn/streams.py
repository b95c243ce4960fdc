"""Keyword-spotting evaluation on long streams: reference lists, hits, false alarms per hour and
the detection-error trade-off (DET) curve.

A reference event is a keyword spoken at a known time `[start, end]` (seconds) in a stream. A
detection `(time, label, score)` is a hit when it has the event's label and falls in
`[start, end + tolerance]` (a detector fires once it has heard the word, so after its start and
at most `tolerance` after its end); each event is hit at most once, and every detection that hits
no event is a false alarm (a repeat on an already-hit event included).

Operating points: per-keyword thresholds chosen for a false-alarm budget (an equal share per
keyword, `choose_thresholds`, or the budget pooled over keywords, `pooled_thresholds`),
with confidence intervals for the miss rate (exact Clopper-Pearson over keywords, and a bootstrap
over streams, whose keywords share voices, noise and room) and the false-alarm rate (exact
Poisson), and the hours of negative audio (outside every keyword's window) behind the rate.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LayoutError, UserError

REFERENCE = "reference.csv"
REF_FIELDS = ["file", "label", "start", "end"]
BOOTSTRAP = 2000  # resamples of the streams behind a stream-level miss interval


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
    """Write events as `file,label,start,end` CSV rows (atomically)."""
    from .atomic import atomic_write_text
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(REF_FIELDS)
    for e in events:
        w.writerow([e.file, e.label, f"{e.start:.4f}", f"{e.end:.4f}"])
    atomic_write_text(path, buf.getvalue())


def read_reference(path: str | Path) -> list[Event]:
    """Read a reference CSV written by `write_reference`; LayoutError if it is malformed."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: reference list not found; build streams with "
                          "`tdnn prepare kws-streams` or write file,label,start,end rows")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return [Event(r["file"], r["label"], float(r["start"]), float(r["end"])) for r in rows]
    except (KeyError, TypeError, ValueError):
        raise LayoutError(f"{path}: expected a CSV with columns {','.join(REF_FIELDS)}") from None


def write_thresholds(path: str | Path, budgets: dict[str, dict[str, float]], refractory: float,
                     default: str, chosen_on: str, negative_hours: float,
                     patience: float = 0.0) -> None:
    """Write per-keyword thresholds for each false-alarm budget (a thresholds file), with the
    refractory time and patience (seconds) they were chosen with."""
    from .atomic import atomic_write_text
    doc = {"chosen_on": chosen_on, "negative_hours": negative_hours, "refractory": refractory,
           "patience": patience, "default_fa_per_hour": default, "fa_per_hour": budgets}
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def read_thresholds(path: str | Path, fa_per_hour: float | None = None
                    ) -> tuple[dict[str, dict[str, float]], str, float, float]:
    """A thresholds file: ({budget: {keyword: threshold}}, the budget to use, its refractory
    time, its patience; 0 in files from before patience). `fa_per_hour` picks a budget (else
    the file's default); UserError naming the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        budgets = {str(b): {k: float(v) for k, v in ths.items()}
                   for b, ths in doc["fa_per_hour"].items()}
        use, refractory = str(doc["default_fa_per_hour"]), float(doc["refractory"])
        patience = float(doc.get("patience", 0.0))
        if patience < 0:
            raise ValueError(patience)
    except FileNotFoundError:
        raise UserError(f"{path}: thresholds file not found; write one with "
                        "`tdnn stream RUN --eval DEV --out DIR` (DIR/thresholds.json)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"{path}: not a thresholds file written by "
                        "`tdnn stream --eval`") from None
    if fa_per_hour is not None:
        use = f"{fa_per_hour:g}"
        if use not in budgets:
            raise UserError(f"budget {fa_per_hour:g} false alarms per hour: {path} has "
                            f"thresholds for {', '.join(budgets)} false alarms per hour only")
    return budgets, use, refractory, patience


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


def assign(detections: list[Detection], events: list[Event], tolerance: float = 1.0
           ) -> tuple[list[Detection | None], list[Detection]]:
    """The detection that hits each of one stream's events (None: missed), and the detections
    that hit none (false alarms).

    Detections are taken in time order; each takes the earliest-starting unhit event of its
    label whose window `[start, end + tolerance]` contains it."""
    hit: list[Detection | None] = [None] * len(events)
    order = sorted(range(len(events)), key=lambda i: events[i].start)
    false_alarms = []
    for d in sorted(detections, key=lambda d: d.time):
        for i in order:
            e = events[i]
            if hit[i] is None and e.label == d.label and e.start <= d.time <= e.end + tolerance:
                hit[i] = d
                break
        else:
            false_alarms.append(d)
    return hit, false_alarms


def match(detections: list[Detection], events: list[Event], tolerance: float = 1.0
          ) -> tuple[int, int]:
    """(hits, false alarms) of one stream's detections against its events (`assign`)."""
    hit, false_alarms = assign(detections, events, tolerance)
    return sum(d is not None for d in hit), len(false_alarms)


def latencies(detections: dict[str, list[Detection]], events: list[Event],
              tolerance: float = 1.0) -> list[float]:
    """Seconds from each hit keyword's end to the detection that hits it (negative: before its
    end), over streams keyed by file name: how long a user waits for the spotter."""
    out = []
    for name, own in sorted(events_by_file(events).items()):
        hit, _ = assign(detections.get(name, []), own, tolerance)
        out += [d.time - e.end for d, e in zip(hit, own) if d is not None]
    return out


def events_by_file(events: list[Event]) -> dict[str, list[Event]]:
    """The reference events of each stream file, in their order."""
    by_file: dict[str, list[Event]] = {}
    for e in events:
        by_file.setdefault(e.file, []).append(e)
    return by_file


def score(detections: dict[str, list[Detection]], events: list[Event], seconds: float,
          tolerance: float = 1.0) -> Score:
    """Hits, misses and false alarms over streams (`detections` keyed by stream file name)."""
    by_file = events_by_file(events)
    hits = fas = 0
    for name in set(by_file) | set(detections):
        h, f = match(detections.get(name, []), by_file.get(name, []), tolerance)
        hits, fas = hits + h, fas + f
    return Score(hits, len(events) - hits, fas, seconds / 3600.0)


def count_by_label(detections: dict[str, list[Detection]], events: list[Event],
                   tolerance: float = 1.0) -> dict[str, tuple[int, int, int]]:
    """(hits, events, false alarms) per keyword label over streams keyed by file name."""
    labels = sorted({e.label for e in events} | {d.label for ds in detections.values() for d in ds})
    out = {}
    for lab in labels:
        ev = [e for e in events if e.label == lab]
        det = {n: [d for d in ds if d.label == lab] for n, ds in detections.items()}
        s = score(det, ev, 0.0, tolerance)
        out[lab] = (s.hits, len(ev), s.false_alarms)
    return out


def negative_seconds(events: list[Event], durations: dict[str, float],
                     tolerance: float = 1.0) -> float:
    """Seconds of audio outside every keyword's window `[start, end + tolerance]`: the audio
    where any detection is a false alarm, which is what a false-alarm rate stands on."""
    total = 0.0
    for name, length in durations.items():
        spans = sorted((max(0.0, e.start), min(length, e.end + tolerance))
                       for e in events if e.file == name)
        covered, reach = 0.0, 0.0
        for a, b in spans:
            a = max(a, reach)
            if b > a:
                covered, reach = covered + b - a, b
        total += length - covered
    return total


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a proportion of `k` out of `n`."""
    from scipy.stats import beta
    if n == 0:
        return 0.0, 1.0
    a = 1.0 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion of `k` out of `n`."""
    from scipy.stats import norm
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def poisson_rate(k: int, hours: float, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a rate per hour from `k` events in `hours`."""
    from scipy.stats import chi2
    if hours <= 0:
        return 0.0, float("inf")
    a = 1.0 - confidence
    lo = 0.0 if k == 0 else float(chi2.ppf(a / 2, 2 * k)) / 2
    hi = float(chi2.ppf(1 - a / 2, 2 * k + 2)) / 2
    return lo / hours, hi / hours


def stream_bootstrap(misses: list[int], counts: list[int], confidence: float = 0.95,
                     resamples: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the miss rate with whole streams resampled with replacement:
    the keywords of one stream share its voices, noise and room, so they are not independent
    and an interval over keywords (Clopper-Pearson) is too narrow."""
    m, n = np.asarray(misses, dtype=float), np.asarray(counts, dtype=float)
    if not n.sum():
        return 0.0, 1.0
    pick = np.random.default_rng(seed).integers(0, len(n), size=(resamples, len(n)))
    rates = m[pick].sum(1) / np.maximum(n[pick].sum(1), 1.0)
    a = 1.0 - confidence
    return float(np.quantile(rates, a / 2)), float(np.quantile(rates, 1 - a / 2))


def misses_by_stream(detections: dict[str, list[Detection]], events: list[Event],
                     tolerance: float = 1.0) -> tuple[list[int], list[int]]:
    """(misses, keywords) of each stream that holds keywords, in file-name order."""
    by_file = events_by_file(events)
    misses, counts = [], []
    for name, own in sorted(by_file.items()):
        hits, _ = match(detections.get(name, []), own, tolerance)
        misses.append(len(own) - hits)
        counts.append(len(own))
    return misses, counts


def operating_point(detections: dict[str, list[Detection]], events: list[Event],
                    negative_s: float, tolerance: float = 1.0, confidence: float = 0.95) -> dict:
    """Misses and false alarms of one set of detections, with intervals: miss rate
    (Clopper-Pearson over keywords, and a bootstrap over streams) and false alarms per hour of
    negative audio (exact Poisson); the median and 90th percentile of the hits' latency."""
    s = score(detections, events, negative_s, tolerance)
    n = s.hits + s.misses
    hours = negative_s / 3600.0
    per = count_by_label(detections, events, tolerance)
    wait = latencies(detections, events, tolerance)
    return {"keywords": n, "misses": s.misses, "miss_rate": s.miss_rate,
            "miss_ci": list(clopper_pearson(s.misses, n, confidence)),
            "miss_ci_streams": list(stream_bootstrap(
                *misses_by_stream(detections, events, tolerance), confidence)),
            "false_alarms": s.false_alarms, "negative_hours": hours,
            "fa_per_hour": s.false_alarms / hours if hours else 0.0,
            "fa_per_hour_ci": list(poisson_rate(s.false_alarms, hours, confidence)),
            "latency_s": ({"median": float(np.median(wait)),
                           "p90": float(np.percentile(wait, 90))} if wait else None),
            "per_keyword": {lab: {"hits": h, "keywords": e, "false_alarms": f}
                            for lab, (h, e, f) in per.items()}}


def det_points(scores: list[tuple[float, Score]]) -> dict:
    """Threshold sweep as lists (threshold, miss rate, false alarms per hour) for JSON/plots,
    keeping of each run of equal (misses, false alarms) its highest threshold: the same curve
    without the repeats a fine grid makes."""
    counts = [(s.misses, s.false_alarms) for _, s in scores]
    kept = [ts for i, ts in enumerate(scores)
            if i + 1 == len(scores) or counts[i] != counts[i + 1]]
    return {"threshold": [t for t, _ in kept],
            "miss_rate": [s.miss_rate for _, s in kept],
            "fa_per_hour": [s.fa_per_hour for _, s in kept]}


def plot_det(curves: dict[str, dict], path: str | Path,
             title: str = "Keyword spotting on streams",
             points: dict[str, tuple[float, float]] | None = None) -> None:
    """Save DET curves (miss rate against false alarms per hour), one per name, as a PNG, with
    `points` (name -> (FA per hour, miss rate)) marked: the operating points of a threshold
    file."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, curve in curves.items():
        fa = np.asarray(curve["fa_per_hour"], dtype=float)
        miss = np.asarray(curve["miss_rate"], dtype=float)
        ax.plot(fa, 100 * miss, marker=".", label=name)
    for name, (fa, miss) in (points or {}).items():
        ax.plot([fa], [100 * miss], marker="o", linestyle="none", markersize=7,
                markerfacecolor="none", markeredgewidth=1.5)
        ax.annotate(name, (fa, 100 * miss), textcoords="offset points", xytext=(5, 5),
                    fontsize="small")
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


# ---------------------------------------------------------------- thresholds for a budget

# Thresholds tried when choosing operating points and sweeping the DET: steps of 0.001, then
# ever closer to 1 (a trained model's false alarms often score above 0.999). A budget of 1 FA/h
# sets each keyword's threshold just above its highest-scoring negatives (0.81-0.97 for the
# dev runs of 2026-12-07); steps of 0.02 there cost 1-3 points of misses on dev
# (docs/benchmarks.md, "A finer threshold grid").
THRESHOLDS = np.unique(np.round(np.concatenate(
    [np.linspace(0.001, 0.999, 999), 1.0 - np.logspace(-3, -6, 25)]), 9))

# Per stream file, per keyword: (times, probabilities) of the frames where that keyword is the
# most probable keyword class -- everything a `Detector` looks at.
Candidates = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]


def keyword_candidates(times: np.ndarray, probs: np.ndarray, labels: list[str],
                       keywords: list[int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split one stream's score track (times [n], probs [n, C]) by most probable keyword."""
    if not len(times):
        return {labels[k]: (np.zeros(0), np.zeros(0)) for k in keywords}
    kw = probs[:, keywords]
    best = kw.argmax(axis=1)
    best_p = kw[np.arange(len(kw)), best]
    return {labels[k]: (times[best == j], best_p[best == j]) for j, k in enumerate(keywords)}


def refractory_fire(t: np.ndarray, refractory: float) -> list[int]:
    """Indices of the sorted times `t` that fire when each firing silences the next
    `refractory` seconds (the `Detector` rule `t - last >= refractory`)."""
    out, i, n = [], 0, len(t)
    while i < n:
        out.append(i)
        j = int(np.searchsorted(t, t[i] + refractory, side="left"))
        while j < n and t[j] - t[i] < refractory:
            j += 1
        while j > i + 1 and t[j - 1] - t[i] >= refractory:
            j -= 1
        i = max(j, i + 1)
    return out


def detections_at(cands: Candidates, thresholds: dict[str, float], refractory: float
                  ) -> dict[str, list[Detection]]:
    """The detections a `Detector` with these per-keyword thresholds makes on every stream."""
    out = {}
    for name, by_kw in cands.items():
        dets = []
        for lab, th in thresholds.items():
            t, p = by_kw.get(lab, (np.zeros(0), np.zeros(0)))
            keep = p >= th
            tk, pk = t[keep], p[keep]
            dets += [Detection(float(tk[i]), lab, float(pk[i])) for i in refractory_fire(tk, refractory)]
        out[name] = sorted(dets, key=lambda d: d.time)
    return out


def choose_thresholds(cands: Candidates, events: list[Event], negative_s: float,
                      fa_per_hour: float, refractory: float = 1.0, tolerance: float = 1.0,
                      grid: np.ndarray = THRESHOLDS) -> dict[str, float]:
    """Per-keyword thresholds for a budget of `fa_per_hour` false alarms per hour of negative
    audio, all keywords together: each keyword gets an equal share and the lowest grid threshold
    from which up its false alarms stay within that share (1.0 when none does)."""
    labels = sorted({lab for by_kw in cands.values() for lab in by_kw})
    allowed = fa_per_hour / max(1, len(labels)) * negative_s / 3600.0
    chosen = {}
    for lab in labels:
        ev = [e for e in events if e.label == lab]
        chosen[lab] = 1.0
        for th in sorted(grid, reverse=True):
            _, fas = _counts(detections_at(cands, {lab: float(th)}, refractory), ev, tolerance)
            if fas > allowed:
                break
            chosen[lab] = float(th)
    return chosen


def pooled_thresholds(cands: Candidates, events: list[Event], negative_s: float,
                      fa_per_hour: float, refractory: float = 1.0, tolerance: float = 1.0,
                      grid: np.ndarray = THRESHOLDS) -> dict[str, float]:
    """Per-keyword thresholds for a budget of `fa_per_hour` false alarms per hour of negative
    audio, the budget pooled over keywords: the thresholds that hit the most keywords with all
    their false alarms together within it (exact, by dynamic programming over the keywords;
    ties go to the higher threshold). An equal share per keyword (`choose_thresholds`) rounds
    each share down: at 1 FA/h on 6 h and ten keywords, no keyword may make a single one."""
    labels = sorted({lab for by_kw in cands.values() for lab in by_kw})
    budget = int(np.floor(fa_per_hour * negative_s / 3600.0 + 1e-9))
    best = [(0, {})] * (budget + 1)  # FAs allowed so far -> (hits, thresholds) of the best
    for lab in labels:
        ev = [e for e in events if e.label == lab]
        options = [(0, 0, 1.0)]  # (false alarms, hits, threshold), thresholds falling
        for th in sorted(grid, reverse=True):
            hits, fas = _counts(detections_at(cands, {lab: float(th)}, refractory), ev, tolerance)
            if fas > budget:
                break
            options.append((fas, hits, float(th)))
        new = []
        for b in range(budget + 1):
            pick = max(((best[b - f][0] + h, -k) for k, (f, h, _) in enumerate(options)
                        if f <= b))
            f, _, th = options[-pick[1]]
            new.append((pick[0], {**best[b - f][1], lab: th}))
        best = new
    return best[budget][1]


def _counts(detections: dict[str, list[Detection]], events: list[Event], tolerance: float
            ) -> tuple[int, int]:
    """(hits, false alarms) over streams."""
    s = score(detections, events, 0.0, tolerance)
    return s.hits, s.false_alarms


def det_sweep(cands: Candidates, events: list[Event], seconds: float, refractory: float = 1.0,
              tolerance: float = 1.0, grid: np.ndarray = THRESHOLDS,
              max_fa_per_hour: float = 300.0) -> list[tuple[float, Score]]:
    """(threshold, Score) for one threshold shared by every keyword, in grid order, from the
    highest threshold down until false alarms pass `max_fa_per_hour` (and 100 in all): lower
    thresholds only add false alarms, and cost the most to count."""
    labels = sorted({lab for by_kw in cands.values() for lab in by_kw})
    out = []
    for th in sorted(grid, reverse=True):
        s = score(detections_at(cands, dict.fromkeys(labels, float(th)), refractory), events,
                  seconds, tolerance)
        out.append((float(th), s))
        if s.false_alarms > max(100, max_fa_per_hour * seconds / 3600.0):
            break
    return out[::-1]
