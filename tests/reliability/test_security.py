"""API keys, CORS, no leaks in responses, request IDs in logs, uploads never on disk."""

from __future__ import annotations

import os
import secrets

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from service.auth import check_key
from service.errors import Unauthorized
from tests.service.conftest import encode, post_image

KEY = "k-" + "a" * 30


@pytest.fixture
def keyed(make_app):
    with TestClient(make_app(api_keys=[KEY, "second-key"])) as c:
        yield c


def test_without_keys_configured_the_service_is_open(client, astronaut_jpeg):
    assert post_image(client, astronaut_jpeg).status_code == 200


def test_predict_needs_a_valid_key_when_keys_are_set(keyed, astronaut_jpeg):
    for headers, status in (({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"X-API-Key": "wrong"}, 401),
                            ({"Authorization": f"Bearer {KEY}"}, 200), ({"X-API-Key": "second-key"}, 200)):
        r = keyed.post("/predict", files={"file": ("a.jpg", astronaut_jpeg)}, headers=headers)
        assert r.status_code == status, headers
        if status == 401:
            assert r.json()["code"] == "unauthorized"
            assert KEY not in r.text
    for path in ("/healthz", "/readyz", "/v1/model", "/metrics"):
        assert keyed.get(path).status_code == 200, path


def test_stream_needs_a_valid_key_when_keys_are_set(keyed, astronaut_jpeg):
    with keyed.websocket_connect("/ws/stream") as ws:
        assert ws.receive_json()["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    with keyed.websocket_connect(f"/ws/stream?api_key={KEY}") as ws:
        ws.send_bytes(astronaut_jpeg)
        assert ws.receive_json()["type"] == "prediction"
    with keyed.websocket_connect("/ws/stream", headers={"Authorization": f"Bearer {KEY}"}) as ws:
        ws.send_bytes(astronaut_jpeg)
        assert ws.receive_json()["type"] == "prediction"


def test_key_check_compares_with_every_key(monkeypatch):
    import service.auth as auth

    calls = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append(b) or real(a, b))
    keys = [secrets.token_hex(16) for _ in range(4)]
    check_key(keys, keys[0])  # matches the first key, still compares with all four
    assert len(calls) == 4
    with pytest.raises(Unauthorized):
        check_key(keys, "nope")


def test_cors_is_closed_by_default_and_follows_the_allow_list(make_app):
    with TestClient(make_app()) as c:
        r = c.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    with TestClient(make_app(cors_origins=["https://app.example"])) as c:
        ok = c.options("/predict", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        other = c.options("/predict", headers={"Origin": "https://evil.example",
                                               "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers


def test_unexpected_errors_answer_500_without_exception_text_or_paths(make_app, astronaut_jpeg, monkeypatch):
    from service.pipeline import Pipeline

    def boom(self, *args):
        raise ValueError("secret detail at /etc/fer/internal.py line 42")

    with TestClient(make_app(), raise_server_exceptions=False) as c:
        monkeypatch.setattr(Pipeline, "run_bytes", boom)
        r = post_image(c, astronaut_jpeg)
        assert r.status_code == 500
        assert r.json() == {"detail": "The service failed to process this request.", "code": "internal_error"}
        monkeypatch.undo()
        assert post_image(c, astronaut_jpeg).status_code == 200


def test_no_response_names_a_path(make_app, tmp_path, astronaut_jpeg):
    with TestClient(make_app(model_path=tmp_path / "secret-dir" / "model.onnx")) as c:
        answers = [c.get(p).text for p in ("/healthz", "/readyz", "/v1/model", "/metrics")]
        answers.append(post_image(c, astronaut_jpeg).text)
    for text in answers:
        assert "secret-dir" not in text and str(tmp_path) not in text


@pytest.mark.slow
def test_request_ids_reach_the_log_and_uploads_never_touch_disk(live_server, tmp_path):
    spool = tmp_path / "tmp"
    spool.mkdir()
    server = live_server(TMPDIR=str(spool))
    photo = encode(np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8), "PNG")
    assert len(photo) > 3_000_000  # far above the 1 MB at which form parsers spool to a temporary file
    before = set(os.listdir(spool))  # whatever the interpreter's start-up left there
    r = httpx.post(server.url + "/predict", files={"file": ("big.png", photo)},
                   headers={"X-Request-ID": "trace-me-123"}, timeout=60)
    assert r.status_code == 200 and r.headers["x-request-id"] == "trace-me-123"
    assert set(os.listdir(spool)) == before
    log = server.stop()
    assert any("trace-me-123" in line and "/predict" in line for line in log.splitlines()), log[-2000:]
