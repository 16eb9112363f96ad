"""The PyTorch engine (``--engine torch``): the same run, fitted with PyTorch, handed back as a Keras model.

Measured on a 2-core Xeon with AMX (bf16), ``vgg_fer`` at batch 64: Keras 47 images/s (fp32 = bf16), this
engine 167 images/s (bf16 autocast, channels-last); see models/CANDIDATES.md. Everything else stays the Keras
route's: the run directory, the schedule and selection bookkeeping (``train.record_epoch``), the selected
model saved as ``model.keras``, and the tf2onnx export.

Resumable: checkpoints/last.pt holds the weights, the optimizer, the EMA weights and the run state after each
epoch; the data order and augmentation of an epoch depend only on (seed, epoch, batch).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.config import TrainConfig
from training.data import FerData
from training.errors import TrainingError
from training.protocols import Splits
from training.torch_augment import augment, batch_generator
from training.torch_model import build_torch_model, to_keras

log = logging.getLogger(__name__)
TRANSFER_ATOL = 1e-4  # max |torch - keras| probability on real faces after copying the weights
EVAL_BATCH = 512


def fit(config: TrainConfig, ckpt_dir: Path, data: FerData, splits: Splits, targets: np.ndarray,
        state: dict[str, Any], threads: int | None = None) -> Any:
    """Train from ``state`` (epoch 0 or a resumed one); write best.weights.h5; return the last Keras model.

    ``targets``: (N, n_classes) training target per row (one-hot labels, or FER+ vote shares)."""
    from training.train import record_epoch, scheduled_lr

    torch.manual_seed(config.seed)
    torch.set_num_threads(threads or os.cpu_count() or 1)
    n_classes = targets.shape[1]
    model = build_torch_model(config.arch, n_classes).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if config.init_from and state["epoch"] == 0:
        _warm_start(config, model, data, splits, state)
    optimizer = _optimizer(config, model)
    ema = copy.deepcopy(model) if config.ema else None
    last = ckpt_dir / "last.pt"
    if state["epoch"] > 0:
        checkpoint = torch.load(last, weights_only=False)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if ema is not None:
            ema.load_state_dict(checkpoint["ema"])
        state.clear()
        state.update(checkpoint["state"])

    images = torch.from_numpy(data.images)
    y_all = torch.from_numpy(targets.astype(np.float32))
    class_weight = _class_weights(data.labels[splits.train], n_classes) if config.balance == "class_weight" else None
    val_x, val_y = images[splits.select], torch.from_numpy(data.labels[splits.select])
    steps = math.ceil(len(splits.train) / config.batch_size)
    autocast = config.precision == "bf16"

    while state["epoch"] < config.epochs and not state["stopped_early"]:
        epoch = state["epoch"]
        t0 = time.perf_counter()
        order = np.random.default_rng([config.seed, epoch]).permutation(splits.train)
        torch.manual_seed(config.seed * 1_000_003 + epoch)  # dropout masks: a function of (seed, epoch) too
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        bar = _progress(steps, f"epoch {epoch + 1}/{config.epochs}")
        for batch in range(steps):
            idx = torch.from_numpy(order[batch * config.batch_size:(batch + 1) * config.batch_size])
            lr = scheduled_lr(config, epoch + batch / steps, 1 / steps) if config.schedule != "plateau" \
                or epoch < config.warmup_epochs else state["lr"]
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = images[idx][:, None].float()
            if config.augments:
                x = augment(x, batch_generator(config.seed, epoch, batch), config)
            x = x.contiguous(memory_format=torch.channels_last)
            y = y_all[idx]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(x)
            loss = soft_cross_entropy(logits.float(), y, config.label_smoothing,
                                      None if class_weight is None else class_weight[y.argmax(1)])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if ema is not None:
                _ema_update(ema, model, min(config.ema, (1 + state.get("step", 0)) / (10 + state.get("step", 0))))
            state["step"] = state.get("step", 0) + 1
            seen += len(idx)
            correct += int((logits.argmax(1) == y.argmax(1)).sum())
            loss_sum += float(loss.detach()) * len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
        bar.close()
        logs = {"loss": loss_sum / seen, "accuracy": correct / seen, "lr": lr}
        logs["val_loss"], logs["val_accuracy"] = evaluate(ema or model, val_x, val_y, autocast)
        if ema is not None:
            logs["val_loss_raw"], logs["val_accuracy_raw"] = evaluate(model, val_x, val_y, autocast)
        improved, _ = record_epoch(config, state, epoch, logs, time.perf_counter() - t0)
        if improved:
            _atomic_torch_save((ema or model).state_dict(), ckpt_dir / "best.pt")
        _atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "ema": None if ema is None else ema.state_dict(), "state": state}, last)
        _write_state(ckpt_dir, state)
    return _to_keras_run(config, ckpt_dir, ema or model, n_classes, data.images[splits.select[:64]])


def _warm_start(config: TrainConfig, model: nn.Module, data: FerData, splits: Splits, state: dict[str, Any]) -> None:
    from training.warm_start import start_from

    path = Path(config.init_from or "")
    copied, state["init_from_sha256"] = start_from(path, model, data.images[splits.train], data.label_names)
    log.info("started from %s (%d tensors copied)", path, copied)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, smoothing: float = 0.0,
                       weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy against target distributions (one-hot labels or vote shares), with label smoothing."""
    if smoothing:
        targets = targets * (1 - smoothing) + smoothing / targets.shape[1]
    per_row = -(targets * F.log_softmax(logits, dim=1)).sum(1)
    if weights is not None:
        per_row = per_row * weights
    return per_row.mean()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, autocast: bool) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on uint8 faces ``x`` with integer labels ``y``."""
    model.eval()
    logits = torch.cat([_forward(model, x[i:i + EVAL_BATCH], autocast) for i in range(0, len(x), EVAL_BATCH)])
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


@torch.no_grad()
def _forward(model: nn.Module, faces: torch.Tensor, autocast: bool) -> torch.Tensor:
    x = faces[:, None].float().contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return model(x).float()


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    # No weight decay on BatchNorm parameters and biases (as in the usual ImageNet recipes).
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


def _class_weights(train_labels: np.ndarray, n_classes: int) -> torch.Tensor:
    counts = np.bincount(train_labels, minlength=n_classes).astype(np.float32)
    return torch.from_numpy(len(train_labels) / (n_classes * np.maximum(counts, 1)))


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Exponential moving average of every float tensor of the state (weights and BatchNorm statistics)."""
    for e, m in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
        if e.dtype.is_floating_point:
            e.mul_(decay).add_(m.detach(), alpha=1 - decay)
        else:
            e.copy_(m)


