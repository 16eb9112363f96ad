"""Section 6: the server's resident memory (all its processes) right after it is ready and then every
``every`` requests up to ``total``: the level against its target, and whether it keeps growing.
The target is judged on the tree's summed PSS (see bench.process_memory for why not RSS)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter
from typing import Any

import httpx
import numpy as np

from bench.process_memory import pss_mb, rss_mb, tree
from bench.server import serving

TARGET_MB = 300.0
# Warm-up (thread heaps, onnxruntime's arena, every photo size seen once) takes the first thousand or
# two requests; a leak shows as growth that goes on after it. So the trend is judged on the second
# half of the run: the last sample may be at most 2% above the sample halfway through.
MAX_GROWTH = 0.02


async def send(url: str, payloads: list[bytes], start: int, n: int, concurrency: int) -> Counter[str]:
    """``n`` POST /predict requests, cycling through ``payloads``, ``concurrency`` at a time."""
    counter = itertools.count(start)
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        while (i := next(counter)) < start + n:
            data = payloads[i % len(payloads)]
            try:
                r = await client.post(url + "/predict", files={"file": ("x.jpg", data, "image/jpeg")})
                statuses[str(r.status_code)] += 1
            except httpx.HTTPError:
                statuses["transport_error"] += 1

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return statuses


def sample(pid: int, requests: int) -> dict[str, Any]:
    """The tree's summed PSS and RSS and its biggest process's RSS (a worker, normally), listing it once."""
    pids = tree(pid)
    rss = [rss_mb(p) for p in pids]
    return {"requests": requests, "pss_mb": round(sum(pss_mb(p) for p in pids), 1), "rss_mb": round(sum(rss), 1),
            "largest_process_mb": round(max(rss), 1)}


def run(payloads: list[bytes], total: int = 10_000, every: int = 1_000, concurrency: int = 8,
        workers: int | None = None) -> dict[str, Any]:
    workers = workers or os.cpu_count() or 1
    statuses: Counter[str] = Counter()
    with serving(workers) as server:
        samples = [sample(server.pid, 0)]
        for done in range(every, total + 1, every):
            statuses += asyncio.run(send(server.url, payloads, done - every, every, concurrency))
            samples.append(sample(server.pid, done))
    loaded = [s["pss_mb"] for s in samples[1:]]
    growth = (loaded[-1] - loaded[0]) / loaded[0] if len(loaded) > 1 else None
    half = loaded[(len(loaded) - 1) // 2] if loaded else None
    late_growth = (loaded[-1] - half) / half if half else None
    slope = float(np.polyfit([s["requests"] for s in samples[1:]], loaded, 1)[0]) * 1000 if len(loaded) > 2 else None
    peak = max(s["pss_mb"] for s in samples)
    return {"workers": workers, "requests": total, "every": every, "concurrency": concurrency,
            "payloads": len(payloads), "samples": samples, "statuses": dict(sorted(statuses.items())),
            "errors": sum(n for s, n in statuses.items() if s != "200"),
            "peak_pss_mb": peak, "peak_rss_mb": max(s["rss_mb"] for s in samples),
            "growth_after_first_sample": round(growth, 4) if growth is not None else None,
            "growth_second_half": round(late_growth, 4) if late_growth is not None else None,
            "slope_mb_per_1000": round(slope, 2) if slope is not None else None,
            "target_mb": TARGET_MB, "max_growth": MAX_GROWTH,
            "met": bool(peak <= TARGET_MB and (late_growth is None or late_growth <= MAX_GROWTH))}
