"""Health, readiness, model info, metrics, request IDs and the OpenAPI document."""

from __future__ import annotations

import os
import time

from tests.service.conftest import FER_LABELS, post_image


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_model_info_comes_from_the_contract(client):
    info = client.get("/v1/model").json()
    assert info["name"] == "tiny-test-model" and info["version"] == "0.0.1"
    assert info["labels"] == list(FER_LABELS)
    assert info["input"] == {"name": "image", "height": 48, "width": 48, "channels": 1, "colour": "gray",
                             "value_range": [0.0, 255.0]}
    assert info["training"]["metrics"]["PrivateTest"]["accuracy"] == 0.5
    assert info["detector"] == {"name": "yunet", "model": "YuNet-s (libfacedetection, ONNX)", "confidence": 0.6,
                                "face_px": 20, "max_side": 640, "nms_iou": 0.4,
                                "threads": {"under_load": 1, "idle": len(os.sched_getaffinity(0))}}


def metric(text: str, line_start: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(line_start)]
    assert lines, f"no metric line starting with {line_start!r}"
    return float(lines[0].rsplit(" ", 1)[1])


def test_metrics_count_what_happened(client, astronaut_jpeg):
    for _ in range(3):
        post_image(client, astronaut_jpeg)
    post_image(client, b"garbage")
    with client.websocket_connect("/ws/stream") as ws:
        ws.send_bytes(astronaut_jpeg)
        ws.receive_json()
        open_now = metric(client.get("/metrics").text, "fer_websocket_connections ")
    deadline = time.monotonic() + 5  # the server notices the close a moment after the client
    while metric(client.get("/metrics").text, "fer_websocket_connections ") != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    text = client.get("/metrics").text
    assert metric(text, 'fer_http_requests_total{method="POST",route="/predict",status="200"}') == 3
    assert metric(text, 'fer_http_requests_total{method="POST",route="/predict",status="415"}') == 1
    assert metric(text, 'fer_faces_detected_total{source="http"}') == 3
    assert metric(text, 'fer_faces_detected_total{source="stream"}') == 1
    assert metric(text, 'fer_images_processed_total{source="http"}') == 3
    assert metric(text, 'fer_http_request_duration_seconds_count{method="POST",route="/predict",status="200"}') == 3
    assert metric(text, 'fer_inference_stage_seconds_count{stage="detect"}') == 4
    assert open_now == 1 and metric(text, "fer_websocket_connections ") == 0
    assert metric(text, "fer_model_ready ") == 1
    again = client.get("/metrics").text
    assert metric(again, 'fer_http_requests_total{method="GET",route="/metrics",status="200"}') >= 1


def test_request_id_is_echoed_or_made(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"}).headers["x-request-id"]
    assert len(made) == 32 and made != "bad id with spaces"


def test_openapi_documents_every_route_with_examples(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/predict", "/healthz", "/readyz", "/v1/model", "/metrics"} <= set(paths)
    predict = paths["/predict"]["post"]
    assert "multipart/form-data" in predict["requestBody"]["content"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(predict["responses"])
    schemas = spec["components"]["schemas"]
    assert "example" in schemas["PredictResponse"] and "example" in schemas["ErrorResponse"]
    assert client.get("/docs").status_code == 200


def test_allocator_tuning_applies_on_glibc():
    import platform

    from service.allocator import tune_allocator

    if platform.libc_ver()[0] == "glibc":
        assert tune_allocator() is True
