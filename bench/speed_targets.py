"""Sections 9 and 10: the service as shipped (one worker process, default settings) against issue 16's targets.

9: sequential POST /predict over HTTP on the 640x480 and 1920x1080 one-face photos against the `fer` package's
in-process time on the same photos (measured here too, side by side), and on a 12 MP JPEG against a full-size
``cv2.imdecode`` of the same bytes; concurrency 1 and 8 on the 640x480 photo, with the default threads (one
detection may use every core while the process has no other request) and with one thread per detection; one
WebSocket stream of 640x480 frames. 10: the process's memory (PSS) over many requests, as section 6 measures it.
"""

from __future__ import annotations

import asyncio
import http.client
import time
from collections import Counter
from typing import Any

import cv2
import numpy as np

from bench import memory, websocket_streams
from bench.photos import Photo, jpeg, sized_photos
from bench.server import serving
from bench.soak import load
from bench.stats import median_ms, percentiles, ratio

TARGETS = {"640x480-1face": 5.0, "1920x1080-1face": 10.0}  # x the fer package's in-process time
MOONSHOT = 10.0  # x fer at 640x480
WS_FPS, WS_P95_MS = 60.0, 25.0
PSS_MB = 184.0  # the single process's peak before issue 16 (README)
TWELVE_MP = (4032, 3024)


def twelve_megapixel_photo() -> Photo:
    """One face (15-30% of the frame height, as every benchmark photo) in a 4032x3024 frame."""
    return sized_photos(None, sizes=(TWELVE_MP,), counts=(1,))[0]


class Client:
    """POST /predict over one kept-alive connection, with the multipart body built once: as little client work
    as possible between two sequential requests (the client shares the cores with the server)."""

    BOUNDARY = "benchboundary7f3a"

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def body(self, data: bytes) -> bytes:
        head = (f"--{self.BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n"
                "Content-Type: image/jpeg\r\n\r\n").encode()
        return head + data + f"\r\n--{self.BOUNDARY}--\r\n".encode()

    def post(self, body: bytes, query: str = "") -> int:
        self.conn.request("POST", "/predict" + query, body,
                          {"Content-Type": f"multipart/form-data; boundary={self.BOUNDARY}"})
        response = self.conn.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self.conn.close()


def sequential(url: str, data: bytes, repeat: int, warmup: int = 5, query: str = "") -> dict[str, Any]:
    """``repeat`` requests one after the other: median and p95 ms, and the statuses."""
    client = Client(url)
    body = client.body(data)
    try:
        for _ in range(warmup):
            client.post(body, query)
        times, statuses = [], Counter[str]()
        for _ in range(repeat):
            t = time.perf_counter()
            statuses[str(client.post(body, query))] += 1
            times.append((time.perf_counter() - t) * 1000)
    finally:
        client.close()
    return {"requests": repeat, "median_ms": round(float(np.median(times)), 2), **percentiles(times),
            "statuses": dict(statuses)}


def concurrent(url: str, data: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    started = time.monotonic()
    results, _ = asyncio.run(load(url, seconds, concurrency, 0, [("photo", data)]))
    elapsed = time.monotonic() - started
    return {"concurrency": concurrency, "requests": len(results), "requests_per_s": round(len(results) / elapsed, 2),
            "latency_ms": percentiles([t * 1000 for t, _ in results]),
            "errors": sum(1 for _, status in results if status != 200)}


def fer_ms(photos: list[Photo], peer: dict[str, Any] | None, repeat: int) -> tuple[dict[str, float], str]:
    """fer's in-process ms per photo name, measured here, next to ours (section 3's figures otherwise: another
    piece of the run, maybe another load); and where they come from."""
    from bench import peer_fer

    answer = peer_fer.run_fer(photos, repeat)
    if answer["available"]:
        return {p.name: float(r["ms"]) for p, r in zip(photos, answer["images"], strict=True)}, \
            f"measured in this section, median of {repeat}"
    if peer and peer.get("available"):
        return {row["photo"]: float(row["ms"]) for row in peer["fer"]["photos"]}, "section 3"
    return {}, f"not measured: {answer['reason']}"


def run(photos: list[Photo], peer: dict[str, Any] | None, repeat: int = 200, seconds: float = 10.0) -> dict[str, Any]:
    by_name = {p.name: p for p in photos}
    payloads = {name: jpeg(by_name[name].rgb) for name in TARGETS}
    big = jpeg(twelve_megapixel_photo().rgb)
    cv2.setNumThreads(1)
    imdecode = median_ms(lambda: cv2.imdecode(np.frombuffer(big, np.uint8), cv2.IMREAD_COLOR), 20)
    reduced = median_ms(lambda: cv2.imdecode(np.frombuffer(big, np.uint8), cv2.IMREAD_REDUCED_COLOR_4), 20)
    fer, fer_source = fer_ms([by_name[name] for name in TARGETS], peer, repeat=max(3, repeat // 20))
    out: dict[str, Any] = {"workers": 1, "repeat": repeat, "seconds": seconds, "photos": {}, "concurrency": {},
                           "fer_source": fer_source}
    with serving(1) as server:
        for name, data in payloads.items():
            ours = sequential(server.url, data, repeat)
            speedup = ratio(fer.get(name), ours["median_ms"])
            out["photos"][name] = {"bytes": len(data), "http": ours, "fer_ms": fer.get(name), "x_fer": speedup,
                                   "target": TARGETS[name],
                                   "met": None if speedup is None else speedup >= TARGETS[name]}
        larger = sequential(server.url, payloads["640x480-1face"], repeat, query="?min_face_size=40")
        out["vga_min_face_40"] = {"http": larger, "x_fer": ratio(fer.get("640x480-1face"), larger["median_ms"])}
        ours = sequential(server.url, big, max(20, repeat // 5))
        out["twelve_mp"] = {"size": list(TWELVE_MP), "bytes": len(big), "http": ours,
                            "imdecode_full_ms": round(imdecode, 2), "imdecode_reduced_4_ms": round(reduced, 2),
                            "met": ours["median_ms"] <= imdecode}
        vga = payloads["640x480-1face"]
        out["concurrency"]["default"] = [concurrent(server.url, vga, c, seconds) for c in (1, 8)]
        stream = asyncio.run(websocket_streams.lockstep(server.ws_url, vga, 2 * seconds))
        one = websocket_streams.summarise([stream])
        out["websocket"] = {**one, "target": {"fps": WS_FPS, "p95_ms": WS_P95_MS},
                            "met": bool(one["fps_per_stream"] >= WS_FPS and (one["latency_ms"]["p95"] or 1e9)
                                        <= WS_P95_MS)}
    with serving(1, env={"FER_DETECTOR_IDLE_THREADS": "1"}) as server:
        out["concurrency"]["one_thread"] = [concurrent(server.url, payloads["640x480-1face"], c, seconds)
                                            for c in (1, 8)]
    vga_x = out["photos"]["640x480-1face"]["x_fer"]
    out["moonshot"] = {"target": MOONSHOT, "met": None if vga_x is None else vga_x >= MOONSHOT}
    return out


def run_memory(photos: list[Photo], total: int, every: int) -> dict[str, Any]:
    """Section 6's measurement of one worker process (the shipped default), judged against 184 MB PSS."""
    result = memory.run([jpeg(p.rgb) for p in photos], total=total, every=every, workers=1)
    result["target_mb"] = PSS_MB
    result["met"] = bool(result["peak_pss_mb"] <= PSS_MB and (result["growth_second_half"] or 0) <= memory.MAX_GROWTH)
    return result
