"""X-FER-Replica: every answer names the process that gave it (HTTP, WebSocket handshake, /metrics)."""

from __future__ import annotations

import os
import socket

from fastapi.testclient import TestClient

from service.config import Settings


def test_every_http_answer_names_the_replica_errors_included(make_app):
    with TestClient(make_app(replica_name="replica-7@198.18.1.2")) as client:
        for r in (client.get("/healthz"), client.get("/no-such-page"),
                  client.post("/predict", files={"file": ("x.jpg", b"not an image", "image/jpeg")})):
            assert r.headers["x-fer-replica"] == "replica-7@198.18.1.2", r.status_code
        assert client.get("/no-such-page").status_code == 404


def test_a_stream_handshake_names_the_replica(make_app):
    with TestClient(make_app(replica_name="r1")) as client, client.websocket_connect("/ws/stream") as ws:
        assert (b"x-fer-replica", b"r1") in [tuple(h) for h in ws.extra_headers]


def test_metrics_say_which_replica_was_scraped(make_app):
    with TestClient(make_app(replica_name="r2")) as client:
        assert 'fer_replica_info{replica="r2"} 1.0' in client.get("/metrics").text


def test_the_default_name_is_host_and_process(monkeypatch):
    monkeypatch.delenv("FER_REPLICA_NAME", raising=False)
    assert Settings().replica_name == f"{socket.gethostname()}:{os.getpid()}"
    monkeypatch.setenv("FER_REPLICA_NAME", "pod-abc")
    assert Settings().replica_name == "pod-abc"
