"""Pure figure functions (data in, matplotlib Figure out) and one ``save``. No training logic here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def class_distribution(counts: dict[str, list[int]], labels: tuple[str, ...]) -> Figure:
    """Stacked bars: rows per class, split by Usage (the notebook's class-imbalance plot)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottom = np.zeros(len(labels))
    for split in ("Training", "PublicTest", "PrivateTest"):
        values = np.asarray(counts[split], dtype=float)
        ax.bar(labels, values, bottom=bottom, label=split)
        bottom += values
    for i, total in enumerate(bottom):
        ax.text(i, total, f"{int(total):,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("images")
    ax.set_title("FER2013: images per emotion")
    ax.legend()
    return fig


def samples(images: np.ndarray, labels: np.ndarray, names: tuple[str, ...], per_class: int = 5,
            seed: int = 0) -> Figure:
    """A grid of ``per_class`` faces for every emotion, one row per emotion, titled by label."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(names), per_class, figsize=(per_class * 1.4, len(names) * 1.55), squeeze=False)
    for k, name in enumerate(names):
        members = np.flatnonzero(labels == k)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for j in range(per_class):
            ax = axes[k, j]
            ax.axis("off")
            if j < len(chosen):
                ax.imshow(images[chosen[j]], cmap="gray", vmin=0, vmax=255)
                ax.set_title(name, fontsize=8)
    fig.tight_layout()
    return fig


def curve(history: dict[str, list[float]], metric: str) -> Figure:
    """Train vs validation curve of one metric per epoch (the notebook's accuracy and loss plots)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    epochs = np.arange(1, len(history.get(metric, [])) + 1)
    ax.plot(epochs, history.get(metric, []), label=f"train {metric}")
    if f"val_{metric}" in history:
        ax.plot(epochs, history[f"val_{metric}"], label=f"validation {metric}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"{metric} per epoch")
    return fig


def confusion_matrix(metrics: dict[str, Any]) -> Figure:
    """Heatmap of the confusion matrix, row-normalised colours, counts and row % in each cell."""
    cm = np.asarray(metrics["confusion_matrix"], dtype=float)
    labels = metrics["labels"]
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2, 1.1 * len(labels) + 1))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, f"{int(cm[i, j])}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{metrics['split']}: accuracy {metrics['accuracy']:.2%}, macro-F1 {metrics['macro_f1']:.3f}")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return fig


def reliability_diagram(curves: dict[str, tuple[np.ndarray, np.ndarray]], bins: int = 15) -> Figure:
    """Accuracy vs confidence per bin for one or more (probabilities, true labels) pairs."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    edges = np.linspace(0, 1, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    for name, (probs, y_true) in curves.items():
        conf = probs.max(axis=1)
        correct = probs.argmax(axis=1) == y_true
        which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
        acc = [correct[which == b].mean() if (which == b).any() else np.nan for b in range(bins)]
        ax.plot(centres, acc, "o-", label=name)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("reliability diagram")
    return fig
