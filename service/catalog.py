"""Which emotion models the service loads, and which one answers when a request names none.

Models: ``FER_MODEL_PATH`` (that one file only), else ``FER_MODELS`` (names or paths), else every ``*.onnx`` in
``FER_MODELS_DIR`` (``models/``; the detectors live in a sub-folder). A model's name is its contract's name.

The default (``FER_DEFAULT_MODEL``, else the rule): the most accurate FER2013 model, by its selection split
(PublicTest) accuracy, among those whose latency per face (batch 1, one onnxruntime thread, test-time
augmentation included, measured at export and stored in its contract) is at most
``FER_DEFAULT_MAX_LATENCY_MS``. PrivateTest figures never choose anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_contract import ModelContract
from service.classifier import EmotionClassifier, ModelLoadError

SELECTION_SPLIT = "PublicTest"


def model_files(model_path: Path | None, models: list[str], models_dir: Path) -> list[Path]:
    """The ONNX files to load, in a stable order; a name in ``models`` means ``models_dir/NAME.onnx``."""
    if model_path is not None:
        return [model_path]
    if models:
        return [Path(m) if m.endswith(".onnx") or "/" in m else models_dir / f"{m}.onnx" for m in models]
    files = sorted(models_dir.glob("*.onnx"))
    if not files:
        raise ModelLoadError(f"no .onnx model in {models_dir} (set FER_MODELS_DIR, FER_MODELS or FER_MODEL_PATH)")
    return files


def load_classifiers(files: list[Path], intra_threads: int, inter_threads: int, idle_threads: int = 1
                     ) -> dict[str, EmotionClassifier]:
    """Every model, keyed by its contract's name; two files with one name are refused. ``idle_threads``: see
    EmotionClassifier (0: every core)."""
    loaded: dict[str, EmotionClassifier] = {}
    for path in files:
        classifier = EmotionClassifier.load(path, intra_threads, inter_threads, idle_threads)
        name = classifier.contract.name
        if name in loaded:
            raise ModelLoadError(f"{path} and {loaded[name].path} are both named {name!r}; model names must differ")
        loaded[name] = classifier
    return loaded


def latency_ms(contract: ModelContract) -> float | None:
    latency = contract.training.get("latency") or {}
    value = latency.get("ms_per_face")
    return float(value) if isinstance(value, int | float) else None


def selection_accuracy(contract: ModelContract) -> float:
    metrics = contract.training.get("metrics") or {}
    return float((metrics.get(SELECTION_SPLIT) or {}).get("accuracy", 0.0))


def choose_default(contracts: dict[str, ModelContract], requested: str | None, max_latency_ms: float) -> str:
    """The name of the default model (see the module docstring)."""
    if requested is not None:
        if requested not in contracts:
            raise ModelLoadError(f"FER_DEFAULT_MODEL={requested!r} is not among the loaded models "
                                 f"({', '.join(contracts)})")
        return requested
    fer2013 = {n: c for n, c in contracts.items() if c.training.get("label_source", "fer2013") == "fer2013"}
    pool = fer2013 or contracts
    fast = [n for n, c in pool.items() if (ms := latency_ms(c)) is not None and ms <= max_latency_ms]
    if fast:
        return max(fast, key=lambda n: (selection_accuracy(pool[n]), n))
    # Nothing is known to be fast enough: the fastest known, else the first by name.
    timed = [n for n in pool if latency_ms(pool[n]) is not None]
    return min(timed, key=lambda n: latency_ms(pool[n]) or 0.0) if timed else sorted(pool)[0]


def describe_all(classifiers: dict[str, EmotionClassifier], default: str) -> dict[str, Any]:
    """``GET /v1/models``: every model with its labels, metrics, input spec, crop rule and measured latency."""
    return {"default": default,
            "models": [{**c.describe(), "default": name == default} for name, c in classifiers.items()]}


def default_model_path(settings: Any) -> Path:
    """The file of the model a request without ?model= gets, under ``settings`` (for tools and benchmarks)."""
    files = model_files(settings.model_path, settings.models, settings.models_dir)
    classifiers = load_classifiers(files, 1, 1)
    name = choose_default({n: c.contract for n, c in classifiers.items()}, settings.default_model,
                          settings.default_max_latency_ms)
    return classifiers[name].path
