"""WebSocket /ws/stream through TestClient: answers, ordering, latest-frame-wins accounting, errors, tracks,
smoothing and detection only when needed."""

from __future__ import annotations

import time

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.service.conftest import ASTRONAUT_FACE, iou


def receive_until(ws, last_seq: int) -> list[dict]:
    answers = []
    while True:
        msg = ws.receive_json()
        answers.append(msg)
        if msg.get("seq") == last_seq:
            return answers


def test_each_frame_gets_a_prediction_in_order(client, astronaut_jpeg):
    times = []
    with client.websocket_connect("/ws/stream") as ws:
        for seq in range(3):
            ws.send_bytes(astronaut_jpeg)
            msg = ws.receive_json()
            assert msg["type"] == "prediction" and msg["seq"] == seq and msg["dropped"] == 0
            assert len(msg["faces"]) == 1 and iou(msg["faces"][0]["box"], ASTRONAUT_FACE) >= 0.5
            assert set(msg["timings_ms"]) == {"decode", "detect", "classify", "total"}
            face = msg["faces"][0]
            assert (face["track_id"], face["track_frames"]) == (1, seq + 1)
            assert set(face["smoothed"]["probabilities"]) == set(face["probabilities"])
            assert sum(face["smoothed"]["probabilities"].values()) == pytest.approx(1.0)
            times.append((msg["t"], face["track_age_s"]))
    assert times[0] == (times[0][0], 0.0) and times[0][0] >= 0
    assert times == sorted(times) and times[2][1] == pytest.approx(times[2][0] - times[0][0], abs=1e-3)


def test_a_bad_frame_is_an_error_and_the_tracks_survive_it(client, astronaut_jpeg):
    with client.websocket_connect("/ws/stream?frame_rate=10") as ws:
        ws.send_bytes(astronaut_jpeg)
        first = ws.receive_json()["faces"][0]
        ws.send_bytes(astronaut_jpeg[:3000])
        assert ws.receive_json()["code"] == "invalid_image"
        ws.send_bytes(astronaut_jpeg)
        answer = ws.receive_json()
    face = answer["faces"][0]
    assert (first["track_id"], face["track_id"], face["track_frames"]) == (1, 1, 2)
    assert (answer["t"], face["track_age_s"]) == (0.2, 0.2)  # seq 2 at 10 frames a second


def test_full_detection_every_n_frames_and_near_the_tracks_between(client, astronaut_jpeg):
    with client.websocket_connect("/ws/stream?detect_every=3") as ws:
        modes, ids = [], set()
        for _ in range(7):
            ws.send_bytes(astronaut_jpeg)
            msg = ws.receive_json()
            modes.append(msg["detection"])
            (face,) = msg["faces"]
            assert iou(face["box"], ASTRONAUT_FACE) >= 0.5
            ids.add(face["track_id"])
    assert modes == ["full", "regions", "regions", "full", "regions", "regions", "full"] and ids == {1}
    with client.websocket_connect("/ws/stream?detect_every=1") as ws:
        for _ in range(3):
            ws.send_bytes(astronaut_jpeg)
            assert ws.receive_json()["detection"] == "full"


def test_a_face_gone_from_its_region_is_looked_for_in_the_whole_frame(client, astronaut):
    """The face jumps across the frame between two region frames: the regions miss it, so that same frame is
    detected in full and the face is found (a new track: too far from the old one to be the same person)."""
    import numpy as np

    from tests.service.conftest import encode
    left = np.full((512, 1024, 3), 128, np.uint8)
    left[:, :512] = astronaut
    right = np.full((512, 1024, 3), 128, np.uint8)
    right[:, 512:] = astronaut
    with client.websocket_connect("/ws/stream?detect_every=10&frame_rate=10") as ws:
        answers = []
        for frame in (left, left, right):
            ws.send_bytes(encode(frame))
            answers.append(ws.receive_json())
    assert [a["detection"] for a in answers] == ["full", "regions", "full"]
    assert [len(a["faces"]) for a in answers] == [1, 1, 1]
    assert answers[2]["faces"][0]["box"]["x"] > 512 and answers[2]["faces"][0]["track_id"] == 2


def test_smoothing_is_an_average_over_time_with_the_asked_time_constant(client, astronaut):
    """Two frames 0.1 s apart whose raw probabilities differ (the test model reads the brightness): the
    smoothed answer is the exponential average with weight 1 - exp(-0.1 / smoothing_s); 0 turns it off."""
    import math

    from tests.service.conftest import encode
    darker = encode((astronaut * 0.7).astype("uint8"))
    for smoothing in (2.0, 0.0):
        with client.websocket_connect(f"/ws/stream?frame_rate=10&smoothing_s={smoothing}") as ws:
            faces = []
            for data in (encode(astronaut), darker):
                ws.send_bytes(data)
                faces.append(ws.receive_json()["faces"][0])
        (a, b) = faces
        weight = 1 - math.exp(-0.1 / smoothing) if smoothing else 1.0
        assert a["smoothed"]["probabilities"] == pytest.approx(a["probabilities"])
        assert a["probabilities"] != pytest.approx(b["probabilities"], abs=1e-3)
        for label, p in b["smoothed"]["probabilities"].items():
            assert p == pytest.approx(a["probabilities"][label] + weight * (b["probabilities"][label] -
                                                                            a["probabilities"][label]), abs=1e-6)


