"""The training configuration: one frozen dataclass, written as ``config.json`` into every run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

# Augmentation presets (--augment); single flags (--rotation ...) override a preset's values.
AUGMENT_PRESETS: dict[str, dict[str, float | bool]] = {
    "none": {"flip": False, "rotation": 0.0, "shift": 0.0, "zoom": 0.0, "erasing": 0.0},
    "light": {"flip": True, "rotation": 10.0, "shift": 0.1, "zoom": 0.1, "erasing": 0.0},
    "strong": {"flip": True, "rotation": 15.0, "shift": 0.15, "zoom": 0.2, "erasing": 0.5},
}
LABEL_SOURCES = ("fer2013", "ferplus", "ferplus8")


@dataclass(frozen=True)
class TrainConfig:
    data: str
    protocol: str = "official"
    labels: str = "fer2013"  # fer2013 | ferplus (7 classes) | ferplus8 (+ contempt)
    ferplus_csv: str | None = None
    arch: str = "seed_cnn"
    # The notebook's recipe is the default: Adam 1e-4, categorical cross-entropy, 35 epochs, batch 32.
    epochs: int = 35
    batch_size: int = 32
    lr: float = 1e-4
    optimizer: str = "adam"  # adam | adamw | sgd (Nesterov momentum)
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"  # constant | cosine | plateau (reduce on the selection split's plateau)
    warmup_epochs: int = 0
    # linear: the rate climbs to lr over the warm-up and never above it. overshoot: how the torch engine warmed up
    # before 2026-12-03 (per batch, lr * (epoch + 1) / warmup_epochs with a fractional epoch, so it ended the
    # warm-up at (1 + 1 / warmup_epochs) x lr); kept to reproduce the VGG runs trained with it. Keras sets the
    # rate once an epoch, where the two are the same.
    warmup_ramp: str = "linear"
    plateau_patience: int = 5
    plateau_factor: float = 0.5
    min_lr: float = 1e-6
    label_smoothing: float = 0.0
    balance: str = "oversample"  # oversample (RandomOverSampler, train split only) | class_weight | none
    flip: bool = False
    rotation: float = 0.0  # degrees, uniform in [-r, r]
    shift: float = 0.0  # fraction of the side, uniform in [-s, s] on each axis
    zoom: float = 0.0  # scale uniform in [1 - z, 1 + z]
    erasing: float = 0.0  # probability of random erasing (a gray rectangle)
    select: str = "best"  # best (on the selection split) | last
    early_stopping: int = 0  # patience in epochs on the selection split; 0 = off
    limit: int | None = None  # stratified subset of this many rows (quick runs)
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 (mixed bfloat16 training; the saved model is always fp32)
    engine: str = "keras"  # keras | torch (the PyTorch twin of the architecture; exported through Keras)
    ema: float = 0.0  # decay per step of an exponential moving average of the weights (torch engine); 0 = off
    targets: str = "majority"  # majority (one label per face) | votes (FER+'s vote shares; torch engine)
    init_from: str | None = None  # an exported ONNX model whose weights start the run (torch engine)

    def __post_init__(self) -> None:
        checks = {
            "protocol": (self.protocol, ("official", "seed")),
            "labels": (self.labels, LABEL_SOURCES),
            "optimizer": (self.optimizer, ("adam", "adamw", "sgd")),
            "schedule": (self.schedule, ("constant", "cosine", "plateau")),
            "warmup_ramp": (self.warmup_ramp, ("linear", "overshoot")),
            "balance": (self.balance, ("oversample", "class_weight", "none")),
            "select": (self.select, ("best", "last")),
            "precision": (self.precision, ("fp32", "bf16")),
            "engine": (self.engine, ("keras", "torch")),
            "targets": (self.targets, ("majority", "votes")),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs and batch size must be at least 1 and the learning rate positive")
        if self.labels != "fer2013" and not self.ferplus_csv:
            raise ValueError(f"--labels {self.labels} needs --ferplus-csv (fer2013new.csv)")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be a decay in [0, 1); got {self.ema}")
        if self.ema and self.engine != "torch":
            raise ValueError("an exponential moving average of the weights (--ema) needs --engine torch")
        if self.targets == "votes" and (self.labels == "fer2013" or self.engine != "torch"):
            raise ValueError("--targets votes (FER+'s vote shares) needs --labels ferplus* and --engine torch")
        if self.init_from and self.engine != "torch":
            raise ValueError("--init-from (start from an exported model's weights) needs --engine torch")
        if self.protocol == "seed" and self.select == "best":
            raise ValueError("the seed protocol has no held-out selection split: use --select last")

    @property
    def augments(self) -> bool:
        return self.flip or self.rotation > 0 or self.shift > 0 or self.zoom > 0 or self.erasing > 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def save(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        data: dict[str, Any] = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown config fields {unknown}")
        data.setdefault("warmup_ramp", "overshoot")  # a run from before the field warmed up that way: resume it so
        return cls(**data)
