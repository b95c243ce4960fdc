"""PNG plots written by training and evaluation: learning curves and confusion matrices."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def training_curves(history: list[dict], path: str | Path, title: str = "training") -> None:
    """Loss and accuracy per epoch (train vs validation, when the run had validation data) from
    `metrics.json` history rows."""
    epochs = [h["epoch"] for h in history]
    val = [h for h in history if h["val_loss"] is not None]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * h["train_accuracy"] for h in history], "o-", label="train")
    if val:
        ax_loss.plot([h["epoch"] for h in val], [h["val_loss"] for h in val], "o-",
                     label="validation")
        ax_acc.plot([h["epoch"] for h in val], [100 * h["val_accuracy"] for h in val], "o-",
                    label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix(cm: np.ndarray, labels: list[str], path: str | Path,
                     title: str = "confusion matrix") -> None:
    """Row-normalised confusion matrix (true rows, predicted columns) with counts in the cells."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if len(labels) <= 20:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
