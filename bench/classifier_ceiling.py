"""Section 1: the classifier's ceiling. Faces/s of the service's EmotionClassifier (crops + classify, what the
service does per face) on real FER2013 faces, against a bare onnxruntime session running the very same
float32 arrays with the same session options. Short alternating rounds, so background load hits both alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import rate, ratio
from service.catalog import default_model_path
from service.classifier import EmotionClassifier
from service.config import Settings
from service.detectors import Box

TARGET = 0.9


def mosaic(faces: np.ndarray, columns: int = 8) -> tuple[np.ndarray, list[Box]]:
    """Gray 48x48 faces tiled into one image, and the box of each tile: the input shape the service crops from."""
    n, h, w = faces.shape
    rows = -(-n // columns)
    image = np.zeros((rows * h, min(n, columns) * w), np.uint8)
    boxes = []
    for i, face in enumerate(faces):
        y, x = (i // columns) * h, (i % columns) * w
        image[y : y + h, x : x + w] = face
        boxes.append(Box(x, y, w, h))
    return image, boxes


def bare_session(path: Path, intra: int, inter: int) -> Any:
    """An onnxruntime session with the options EmotionClassifier.load uses."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = inter
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(faces: np.ndarray, model: Path | None = None, batches: tuple[int, ...] = (1, 8, 32), seconds: float = 10.0,
        rounds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Faces/s ours vs bare per batch size; ``seconds`` is the total time per batch size and side."""
    settings = Settings()
    path = model or default_model_path(settings)
    classifier = EmotionClassifier.load(path, settings.ort_intra_threads, settings.ort_inter_threads)
    session = bare_session(path, settings.ort_intra_threads, settings.ort_inter_threads)
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(seed)
    rows = []
    for b in batches:
        tiles = [mosaic(faces[rng.choice(len(faces), b, replace=False)]) for _ in range(8)]
        arrays = [classifier.crops(image, None, boxes) for image, boxes in tiles]  # the bare side's pre-made input
        next_tile, next_array = itertools.cycle(tiles).__next__, itertools.cycle(arrays).__next__

        def ours(next_tile: Callable[[], tuple[np.ndarray, list[Box]]] = next_tile) -> None:
            image, boxes = next_tile()
            classifier.classify(classifier.crops(image, None, boxes))

        def bare(next_array: Callable[[], np.ndarray] = next_array) -> None:
            session.run(None, {name: next_array()})

        ours()  # warm-up
        bare()
        ours_rates, bare_rates = [], []
        for _ in range(rounds):
            ours_rates.append(rate(ours, seconds / rounds) * b)
            bare_rates.append(rate(bare, seconds / rounds) * b)
        ours_fps, bare_fps = float(np.median(ours_rates)), float(np.median(bare_rates))
        r = ratio(ours_fps, bare_fps, 3)
        rows.append({"batch": b, "service_faces_per_s": round(ours_fps, 1), "bare_faces_per_s": round(bare_fps, 1),
                     "ratio": r, "target": TARGET, "met": r is not None and r >= TARGET})
    return {"model": path.name, "faces_available": len(faces), "seconds_per_side": seconds, "rounds": rounds,
            "ort_intra_threads": settings.ort_intra_threads, "rows": rows}
