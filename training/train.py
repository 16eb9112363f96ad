"""Fit a model into a run directory, resumably, then evaluate it and draw its plots.

RUN_DIR/ config.json  history.json  model.keras (selected, fp32)  metrics.json
         classification_report.txt  plots/  checkpoints/ (last.keras + state for --resume)
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from training import plots
from training.augment import epoch_stream
from training.card import duration
from training.config import TrainConfig
from training.data import FerData, stratified_limit
from training.errors import RunExistsError
from training.evaluate import KerasPredictor, compute_metrics, report_text, write_report
from training.model import build_model
from training.protocols import Splits, make_splits
from training.sources import load_dataset

log = logging.getLogger(__name__)


def prepare(config: TrainConfig) -> tuple[FerData, Splits]:
    data = load_dataset(config.data, config.labels, config.ferplus_csv)
    if config.limit:
        data = stratified_limit(data, config.limit, config.seed)
    balance = "oversample" if config.balance == "oversample" else "none"
    return data, make_splits(data, config.protocol, config.seed, balance)


def train(config: TrainConfig, run_dir: Path, resume: bool = False, threads: int | None = None) -> dict[str, Any]:
    """Train (or resume) a run; return its metrics.json content. ``threads``: CPU threads of the torch engine
    (default: all cores); it changes speed, not the recipe."""
    import tensorflow as tf

    ckpt_dir = run_dir / "checkpoints"
    state_path = ckpt_dir / "state.json"
    if resume:
        if not state_path.is_file():
            raise RunExistsError(f"{run_dir}: nothing to resume (no checkpoints/state.json)")
        config = TrainConfig.load(run_dir / "config.json")
        state = json.loads(state_path.read_text())
        log.info("resuming %s after epoch %d of %d", run_dir, state["epoch"], config.epochs)
    else:
        if (run_dir / "config.json").exists():
            raise RunExistsError(f"{run_dir} already holds a run: use --resume to continue it, or another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "config.json")
        state = {"epoch": 0, "history": {}, "best": None, "best_epoch": None, "wait": 0, "lr": config.lr,
                 "seconds": 0.0, "stopped_early": False}
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    keras_bf16 = config.precision == "bf16" and config.engine == "keras"
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if keras_bf16 else "float32")

    data, splits = prepare(config)
    if resume and state.get("dataset_sha256") not in (None, data.sha256):
        raise RunExistsError(f"{config.data} is not the dataset this run started on (sha256 differs)")
    state["dataset_sha256"] = data.sha256
    n_classes = len(data.label_names)
    log.info("protocol %s: %d training rows (%d distinct), select on %s (%d), report on %s (%d)",
             config.protocol, len(splits.train), len(np.unique(splits.train)), splits.select_name,
             len(splits.select), splits.report_name, len(splits.report))

    if config.engine == "torch":
        from training.torch_fit import fit

        use_votes = config.targets == "votes" and data.votes is not None
        targets = data.votes if use_votes else np.eye(n_classes, dtype=np.float32)[data.labels]
        assert targets is not None
        model = fit(config, ckpt_dir, data, splits, targets, state, threads)
        return finish(config, run_dir, data, splits, model, state)
    if resume and (ckpt_dir / "last.keras").is_file():
        model = keras.models.load_model(ckpt_dir / "last.keras")
    else:
        model = build_model(config.arch, n_classes)
        model.compile(optimizer=_optimizer(config), metrics=["accuracy"],
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing))

    first_epoch = state["epoch"]
    if first_epoch < config.epochs and not state["stopped_early"]:
        weights = _class_weights(data.labels[splits.train], n_classes) if config.balance == "class_weight" else None
        stream, steps = epoch_stream(data.images, data.labels, splits.train, config, n_classes, first_epoch, weights)
        val_x = data.images[splits.select][..., None].astype(np.float32)
        val_y = keras.utils.to_categorical(data.labels[splits.select], n_classes)
        model.fit(
            stream, steps_per_epoch=steps, epochs=config.epochs, initial_epoch=first_epoch,
            validation_data=(val_x, val_y), validation_batch_size=512,
            callbacks=[RunCheckpoint(config, ckpt_dir, state)], verbose=1 if sys.stdout.isatty() else 2, shuffle=False,
        )
    return finish(config, run_dir, data, splits, model, state)


def _optimizer(config: TrainConfig) -> Any:
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(config.lr, momentum=config.momentum, nesterov=True,
                                    weight_decay=config.weight_decay or None)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(config.lr, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(config.lr)


def _class_weights(train_labels: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(train_labels, minlength=n_classes).astype(float)
    return len(train_labels) / (n_classes * np.maximum(counts, 1))


def scheduled_lr(config: TrainConfig, epoch: float, covers: float = 1.0) -> float:
    """Learning rate of the deterministic schedules (warm-up, then constant/cosine) for an update that starts at
    ``epoch`` (0-based; fractional when the rate is set every batch) and covers ``covers`` epochs: 1 when it is
    set once an epoch (Keras), 1 / batches per epoch when every batch (torch). A linear warm-up reaches lr with
    the warm-up's last update."""
    if epoch < config.warmup_epochs:
        done = epoch + (1.0 if config.warmup_ramp == "overshoot" else covers)
        return config.lr * done / config.warmup_epochs
    if config.schedule == "cosine":
        span = max(1, config.epochs - config.warmup_epochs)
        t = (epoch - config.warmup_epochs) / span
        return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * t))
    return config.lr


