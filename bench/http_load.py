"""Section 4: POST /predict on a real server (one worker process per core) at several concurrencies for a fixed
time each: requests/s, latency percentiles, errors; against the in-process pipeline on the same photo."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

from bench.server import serving
from bench.soak import load
from bench.stats import percentiles, rate, ratio
from service.app import load_pipeline
from service.config import Settings

TARGET = 0.8  # at concurrency 8, of the in-process pipeline's images/s
TARGET_CONCURRENCY = 8


def in_process_rate(data: bytes, seconds: float) -> float:
    """Images/s of one in-process pipeline (default settings, one request at a time) on ``data``."""
    import cv2

    settings = Settings()
    cv2.setNumThreads(settings.opencv_threads)
    pipeline = load_pipeline(settings)
    pipeline.run_bytes(data, settings.max_faces, settings.min_face_size)
    return rate(lambda: pipeline.run_bytes(data, settings.max_faces, settings.min_face_size), seconds)


def run(data: bytes, concurrencies: tuple[int, ...] = (1, 8, 32), seconds: float = 20.0,
        workers: int | None = None, warmup_s: float = 2.0) -> dict[str, Any]:
    workers = workers or os.cpu_count() or 1
    reference = in_process_rate(data, min(seconds, 10.0))
    mix = [("photo", data)]
    rows: list[dict[str, Any]] = []
    with serving(workers) as server:
        asyncio.run(load(server.url, warmup_s, max(concurrencies), 0, mix))
        for c in concurrencies:
            started = time.monotonic()
            results, _ = asyncio.run(load(server.url, seconds, c, 0, mix))
            rps = len(results) / (time.monotonic() - started)
            statuses = Counter(str(s) for _, s in results)
            rows.append({"concurrency": c, "requests": len(results), "requests_per_s": round(rps, 2),
                         "latency_ms": percentiles([t * 1000 for t, _ in results]),
                         "statuses": dict(sorted(statuses.items())),
                         "errors": sum(n for s, n in statuses.items() if s != "200"),
                         "of_in_process": ratio(rps, reference)})
    at_target = next((r for r in rows if r["concurrency"] == TARGET_CONCURRENCY), None)
    met = None if at_target is None else bool(at_target["of_in_process"] and at_target["of_in_process"] >= TARGET)
    return {"workers": workers, "seconds": seconds, "photo_bytes": len(data),
            "in_process_images_per_s": round(reference, 2), "rows": rows, "target": TARGET,
            "target_concurrency": TARGET_CONCURRENCY, "met": met,
            "note": "client (httpx, asyncio) and server share this machine's cores"}
