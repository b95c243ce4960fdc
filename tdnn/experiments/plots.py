"""PNG plots of the pooling ablation: accuracy vs pooling width, boundary posteriors, jitter,
and minimal-pair confusion."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _color(i: int, n: int):
    """Distinct colours for up to 20 lines (matplotlib's 10-colour cycle repeats)."""
    return plt.get_cmap("tab10" if n <= 10 else "tab20")(i % 20)


def metric_vs_width(rows: Sequence, families: dict[str, dict[int, str]], metric: str,
                    path: str | Path, reference: str = "none", scale: float = 100.0,
                    ylabel: str = "accuracy (%)") -> None:
    """One panel per (task, condition): `metric` mean ± std over seeds against pooling width.

    `rows` are `table.Row`s; `families` maps a line label (e.g. 'max, early') to
    {width: variant name}. The reference is drawn at width 1 of every line (no pooling).
    """
    panels = list(dict.fromkeys((r.task, r.condition) for r in rows if r.metric == metric))
    if not panels:
        return
    stats = {(r.task, r.condition, r.variant): (r.mean * scale, np.nan_to_num(r.std) * scale)
             for r in rows if r.metric == metric}
    cols = min(3, len(panels))
    n_rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.2 * cols, 3.4 * n_rows), squeeze=False)
    for ax, (task, cond) in zip(axes.flat, panels):
        ref = stats.get((task, cond, reference))
        for label, widths in families.items():
            xs, ms, ss = [], [], []
            if ref:
                xs, ms, ss = [1], [ref[0]], [ref[1]]
            for w, name in sorted(widths.items()):
                if (task, cond, name) in stats:
                    m, s = stats[(task, cond, name)]
                    xs.append(w)
                    ms.append(m)
                    ss.append(s)
            if len(xs) > (1 if ref else 0):
                ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, label=label)
        ax.set(title=f"{task} ({cond})", xlabel="pooling width or stride (1 = none)", ylabel=ylabel)
        ax.set_xticks(range(1, 5))
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def boundary_curves(curves: dict[str, dict], path: str | Path,
                    title: str = "phone posteriors around a boundary") -> None:
    """Mean posterior of the left and right phone against frame offset, one colour per variant.

    `curves` maps a variant to a `probes.boundary_posteriors` result (offsets, left, right).
    """
    fig, ax = plt.subplots(figsize=(8.6, 4))
    for i, (name, c) in enumerate(curves.items()):
        color = _color(i, len(curves))
        ax.plot(c["offsets"], c["left"], "-", color=color, label=f"{name}: left phone")
        ax.plot(c["offsets"], c["right"], "--", color=color, label=f"{name}: right phone")
    ax.axvline(-0.5, color="k", lw=0.8)
    ax.set(xlabel="frame offset from the reference boundary", ylabel="mean posterior",
           title=title, ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def jitter_curves(curves: dict[str, dict[int, float]], path: str | Path,
                  ylabel: str = "predictions changed (%)", title: str = "jitter probe") -> None:
    """Prediction change against segment shift in frames, one line per variant."""
    fig, ax = plt.subplots(figsize=(8.6, 4))
    for i, (name, by_shift) in enumerate(curves.items()):
        shifts = sorted(by_shift)
        ax.plot(shifts, [100 * by_shift[k] for k in shifts], "os^vD"[i % 5] + "-",
                color=_color(i, len(curves)), label=name)
    ax.set(xlabel="shift of one phone segment (frames)", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pair_confusions(confusions: dict[str, np.ndarray], words: Sequence[str], path: str | Path,
                    title: str = "minimal-pair confusion") -> None:
    """Row-normalised confusion among minimal-pair words, one panel per variant."""
    n = len(confusions)
    cols = min(2, n)
    rows = -(-n // cols)
    size = max(3.5, 0.16 * len(words) + 1.5)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, cm) in zip(axes.flat, confusions.items()):
        cm = np.asarray(cm, float)
        rows = cm.sum(1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(words)), words, rotation=90, fontsize=6)
        ax.set_yticks(range(len(words)), words, fontsize=6)
        ax.set(title=name, xlabel="predicted", ylabel="true")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