class RunCheckpoint(keras.callbacks.Callback):
    """Per epoch: set the LR, record history, keep the best weights, save last.keras + state.json.

    All schedule and early-stopping state lives in state.json, so --resume continues exactly.
    """

    def __init__(self, config: TrainConfig, ckpt_dir: Path, state: dict[str, Any]) -> None:
        super().__init__()
        self.config, self.ckpt_dir, self.state = config, ckpt_dir, state
        self._t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._t0 = time.perf_counter()
        lr = self.state["lr"] if self.config.schedule == "plateau" and epoch >= self.config.warmup_epochs \
            else scheduled_lr(self.config, epoch)
        self.model.optimizer.learning_rate.assign(lr)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        logs["lr"] = float(self.model.optimizer.learning_rate.numpy())
        improved, stop = record_epoch(self.config, self.state, epoch, logs, time.perf_counter() - self._t0)
        if improved:
            self.model.save_weights(self.ckpt_dir / "best.weights.h5")
        self.model.stop_training = stop
        _atomic_save_model(self.model, self.ckpt_dir / "last.keras")
        _atomic_write(self.ckpt_dir / "state.json", json.dumps(self.state))


def record_epoch(c: TrainConfig, s: dict[str, Any], epoch: int, logs: dict[str, float],
                 seconds: float) -> tuple[bool, bool]:
    """Book a finished 0-based epoch into the run state: history, best score, plateau LR, early stop.

    Returns (the selection score improved, training should stop). Both engines call it.
    """
    for key, value in logs.items():
        s["history"].setdefault(key, []).append(float(value))
    score = float(logs.get("val_accuracy", 0.0))
    improved = s["best"] is None or score > s["best"]
    if improved:
        s["best"], s["best_epoch"], s["wait"] = score, epoch + 1, 0
    else:
        s["wait"] += 1
    if c.schedule == "plateau" and epoch + 1 >= c.warmup_epochs:
        s["lr"] = logs["lr"]
        if s["wait"] and s["wait"] % c.plateau_patience == 0:
            s["lr"] = max(c.min_lr, logs["lr"] * c.plateau_factor)
            log.info("no %s improvement for %d epochs: learning rate -> %.2e", "val_accuracy", s["wait"], s["lr"])
    if c.early_stopping and s["wait"] >= c.early_stopping:
        s["stopped_early"] = True
        log.info("early stop: best val_accuracy %.4f at epoch %d", s["best"], s["best_epoch"])
    s["epoch"] = epoch + 1
    s["seconds"] += seconds
    remaining = (c.epochs - s["epoch"]) * s["seconds"] / s["epoch"]  # mean epoch time so far
    log.info("epoch %d/%d: val_accuracy %.4f (best %.4f @ %d), %.0f s; ETA %s", epoch + 1, c.epochs, score,
             s["best"], s["best_epoch"], seconds, duration(0 if s["stopped_early"] else remaining))
    return improved, bool(s["stopped_early"])


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_save_model(model: Any, path: Path) -> None:
    tmp = path.with_name("tmp-" + path.name)
    model.save(tmp)
    os.replace(tmp, path)


def finish(config: TrainConfig, run_dir: Path, data: FerData, splits: Splits, model: Any,
           state: dict[str, Any]) -> dict[str, Any]:
    """Select the model, save it in fp32, evaluate the selection and report splits, draw the plots."""
    keras.mixed_precision.set_global_policy("float32")
    final = build_model(config.arch, len(data.label_names))
    best = run_dir / "checkpoints" / "best.weights.h5"
    if config.select == "best" and best.is_file():
        final.load_weights(best)  # variables are float32 under both policies
    else:
        final.set_weights(model.get_weights())
    final.save(run_dir / "model.keras")

    history = state["history"]
    (run_dir / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    plots.save(plots.curve(history, "accuracy"), run_dir / "plots" / "accuracy.png")
    plots.save(plots.curve(history, "loss"), run_dir / "plots" / "loss.png")

    predictor = KerasPredictor(final, data.label_names)
    results: dict[str, Any] = {}
    for name, positions in ((splits.select_name, splits.select), (splits.report_name, splits.report)):
        if name in results:
            continue
        probs = predictor.predict(data.images[positions])
        results[name] = compute_metrics(probs, data.labels[positions], data.label_names, name)
        if name == splits.report_name:
            write_report(results[name], run_dir, run_dir / "plots", probs, data.labels[positions])
    metrics = {
        "protocol": config.protocol,
        "labels": list(data.label_names),
        "dataset_sha256": data.sha256,
        "selected_epoch": state["best_epoch"] if config.select == "best" else state["epoch"],
        "epochs_run": state["epoch"],
        "stopped_early": state["stopped_early"],
        "train_seconds": round(state["seconds"], 1),
        "train_rows": len(splits.train),
        "splits": results,
        "report_split": splits.report_name,
        "leak": splits.leak,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("%s", report_text(results[splits.report_name]))
    return metrics
