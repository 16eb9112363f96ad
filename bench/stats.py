"""Small timing helpers shared by the sections: calls per second over a fixed time, and percentiles."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def rate(fn: Callable[[], Any], seconds: float, min_calls: int = 3) -> float:
    """Calls per second of ``fn`` run back to back for at least ``seconds`` (and ``min_calls`` calls)."""
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= min_calls:
            return calls / elapsed


def wall_times(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall time in seconds of each of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``repeat`` calls of ``fn``, in milliseconds."""
    return float(np.median(wall_times(fn, repeat))) * 1000


def percentiles(ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and p99 of latencies in milliseconds (None without samples)."""
    if not len(ms):
        return {"p50": None, "p95": None, "p99": None}
    a = np.asarray(ms, dtype=np.float64)
    return {q: round(float(np.percentile(a, p)), 2) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))}


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a is not None and b else None
