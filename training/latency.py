"""Latency per face of an exported model, as the service runs it: batch 1, one onnxruntime thread, the whole
graph (test-time augmentation included). Stored in the contract (``training.latency``) so that the service's
default-model rule (service/catalog.py) and ``GET /v1/models`` can use it without timing anything at start-up.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

REPEAT = 200
WARMUP = 20


def measure_latency(path: Path, repeat: int = REPEAT, seed: int = 0) -> dict[str, Any]:
    """{ms_per_face (median), batch, threads, runs, hardware} for the ONNX model at ``path``."""
    import onnxruntime as ort

    from training.export import hardware

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    shape = [1, *(int(d) for d in spec.shape[1:])]
    faces = np.random.default_rng(seed).integers(0, 256, size=(8, *shape[1:])).astype(np.float32)
    times = []
    for i in range(WARMUP + repeat):
        x = faces[i % len(faces)][None]
        t0 = time.perf_counter()
        session.run(None, {spec.name: x})
        if i >= WARMUP:
            times.append((time.perf_counter() - t0) * 1000)
    return {"ms_per_face": round(statistics.median(times), 3), "batch": 1, "threads": 1, "runs": repeat,
            "hardware": hardware()}
