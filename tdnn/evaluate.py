"""Evaluation of a run: clip tasks (batched prediction, accuracy, per-class precision/recall,
confusion matrix, written as JSON, Markdown and PNG) and frame tasks on a TIMIT-layout corpus
(frame accuracy, phone error rate, boundary precision/recall from `tdnn.framemetrics`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import plots
from .atomic import atomic_write_text
from .errors import UserError
from .runs import write_json


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts [true, predicted] of integer labels in 0..n_classes-1."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def metrics_from_confusion(cm: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro recall and per-class precision/recall/support from a confusion matrix.

    Precision of a class never predicted (and recall of a class never present) is None: undefined
    rather than zero, so it does not pretend to be a measured failure.
    """
    cm = np.asarray(cm, dtype=np.int64)
    total = int(cm.sum())
    correct = int(np.trace(cm))
    per_class = {}
    for i, name in enumerate(labels):
        tp, predicted, support = int(cm[i, i]), int(cm[:, i].sum()), int(cm[i].sum())
        per_class[name] = {
            "precision": tp / predicted if predicted else None,
            "recall": tp / support if support else None,
            "support": support,
        }
    recalls = [c["recall"] for c in per_class.values() if c["recall"] is not None]
    return {
        "accuracy": correct / total if total else None,
        "macro_recall": float(np.mean(recalls)) if recalls else None,
        "n": total,
        "correct": correct,
        "labels": list(labels),
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def clip_metrics(y_true, y_pred, labels: list[str]) -> dict:
    """Clip-task metrics for integer labels/predictions indexing `labels`."""
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, len(labels)), labels)


class _Guarded(torch.utils.data.Dataset):
    """Wraps a clip dataset so an unreadable item yields a flag instead of stopping the batch."""

    def __init__(self, base, clip_samples: int):
        self.base, self.clip_samples = base, clip_samples

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        try:
            wave, label = self.base[i]
            return torch.as_tensor(wave, dtype=torch.float32), int(label), ""
        except UserError as e:
            return torch.zeros(self.clip_samples), -1, str(e)


@torch.no_grad()
def predict_dataset(model, frontend, dataset, batch_size: int = 128, device="cpu",
                    clip_samples: int | None = None, progress: bool = False):
    """Class probabilities for every item of a `(wave, label)` dataset (unreadable items are
    stood in for by `clip_samples` zeros; default: one second at the frontend's rate).

    Returns (probs [N, C] float32, targets [N] int64, errors {index: message}); unreadable items
    have target -1, zero probabilities, and their message in `errors`.
    """
    from tqdm import tqdm

    model.eval()
    frontend.eval()
    clip_samples = clip_samples or frontend.cfg.sample_rate
    loader = torch.utils.data.DataLoader(_Guarded(dataset, clip_samples), batch_size=batch_size,
                                         shuffle=False, num_workers=0)
    probs, targets, errors, start = [], [], {}, 0
    for waves, labels, messages in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        errors.update({start + k: msg for k, msg in enumerate(messages) if msg})
        start += len(labels)
        logits = model(frontend(waves.to(device)))
        p = torch.softmax(logits.float(), dim=-1).cpu()
        p[labels < 0] = 0.0
        probs.append(p.numpy())
        targets.append(labels.numpy())
    n_classes = len(getattr(dataset, "labels", [])) or 0
    if not probs:
        return np.zeros((0, n_classes), np.float32), np.zeros(0, np.int64), errors
    return np.concatenate(probs), np.concatenate(targets).astype(np.int64), errors


def evaluate_probs(probs: np.ndarray, targets: np.ndarray, labels: list[str]) -> dict:
    """Clip metrics of argmax predictions, leaving out unreadable items (target -1)."""
    ok = targets >= 0
    return clip_metrics(targets[ok], probs[ok].argmax(axis=1), labels)


def markdown_report(metrics: dict, title: str = "Evaluation") -> str:
    """A short Markdown report: accuracy, per-class precision/recall, confusion matrix table."""
    def pct(x):
        return "–" if x is None else f"{100 * x:.2f}"

    labels = metrics["labels"]
    lines = [f"# {title}", "",
             f"- accuracy: **{pct(metrics['accuracy'])}%** ({metrics['correct']}/{metrics['n']})",
             f"- macro recall: {pct(metrics['macro_recall'])}%"]
    for key, value in metrics.get("extra", {}).items():
        lines.append(f"- {key}: {value}")
    lines += ["", "| class | precision % | recall % | support |", "|---|---:|---:|---:|"]
    for name in labels:
        c = metrics["per_class"][name]
        lines.append(f"| {name} | {pct(c['precision'])} | {pct(c['recall'])} | {c['support']} |")
    lines += ["", "Confusion matrix (rows: true, columns: predicted):", "",
              "| true \\ pred | " + " | ".join(labels) + " |",
              "|---|" + "---:|" * len(labels)]
    for name, row in zip(labels, metrics["confusion"]):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_report(metrics: dict, out_dir: str | Path, title: str = "Evaluation") -> None:
    """Write `metrics.json`, `report.md` and `confusion.png` into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(metrics, out_dir / "metrics.json")
    atomic_write_text(out_dir / "report.md", markdown_report(metrics, title))
    plots.confusion_matrix(np.asarray(metrics["confusion"]), metrics["labels"],
                           out_dir / "confusion.png", title=title)


def speaker_of(path) -> str:
    """Speaker id of a Speech Commands clip name (`<speaker>_nohash_<n>.wav`)."""
    return Path(path).name.split("_nohash_")[0] if path is not None else "(silence)"


def word_of(path) -> str:
    """Word folder of a clip (`<word>/<file>`), or `_silence_` for a generated silence clip."""
    return Path(path).parent.name if path is not None else "_silence_"


def accuracy_by(rows: list[dict], key) -> dict[str, dict]:
    """Accuracy and count per group of prediction rows, grouped by `key(row)`."""
    groups: dict[str, list[bool]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row["label"] == row["predicted"])
    return {name: {"accuracy": float(np.mean(hits)), "n": len(hits)}
            for name, hits in sorted(groups.items())}


def predict_examples(run, examples: list, batch_size: int = 256, device="cpu",
                     progress: bool = False) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Class probabilities [N, C], targets [N] and {index: message} for unreadable clips, of a
    loaded run (or ensemble) on Speech Commands examples (`predict_dataset`)."""
    from .data.speech_commands import ClipDataset

    dataset = ClipDataset(examples, run.labels, run.clip_samples, sample_rate=run.sample_rate)
    return predict_dataset(run.model.to(device), run.frontend.to(device), dataset, batch_size,
                           device, run.clip_samples, progress)


