"""Section 5: /ws/stream on a real server: one and eight lockstep streams (next frame when the answer arrives),
and one flooding stream (frames as fast as the socket takes them): processed fps, dropped frames, latency."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from websockets.asyncio.client import connect

from bench.server import serving
from bench.stats import percentiles

TARGET_FPS = 30.0
TARGET_P95_MS = 50.0


async def lockstep(ws_url: str, frame: bytes, seconds: float) -> dict[str, Any]:
    latencies, errors = [], 0
    async with connect(ws_url + "/ws/stream", max_size=None, compression=None) as ws:
        await ws.send(frame)  # warm-up frame, not counted
        await ws.recv()
        started = time.perf_counter()
        stop = started + seconds
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await ws.send(frame)
            msg = json.loads(await ws.recv())
            latencies.append((time.perf_counter() - t) * 1000)
            errors += msg["type"] != "prediction"
        elapsed = time.perf_counter() - started
    return {"processed": len(latencies) - errors, "errors": errors, "elapsed_s": elapsed, "latencies": latencies,
            "dropped": 0}


async def flood(ws_url: str, frame: bytes, seconds: float, drain_s: float = 2.0) -> dict[str, Any]:
    """One stream sending without waiting; the service keeps only the newest waiting frame."""
    sent: dict[int, float] = {}
    latencies: list[float] = []
    last: dict[str, Any] = {}
    async with connect(ws_url + "/ws/stream", max_size=None, compression=None) as ws:

        async def receive() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                last.update(msg)
                if msg["type"] == "prediction":
                    latencies.append((time.perf_counter() - sent[msg["seq"]]) * 1000)

        receiver = asyncio.create_task(receive())
        started = time.perf_counter()
        stop = started + seconds
        seq = 0
        while time.perf_counter() < stop:
            sent[seq] = time.perf_counter()
            await ws.send(frame)
            seq += 1
            await asyncio.sleep(0)  # let the receiver read answers
        elapsed = time.perf_counter() - started
        await asyncio.sleep(drain_s)  # answers for frames still in flight
        receiver.cancel()
    return {"sent": seq, "processed": len(latencies), "dropped": int(last.get("dropped", 0)), "errors": 0,
            "elapsed_s": elapsed, "latencies": latencies}


def summarise(streams: list[dict[str, Any]]) -> dict[str, Any]:
    elapsed = max(s["elapsed_s"] for s in streams)
    processed = sum(s["processed"] for s in streams)
    out = {"streams": len(streams), "processed": processed, "errors": sum(s["errors"] for s in streams),
           "dropped": sum(s["dropped"] for s in streams), "fps_total": round(processed / elapsed, 2),
           "fps_per_stream": round(processed / elapsed / len(streams), 2),
           "latency_ms": percentiles([t for s in streams for t in s["latencies"]])}
    if "sent" in streams[0]:
        out["sent"] = sum(s["sent"] for s in streams)
    return out


async def _many(ws_url: str, frame: bytes, seconds: float, n: int) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(lockstep(ws_url, frame, seconds) for _ in range(n))))


def run(frame: bytes, seconds: float = 20.0, streams: int = 8, workers: int | None = None) -> dict[str, Any]:
    workers = workers or os.cpu_count() or 1
    with serving(workers) as server:
        one = summarise([asyncio.run(lockstep(server.ws_url, frame, seconds))])
        many = summarise(asyncio.run(_many(server.ws_url, frame, seconds, streams)))
        flooded = summarise([asyncio.run(flood(server.ws_url, frame, seconds))])
    p95 = one["latency_ms"]["p95"]
    met = bool(one["fps_per_stream"] >= TARGET_FPS and p95 is not None and p95 <= TARGET_P95_MS)
    return {"workers": workers, "seconds": seconds, "frame_bytes": len(frame), "one_stream": one,
            "many_streams": many, "flood": flooded, "target": {"fps": TARGET_FPS, "p95_ms": TARGET_P95_MS},
            "met": met}
