"""Faults: a bad model file or contract leaves a clear log line and a not-ready service (or, when
asked, a clean refusal to start); SIGTERM lets in-flight requests finish."""

from __future__ import annotations

import json
import logging
import signal
import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from model_contract import InputSpec, ModelContract
from tests.service.conftest import FER_LABELS, build_onnx, post_image


def bad_models(tmp_path):
    good = build_onnx(tmp_path / "good.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 3])
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("this is a text file, not a model")
    mismatched = ModelContract(name="m", version="1", labels=FER_LABELS, input=InputSpec(height=64, width=64))
    return {
        "missing": (tmp_path / "nope.onnx", "model file not found"),
        "truncated": (truncated, "not a loadable ONNX model"),
        "not-onnx": (not_onnx, "not a loadable ONNX model"),
        "no-contract": (build_onnx(tmp_path / "bare.onnx", contract=False), "no 'fer_contract' metadata"),
        "mismatched-contract": (build_onnx(tmp_path / "mismatch.onnx", contract=mismatched), "does not match"),
        "wrong-label-count": (build_onnx(tmp_path / "eight.onnx", out_classes=8), "7 labels"),
    }


@pytest.mark.parametrize("fault", ["missing", "truncated", "not-onnx", "no-contract", "mismatched-contract",
                                   "wrong-label-count"])
def test_bad_model_gives_one_log_line_and_a_not_ready_service(make_app, tmp_path, caplog, fault, astronaut_jpeg):
    path, reason = bad_models(tmp_path)[fault]
    with caplog.at_level(logging.ERROR, logger="service.app"), TestClient(make_app(model_path=path)) as c:
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["code"] == "model_not_ready"
        r = post_image(c, astronaut_jpeg)
        assert r.status_code == 503 and r.json()["code"] == "model_not_ready"
        assert c.get("/v1/model").status_code == 503
        assert "fer_model_ready 0.0" in c.get("/metrics").text
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "service.app"]
    assert len(lines) == 1 and lines[0].startswith("NOT READY:") and reason in lines[0], lines
    assert not any(rec.exc_info for rec in caplog.records)  # a sentence, not a traceback


def test_require_model_refuses_to_start_instead(make_app, tmp_path):
    app = make_app(model_path=tmp_path / "nope.onnx", require_model=True)
    with pytest.raises(RuntimeError, match="refusing to start without a model"), TestClient(app):
        pass


@pytest.mark.slow
def test_require_model_makes_the_server_exit_with_the_reason(live_server, tmp_path):
    from tests.service.conftest import LiveServer

    server = LiveServer(tmp_path / "nope.onnx", {"FER_REQUIRE_MODEL": "true"})
    assert server.proc.wait(timeout=60) != 0
    log = server.output()
    assert "NOT READY: model file not found" in log and "refusing to start" in log


@pytest.mark.slow
def test_sigterm_lets_an_in_flight_request_finish(live_server, astronaut_jpeg):
    server = live_server()
    boundary = "fer-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + astronaut_jpeg + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}"
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(head + body[: len(body) // 2])  # the request is in flight...
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)  # ...when the orchestrator stops the service
        time.sleep(0.5)
        s.sendall(body[len(body) // 2 :])
        s.settimeout(30)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 200 OK", answer[:300]
    payload = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert len(payload["faces"]) == 1
    # then it exits cleanly (uvicorn re-raises SIGTERM after its graceful shutdown: status -15 / 143)
    assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    log = server.output()
    assert "Traceback" not in log and "Finished server process" in log
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz", timeout=1)