def evaluate_examples(run, examples: list, batch_size: int = 256, device="cpu",
                      progress: bool = False) -> tuple[dict, list[dict], dict[str, str]]:
    """Evaluate a loaded run (`tdnn.runs.Run`) on Speech Commands examples.

    Returns (metrics, rows, errors): clip metrics over the readable clips, one row per readable
    clip (path, label, predicted, probability), and {path: message} for unreadable ones.
    """
    probs, targets, bad = predict_examples(run, examples, batch_size, device, progress)
    metrics = evaluate_probs(probs, targets, run.labels)
    rows = [{"path": str(ex.path) if ex.path else "", "label": run.labels[t],
             "predicted": run.labels[int(p.argmax())], "probability": float(p.max())}
            for ex, t, p in zip(examples, targets, probs) if t >= 0]
    errors = {str(examples[i].path): msg for i, msg in bad.items()}
    return metrics, rows, errors


def bootstrap_interval(rows: list[dict], key, n_boot: int = 2000, seed: int = 0,
                       level: float = 0.95) -> dict:
    """Accuracy of prediction rows with a cluster-bootstrap interval: groups (`key(row)`, e.g.
    speakers or voices) are resampled with replacement, because clips of one voice are correlated
    and a clip-level interval would be too narrow. Returns accuracy, [low, high], n, groups."""
    groups: dict[str, list[bool]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row["label"] == row["predicted"])
    hits = np.array([sum(g) for g in groups.values()], dtype=np.float64)
    counts = np.array([len(g) for g in groups.values()], dtype=np.float64)
    if not len(counts):
        return {"accuracy": None, "interval": None, "n": 0, "groups": 0}
    draws = np.random.default_rng(seed).integers(0, len(counts), size=(n_boot, len(counts)))
    acc = hits[draws].sum(1) / counts[draws].sum(1)
    tail = 100 * (1 - level) / 2
    return {"accuracy": float(hits.sum() / counts.sum()),
            "interval": [float(np.percentile(acc, tail)), float(np.percentile(acc, 100 - tail))],
            "level": level, "n": int(counts.sum()), "groups": len(counts)}


@torch.inference_mode()
def evaluate_frames(run, root: str | Path, split: str = "test"
                    ) -> tuple[dict, list[dict], dict[str, str]]:
    """Evaluate a frame-head run on the utterances of a TIMIT-layout corpus, each scored whole.

    Returns (metrics, rows, errors): frame accuracy, phone error rate and boundary scores over
    the readable utterances (labels: the 39 folded phones, frame i labelled by the phone at
    sample i * hop), one row per utterance, and {path: message} for unreadable ones.
    """
    from . import audio, framemetrics
    from .data import timit

    preds, refs, rows, errors = [], [], [], {}
    for utt in timit.load_utterances(root, split):
        try:
            wave = audio.load(utt.wav, run.sample_rate)
        except UserError as e:
            errors[str(utt.wav)] = str(e)
            continue
        feats = run.frontend(torch.from_numpy(wave)[None])
        pred = run.model(feats)[0].argmax(0).numpy()
        ref = timit.frame_labels(utt.segments, len(pred), run.frontend.hop_length)
        preds.append(pred)
        refs.append(ref)
        rows.append({"path": str(utt.wav), "frames": len(ref),
                     "frame_accuracy": framemetrics.frame_accuracy(pred, ref)})
    metrics = framemetrics.frame_report(preds, refs) if preds else {"frame_accuracy": None}
    return {**metrics, "n_utterances": len(preds), "labels": list(run.labels)}, rows, errors


def frame_markdown(metrics: dict, title: str) -> str:
    """The figures of `evaluate_frames` as a short Markdown report."""
    lines = [f"# {title}", "", f"- utterances: {metrics['n_utterances']}"]
    if metrics["frame_accuracy"] is not None:
        lines += [f"- frame accuracy: {100 * metrics['frame_accuracy']:.2f}%",
                  f"- phone error rate (repeats collapsed): {100 * metrics['per']:.2f}%", "",
                  "| boundaries within | precision % | recall % | F1 % |", "|---|---:|---:|---:|"]
        lines += [f"| ±{k[2:]} frames | {100 * b['precision']:.1f} | {100 * b['recall']:.1f} | "
                  f"{100 * b['f1']:.1f} |" for k, b in metrics["boundary"].items()]
    return "\n".join(lines) + "\n"