@pytest.mark.parametrize("query", ["detect_every=0", "smoothing_s=-1", "frame_rate=0", "detect_every=two"])
def test_invalid_stream_options_are_refused_in_words(client, query):
    with client.websocket_connect(f"/ws/stream?{query}") as ws:
        refusal = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    assert (refusal["seq"], refusal["code"]) == (None, "invalid_parameter")
    assert refusal["detail"].startswith(query.split("=")[0] + ": ")


@pytest.fixture
def slow_client(make_app, monkeypatch):
    """A service whose pipeline takes 40 ms a frame, so a fast producer must be dropped."""
    from fastapi.testclient import TestClient

    from service.pipeline import Pipeline

    real = Pipeline.run_bytes

    def slow(self, *args, **kwargs):
        time.sleep(0.04)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "run_bytes", slow)
    with TestClient(make_app()) as c:
        yield c


def test_fast_producer_is_dropped_latest_frame_wins_and_accounted(slow_client, astronaut_jpeg):
    n = 40
    with slow_client.websocket_connect("/ws/stream") as ws:
        for _ in range(n):
            ws.send_bytes(astronaut_jpeg)
        answers = receive_until(ws, n - 1)  # the newest frame is never dropped
    seqs = [a["seq"] for a in answers]
    assert all(a["type"] == "prediction" for a in answers)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    dropped = answers[-1]["dropped"]
    assert dropped > 0
    assert len(answers) + dropped == n  # every frame is either answered or counted as dropped
    text = slow_client.get("/metrics").text
    assert f'fer_stream_frames_total{{outcome="dropped"}} {float(dropped)}' in text
    assert f'fer_stream_frames_total{{outcome="processed"}} {float(len(answers))}' in text


def test_bad_frame_gets_an_error_and_the_stream_goes_on(client, astronaut_jpeg):
    with client.websocket_connect("/ws/stream") as ws:
        ws.send_bytes(b"this is not a jpeg")
        err = ws.receive_json()
        assert err == {"type": "error", "seq": 0, "code": "unsupported_media_type", "detail": err["detail"]}
        ws.send_bytes(astronaut_jpeg[:2000])
        assert ws.receive_json()["code"] == "invalid_image"
        ws.send_bytes(astronaut_jpeg)
        ok = ws.receive_json()
        assert ok["type"] == "prediction" and ok["seq"] == 2


def test_text_message_closes_with_1003(client):
    with client.websocket_connect("/ws/stream") as ws:
        ws.send_text("hello")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1003


def test_oversized_frame_closes_with_1009(make_app, astronaut_jpeg):
    from fastapi.testclient import TestClient

    with TestClient(make_app(ws_max_message_bytes=50_000)) as c, c.websocket_connect("/ws/stream") as ws:
        ws.send_bytes(astronaut_jpeg + b"\x00" * 60_000)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1009


def test_idle_stream_is_closed(make_app):
    from fastapi.testclient import TestClient

    with (TestClient(make_app(ws_idle_timeout_s=0.3)) as c, c.websocket_connect("/ws/stream") as ws,
          pytest.raises(WebSocketDisconnect) as closed):
        ws.receive_json()
    assert closed.value.code == 1000


def test_stream_to_a_service_without_a_model_closes_with_1013(make_app, tmp_path):
    from fastapi.testclient import TestClient

    with TestClient(make_app(model_path=tmp_path / "none.onnx")) as c, c.websocket_connect("/ws/stream") as ws:
        assert ws.receive_json()["code"] == "model_not_ready"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1013


def test_stream_options_are_query_parameters(client, astronaut):
    import numpy as np

    from tests.service.conftest import encode
    canvas = np.full((400, 800, 3), 200, np.uint8)
    canvas[50:350, 20:320] = astronaut[0:300, 100:400]
    canvas[50:350, 420:720] = astronaut[0:300, 100:400]
    with client.websocket_connect("/ws/stream?max_faces=1") as ws:
        ws.send_bytes(encode(canvas))
        assert len(ws.receive_json()["faces"]) == 1


def test_streams_beyond_the_connection_limit_are_told_to_retry(make_app, astronaut_jpeg):
    from fastapi.testclient import TestClient

    with (TestClient(make_app(ws_max_connections=2)) as c, c.websocket_connect("/ws/stream") as a,
          c.websocket_connect("/ws/stream") as b):
        with c.websocket_connect("/ws/stream") as third:
            assert third.receive_json()["code"] == "overloaded"
            with pytest.raises(WebSocketDisconnect) as closed:
                third.receive_json()
            assert closed.value.code == 1013
        for ws in (a, b):
            ws.send_bytes(astronaut_jpeg)
            assert ws.receive_json()["type"] == "prediction"
