"""Load and soak: mixed /predict traffic at a fixed concurrency plus WebSocket streams, loopback only.

    python -m bench.soak                         # 60 s, concurrency 32 + 8 streams, on its own server
    python -m bench.soak --duration 10 --url http://127.0.0.1:8000    # against a running service

Reports requests/s, latency percentiles, status counts (5xx must be 0), stream frames, and the server's
RSS after a warm-up and at the end (growth must stay under 10%). Exits 1 when a criterion fails.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image
from websockets.asyncio.client import connect

from bench.process_memory import tree_rss_mb
from bench.stats import percentiles


def payloads() -> list[tuple[str, bytes]]:
    """The mix: real face photos, a group photo, a photo without people, and broken input (4xx)."""
    from bench.photos import astronaut, grace_hopper, group_photos, no_face_photos

    def jpeg(rgb: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90)
        return buf.getvalue()

    group = next(iter(group_photos(n=1, seed=3)))
    good = [("astronaut", jpeg(astronaut())), ("grace_hopper", jpeg(grace_hopper())), ("group", jpeg(group.rgb)),
            ("no_face", jpeg(no_face_photos()[0][1]))]
    return good * 4 + [("truncated", good[0][1][:5000]), ("not_an_image", b"plain text, not a photo")]


async def _http_worker(client: httpx.AsyncClient, url: str, mix: list[tuple[str, bytes]], stop: float,
                       out: list[tuple[float, int]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    while time.monotonic() < stop:
        _, data = mix[int(rng.integers(0, len(mix)))]
        t = time.perf_counter()
        try:
            r = await client.post(url + "/predict", files={"file": ("x.jpg", data, "image/jpeg")})
            out.append((time.perf_counter() - t, r.status_code))
        except httpx.HTTPError:
            out.append((time.perf_counter() - t, 0))  # transport failure: counted, never hidden


async def _stream_worker(ws_url: str, frame: bytes, stop: float, out: Counter[str]) -> None:
    async with connect(ws_url + "/ws/stream", max_size=None, compression=None) as ws:
        while time.monotonic() < stop:
            await ws.send(frame)
            msg = json.loads(await ws.recv())
            out[msg["type"]] += 1


async def load(url: str, duration: float, concurrency: int, streams: int,
               mix: list[tuple[str, bytes]]) -> tuple[list[tuple[float, int]], Counter[str]]:
    stop = time.monotonic() + duration
    results: list[tuple[float, int]] = []
    frames: Counter[str] = Counter()
    ws_url = url.replace("http://", "ws://", 1)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(
            *(_http_worker(client, url, mix, stop, results, i) for i in range(concurrency)),
            *(_stream_worker(ws_url, mix[0][1], stop, frames) for _ in range(streams)),
        )
    return results, frames


def run_soak(url: str, pid: int | None, duration: float = 60, concurrency: int = 32, streams: int = 8,
             warmup: float = 5) -> dict[str, Any]:
    mix = payloads()
    asyncio.run(load(url, warmup, concurrency, streams, mix))
    rss_start = tree_rss_mb(pid) if pid else None
    started = time.monotonic()
    results, frames = asyncio.run(load(url, duration, concurrency, streams, mix))
    elapsed = time.monotonic() - started
    rss_end = tree_rss_mb(pid) if pid else None
    latencies = np.array([t for t, _ in results]) * 1000
    statuses = Counter(str(s) for _, s in results)
    five_xx = sum(n for s, n in statuses.items() if s.startswith("5") or s == "0")
    growth = (rss_end - rss_start) / rss_start if rss_start and rss_end else None
    return {
        "duration_s": round(elapsed, 1), "concurrency": concurrency, "streams": streams,
        "requests": len(results), "requests_per_s": round(len(results) / elapsed, 1),
        "latency_ms": percentiles(latencies.tolist()),
        "statuses": dict(sorted(statuses.items())), "server_errors": five_xx,
        "stream_frames": dict(frames),
        "rss_mb": {"after_warmup": round(rss_start, 1) if rss_start else None,
                   "end": round(rss_end, 1) if rss_end else None,
                   "growth": round(growth, 4) if growth is not None else None},
    }


def verdict(report: dict[str, Any], max_growth: float = 0.10) -> list[str]:
    problems = []
    if report["server_errors"]:
        problems.append(f"{report['server_errors']} server errors")
    growth = report["rss_mb"]["growth"]
    if growth is not None and growth >= max_growth:
        problems.append(f"RSS grew {growth:.1%}")
    if not report["stream_frames"].get("prediction"):
        problems.append("no stream frame was answered")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=None, help="a running service (default: start one on a free port)")
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if args.url is not None:
        report = run_soak(args.url, None, args.duration, args.concurrency, args.streams)
    else:
        from bench.server import serving

        with serving(args.workers) as server:
            report = run_soak(server.url, server.pid, args.duration, args.concurrency, args.streams)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    problems = verdict(report)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
