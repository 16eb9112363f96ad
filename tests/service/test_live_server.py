"""Against a real `fer-serve` (uvicorn) process on 127.0.0.1: what TestClient hides (sockets, framing,
process start-up and logging)."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.service.conftest import ASTRONAUT_FACE, iou

pytestmark = pytest.mark.slow


def test_predict_over_http(live_server, astronaut_jpeg):
    server = live_server()
    r = httpx.post(server.url + "/predict", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")}, timeout=30)
    assert r.status_code == 200
    faces = r.json()["faces"]
    assert len(faces) == 1 and iou(faces[0]["box"], ASTRONAUT_FACE) >= 0.5
    assert abs(sum(faces[0]["probabilities"].values()) - 1) < 1e-5
    assert r.headers["x-request-id"]


def test_websocket_stream_answers_in_order_and_accounts_for_drops(live_server, astronaut_jpeg):
    server = live_server()
    with connect(server.ws_url + "/ws/stream") as ws:
        ws.send(astronaut_jpeg)
        first = json.loads(ws.recv(timeout=30))
        assert first["type"] == "prediction" and first["seq"] == 0 and len(first["faces"]) == 1
        n = 60
        for _ in range(n):  # a producer far faster than the pipeline
            ws.send(astronaut_jpeg)
        answers = []
        while not answers or answers[-1]["seq"] != n:
            answers.append(json.loads(ws.recv(timeout=30)))
    seqs = [a["seq"] for a in answers]
    assert seqs == sorted(seqs)
    assert len(answers) + answers[-1]["dropped"] == n  # answered or counted as dropped, nothing lost silently
    assert answers[-1]["dropped"] > 0


def test_protocol_violations_close_with_proper_codes(live_server, astronaut_jpeg):
    server = live_server(FER_WS_MAX_MESSAGE_BYTES="100000")
    with connect(server.ws_url + "/ws/stream") as ws:
        ws.send("text is not a frame")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1003
    with connect(server.ws_url + "/ws/stream", max_size=None) as ws:
        ws.send(astronaut_jpeg + b"\0" * 200_000)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1009


def test_abrupt_disconnects_do_not_harm_the_server(live_server, astronaut_jpeg):
    server = live_server()
    for _ in range(5):
        raw = socket.create_connection(("127.0.0.1", server.port))
        raw.sendall(b"GET /ws/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        raw.recv(1024)
        raw.sendall(b"\x82\x7f" + (10_000_000).to_bytes(8, "big") + b"\x00" * 100)  # half a frame, then gone
        raw.close()
        half = socket.create_connection(("127.0.0.1", server.port))
        half.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 500000\r\n\r\n--b\r\n")
        half.close()
    time.sleep(0.5)
    r = httpx.post(server.url + "/predict", files={"file": ("a.jpg", astronaut_jpeg)}, timeout=30)
    assert r.status_code == 200 and len(r.json()["faces"]) == 1
    metrics = httpx.get(server.url + "/metrics").text
    assert "fer_websocket_connections 0.0" in metrics


def test_declared_oversized_body_is_refused_before_it_is_sent(live_server):
    server = live_server(FER_MAX_UPLOAD_BYTES="100000")
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 1000000000\r\n\r\n")
        s.settimeout(10)
        answer = b""
        while b'"}' not in answer:
            chunk = s.recv(4096)
            assert chunk, f"connection closed after {answer!r}"
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b'"code":"payload_too_large"' in answer


def test_missing_model_gives_one_clear_log_line_and_a_not_ready_service(live_server, tmp_path):
    server = live_server(model=tmp_path / "missing.onnx", ready=False)
    assert httpx.get(server.url + "/healthz").status_code == 200
    r = httpx.get(server.url + "/readyz")
    assert r.status_code == 503 and r.json()["code"] == "model_not_ready"
    log = server.stop()
    lines = [line for line in log.splitlines() if "NOT READY" in line]
    assert len(lines) == 1 and "model file not found" in lines[0]
    assert "Traceback" not in log


def test_unknown_fer_variables_are_named_in_the_log(live_server):
    server = live_server(FER_MAX_FACE="3")  # a typo of FER_MAX_FACES
    log = server.stop()
    assert "ignoring unknown setting FER_MAX_FACE (a typo?)" in log


def test_uvicorn_factory_use_reads_the_environment(tiny_model, astronaut_jpeg):
    import os
    import subprocess
    import sys

    from tests.service.conftest import free_port

    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app", "--port", str(port)]
    proc = subprocess.Popen(command, env={**os.environ, "FER_MODEL_PATH": str(tiny_model), "FER_DETECTOR": "haar"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/model").json()["detector"]["name"] == "haar"
        r = httpx.post(f"http://127.0.0.1:{port}/predict", files={"file": ("a.jpg", astronaut_jpeg)}, timeout=30)
        assert r.status_code == 200 and len(r.json()["faces"]) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)
