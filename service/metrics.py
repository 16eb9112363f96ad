"""Prometheus metrics, one registry per app (so tests and workers never share counters)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("fer_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("fer_http_request_duration_seconds", "HTTP request latency by route and status",
                                 ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("fer_inference_stage_seconds", "Time per pipeline stage (decode, detect, classify)",
                               ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.images = Counter("fer_images_processed", "Images (uploads and stream frames) processed", ["source"],
                              registry=r)
        self.faces = Counter("fer_faces_detected", "Faces detected and classified", ["source"], registry=r)
        self.ws_open = Gauge("fer_websocket_connections", "Open WebSocket stream connections", registry=r)
        self.frames = Counter("fer_stream_frames", "Stream frames by outcome (processed, dropped, error)",
                              ["outcome"], registry=r)
        self.errors = Counter("fer_errors", "Error answers by code", ["code"], registry=r)
        self.ready = Gauge("fer_model_ready", "1 when the model is loaded and the service is ready", registry=r)
        self.model = Gauge("fer_model_info", "The loaded model", ["name", "version", "detector"], registry=r)
        for outcome in ("processed", "dropped", "error"):
            self.frames.labels(outcome)  # export zeros from the start
        for source in ("http", "stream"):
            self.images.labels(source)
            self.faces.labels(source)

    def observe_prediction(self, source: str, timings_ms: dict[str, float], n_faces: int) -> None:
        for stage in ("decode", "detect", "classify"):
            if stage in timings_ms:
                self.stage.labels(stage).observe(timings_ms[stage] / 1000.0)
        self.images.labels(source).inc()
        self.faces.labels(source).inc(n_faces)


class HttpMetricsMiddleware:
    """Counts every HTTP request and its latency by route template (not raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            labels = (path, scope["method"], str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)
