"""Metrics and reports for a model on one split. The same code evaluates Keras and ONNX models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from model_contract import ModelContract, read_contract

ECE_BINS = 15


class Predictor(Protocol):
    @property
    def labels(self) -> tuple[str, ...]: ...

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W) uint8 gray faces -> (N, n_labels) probabilities."""
        ...


@dataclass
class OnnxPredictor:
    session: Any
    contract: ModelContract
    batch_size: int = 512

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

    @classmethod
    def load(cls, path: str | Path) -> OnnxPredictor:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        contract = read_contract(session.get_modelmeta().custom_metadata_map)
        contract.check_io(session.get_inputs()[0].shape, session.get_outputs()[0].shape)
        return cls(session, contract)

    def raw(self, images: np.ndarray) -> np.ndarray:
        name = self.session.get_inputs()[0].name
        outs = [
            self.session.run(None, {name: images[i : i + self.batch_size, ..., None].astype(np.float32)})[0]
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(outs)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.contract.probabilities(self.raw(images))


@dataclass
class KerasPredictor:
    model: Any
    labels: tuple[str, ...]
    batch_size: int = 512

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = images[..., None].astype(np.float32)
        return np.asarray(self.model.predict(x, batch_size=self.batch_size, verbose=0), dtype=np.float64)


def load_predictor(path: str | Path, tta: str = "none") -> Predictor:
    """An ONNX file (labels from its contract) or a .keras file (labels from the run's config.json),
    optionally averaged with the mirror image (``tta="flip"``, Keras only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.suffix == ".onnx":
        if tta != "none":
            raise ValueError("an ONNX model carries its own test-time augmentation (fer-train export --tta)")
        return OnnxPredictor.load(path)
    if path.suffix == ".keras":
        import keras

        from training.model import with_flip_tta
        from training.sources import run_label_names

        model = keras.models.load_model(path, compile=False)
        labels = run_label_names(path.parent, model.output_shape[-1])
        return KerasPredictor(with_flip_tta(model) if tta == "flip" else model, labels)
    raise ValueError(f"{path}: expected a .onnx or .keras model")


def compute_metrics(probs: np.ndarray, y_true: np.ndarray, labels: tuple[str, ...], split: str) -> dict[str, Any]:
    """{split, n, accuracy, macro_f1, ece, per_class, confusion_matrix} for one split."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    n_classes = len(labels)
    y_pred = probs.argmax(axis=1)
    ks = list(range(n_classes))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=ks, zero_division=0)
    return {
        "split": split,
        "n": len(y_true),
        "accuracy": float((y_pred == y_true).mean()),
        "macro_f1": float(np.mean(f1)),
        "ece": expected_calibration_error(probs, y_true),
        "per_class": {
            labels[k]: {
                "precision": float(precision[k]), "recall": float(recall[k]),
                "f1": float(f1[k]), "support": int(support[k]),
            }
            for k in ks
        },
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ks).tolist(),
    }


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE with equal-width confidence bins: sum over bins of |accuracy - confidence| x bin share."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def report_text(metrics: dict[str, Any]) -> str:
    lines = [
        f"split: {metrics['split']}  n={metrics['n']}  accuracy={metrics['accuracy']:.4f}  "
        f"macro_f1={metrics['macro_f1']:.4f}  ece={metrics['ece']:.4f}",
        "",
        f"{'class':>12} {'precision':>10} {'recall':>10} {'f1':>10} {'support':>10}",
    ]
    for label, row in metrics["per_class"].items():
        lines.append(
            f"{label:>12} {row['precision']:>10.4f} {row['recall']:>10.4f} {row['f1']:>10.4f} {row['support']:>10d}"
        )
    return "\n".join(lines) + "\n"


def write_report(metrics: dict[str, Any], report_dir: Path, plots_dir: Path,
                 probs: np.ndarray | None = None, y_true: np.ndarray | None = None) -> None:
    """classification_report.txt in report_dir; confusion_matrix.png (+ reliability.png) in plots_dir."""
    from training import plots

    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "classification_report.txt").write_text(report_text(metrics))
    plots.save(plots.confusion_matrix(metrics), plots_dir / "confusion_matrix.png")
    if probs is not None and y_true is not None:
        plots.save(plots.reliability_diagram({"model": (probs, y_true)}, ECE_BINS), plots_dir / "reliability.png")