def _progress(steps: int, desc: str) -> Any:
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=steps, desc=desc, unit="batch", mininterval=1 if tty else 60, leave=tty, file=sys.stderr)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name("tmp-" + path.name)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_state(ckpt_dir: Path, state: dict[str, Any]) -> None:
    import json

    from training.train import _atomic_write

    _atomic_write(ckpt_dir / "state.json", json.dumps(state))


def _to_keras_run(config: TrainConfig, ckpt_dir: Path, last: nn.Module, n_classes: int,
                  check_faces: np.ndarray) -> Any:
    """best.pt -> best.weights.h5 and the last weights -> a Keras model, each copy checked on real faces."""
    import keras

    from training.model import build_model

    keras.mixed_precision.set_global_policy("float32")
    best = ckpt_dir / "best.pt"
    if best.is_file():
        twin = build_torch_model(config.arch, n_classes)
        twin.load_state_dict(torch.load(best, weights_only=True))
        _copied(twin, build_model(config.arch, n_classes), check_faces).save_weights(ckpt_dir / "best.weights.h5")
    return _copied(last, build_model(config.arch, n_classes), check_faces)


def _copied(module: nn.Module, keras_model: Any, faces: np.ndarray) -> Any:
    to_keras(module, keras_model)
    module.eval()
    expected = torch.softmax(_forward(module, torch.from_numpy(faces), autocast=False), 1).numpy()
    got = keras_model.predict(faces[..., None].astype(np.float32), verbose=0)
    diff = float(np.abs(expected - got).max())
    if not diff <= TRANSFER_ATOL:
        raise TrainingError(f"the Keras copy of the PyTorch model disagrees on {len(faces)} real faces: "
                            f"max |diff| {diff:.2e} > {TRANSFER_ATOL:.0e}")
    log.info("PyTorch -> Keras: max |diff| %.2e on %d real faces", diff, len(faces))
    return keras_model
