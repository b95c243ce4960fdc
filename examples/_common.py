"""Shared bits of the example scripts: the `--out` option, figure saving, claim checking."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "out"


def parse_args(description: str) -> argparse.Namespace:
    """`--out DIR` (where the figures go) and `--seed N`; one torch thread (examples are small)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the figures")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    return args


def save(fig: plt.Figure, out: Path, name: str) -> Path:
    """Write `fig` as out/name.png (small, for the docs) and close it."""
    path = out / f"{name}.png"
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")
    return path


def check(claim: str, ok: bool, detail: str = "") -> None:
    """Print a claim with its evidence and stop the script (exit 1) if it does not hold."""
    print(f"[{'ok' if ok else 'FAILED'}] {claim}" + (f" ({detail})" if detail else ""))
    if not ok:
        raise SystemExit(f"claim failed: {claim}")
