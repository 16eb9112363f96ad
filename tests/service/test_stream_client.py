"""fer-stream (the installed console script) against a real fer-serve process: a generated video file and an
image folder of a real moving face, send-on-answer and paced modes, the annotated video, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from service.stream_client import FrameResult, Summary, stream_url
from tests.service.conftest import free_port, iou
from tests.service.moving_face import moving_face_frames

N_FRAMES = 30
FER_STREAM = str(Path(sys.executable).parent / "fer-stream")
BOX_BGR = (118, 230, 0)


def run_stream(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FER_STREAM, *args], capture_output=True, text=True, timeout=timeout)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> tuple[Path, list[tuple[int, ...]]]:
    """An MPEG-4 video (15 fps, 640x480) of the astronaut sliding round a gray canvas, and the face box per frame."""
    path = tmp_path_factory.mktemp("clip") / "face.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 15, (640, 480))
    boxes = []
    for frame, box in moving_face_frames(astronaut, N_FRAMES):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        boxes.append(box)
    writer.release()
    return path, boxes


def assert_one_face_on_the_path(answers: list[dict[str, Any]], boxes: list[tuple[int, ...]]) -> None:
    for answer in answers:
        assert answer["type"] == "prediction", answer
        assert len(answer["faces"]) == 1, answer["seq"]
        assert iou(answer["faces"][0]["box"], boxes[answer["seq"]]) >= 0.5, (answer["seq"], answer["faces"][0])


def test_stream_url_adds_the_face_options_as_query_parameters():
    assert stream_url("ws://h:1/ws/stream") == "ws://h:1/ws/stream"
    assert stream_url("ws://h:1/ws/stream", 2, 40) == "ws://h:1/ws/stream?max_faces=2&min_face_size=40"
    assert stream_url("wss://h/ws/stream?token=x", min_face_size=30) == "wss://h/ws/stream?token=x&min_face_size=30"
    assert (stream_url("ws://h:1/ws/stream", detect_every=3, smoothing_s=0.0, frame_rate=29.97, model=None)
            == "ws://h:1/ws/stream?detect_every=3&smoothing_s=0&frame_rate=29.97")
    assert stream_url("ws://h:1/ws/stream", model="ferplus_vgg") == "ws://h:1/ws/stream?model=ferplus_vgg"


def test_summary_gives_each_tracks_time_in_view_and_dominant_emotions():
    summary = Summary(mode="lockstep")
    frame = np.zeros((2, 2, 3), np.uint8)

    def face(track_id: int, emotion: str) -> dict[str, Any]:
        return {"track_id": track_id, "emotion": "raw-label", "smoothed": {"emotion": emotion}}

    moods = ["calm", "calm", "glad", "calm"]
    for seq, mood in enumerate(moods):
        faces = [face(1, mood)] + ([face(2, "glad")] if seq >= 2 else [])
        summary.add(FrameResult(seq, frame, {"type": "prediction", "t": seq * 0.5, "faces": faces, "dropped": 0}))
    summary.add(FrameResult(4, frame, {"type": "error", "seq": 4, "code": "invalid_image", "detail": "x"}))
    tracks = summary.as_dict()["tracks"]
    assert tracks == [
        {"track_id": 1, "first_t": 0.0, "last_t": 1.5, "time_in_view_s": 1.5, "frames": 4,
         "dominant_emotions": [{"emotion": "calm", "share": 0.75}, {"emotion": "glad", "share": 0.25}]},
        {"track_id": 2, "first_t": 1.0, "last_t": 1.5, "time_in_view_s": 0.5, "frames": 2,
         "dominant_emotions": [{"emotion": "glad", "share": 1.0}]},
    ]


@pytest.mark.slow
def test_video_file_gets_one_answer_per_frame_with_the_moving_face(live_server, clip):
    path, boxes = clip
    server = live_server()
    result = run_stream(str(path), "--url", server.ws_url + "/ws/stream")
    assert result.returncode == 0, result.stderr
    answers = json_lines(result.stdout)
    assert [a["seq"] for a in answers] == list(range(N_FRAMES))
    assert_one_face_on_the_path(answers, boxes)
    assert all(a["dropped"] == 0 and a["latency_ms"] > 0 for a in answers)
    assert all(a["image"] == {"width": 640, "height": 480} for a in answers)
    assert result.stderr == ""
    # One person, one track; the frames are timed by the file's 15 frames a second, not by the service's pace.
    assert {a["faces"][0]["track_id"] for a in answers} == {1}
    assert [a["t"] for a in answers] == pytest.approx([seq / 15 for seq in range(N_FRAMES)], abs=1e-4)

    result = run_stream(str(path), "--url", server.ws_url + "/ws/stream", "--summary", "--detect-every", "3")
    assert result.returncode == 0, result.stderr
    (track,) = json.loads(result.stdout)["tracks"]
    assert (track["track_id"], track["frames"]) == (1, N_FRAMES)
    assert track["time_in_view_s"] == pytest.approx((N_FRAMES - 1) / 15, abs=1e-3)
    shares = track["dominant_emotions"]
    assert shares and shares == sorted(shares, key=lambda e: -e["share"]) and sum(e["share"] for e in shares) <= 1.0


@pytest.mark.slow
def test_image_folder_is_streamed_in_name_order(live_server, astronaut, tmp_path):
    frames = list(moving_face_frames(astronaut, 12))
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in reversed(range(len(frames))):  # written out of order: the names, not the dates, give the order
        suffix = ".png" if i % 2 else ".jpg"
        cv2.imwrite(str(folder / f"frame_{i:03d}{suffix}"), cv2.cvtColor(frames[i][0], cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not an image: ignored")
    server = live_server()
    result = run_stream(str(folder), "--url", server.ws_url + "/ws/stream")
    assert result.returncode == 0, result.stderr
    answers = json_lines(result.stdout)
    assert [a["seq"] for a in answers] == list(range(len(frames)))
    assert_one_face_on_the_path(answers, [box for _, box in frames])

    # --max-faces and --min-face-size reach the service: no face is 200 px wide, so none is reported.
    result = run_stream(str(folder), "--url", server.ws_url + "/ws/stream", "--min-face-size", "200",
                        "--max-faces", "1", "--summary")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["frames_sent"], summary["answered"], summary["faces"]) == (len(frames), len(frames), 0)


@pytest.mark.slow
def test_paced_sending_accounts_for_every_frame_and_writes_them_all(live_server, clip, tmp_path):
    path, _ = clip
    server = live_server()
    output = tmp_path / "annotated.mp4"
    # 1000 frames/s: far faster than any service detects faces, so the service must drop some.
    result = run_stream(str(path), "--url", server.ws_url + "/ws/stream", "--fps", "1000", "--summary",
                        "--output", str(output))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["mode"] == "paced" and summary["frames_sent"] == N_FRAMES
    assert summary["dropped"] > 0 and summary["errors"] == 0
    assert summary["answered"] + summary["dropped"] == summary["frames_sent"]
    assert summary["faces"] == summary["answered"]
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"]
    assert f"dropped {summary['dropped']} of {N_FRAMES} frames" in result.stderr
    assert count_frames(output) == N_FRAMES  # skipped frames are written too, with the newest answer before them


@pytest.mark.slow
def test_output_video_shows_each_frames_box(live_server, clip, tmp_path):
    path, _ = clip
    server = live_server()
    output = tmp_path / "annotated.mp4"
    result = run_stream(str(path), "--url", server.ws_url + "/ws/stream", "--output", str(output))
    assert result.returncode == 0, result.stderr
    answers = json_lines(result.stdout)
    capture = cv2.VideoCapture(str(output))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(15)
    written = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        box = answers[written]["faces"][0]["box"]
        left_edge = frame[box["y"] + 10:box["y"] + box["h"] - 10, box["x"]].astype(int)  # through the box's line
        assert np.abs(left_edge.mean(axis=0) - BOX_BGR).max() < 40, (written, left_edge.mean(axis=0))
        written += 1
    assert written == len(answers) == N_FRAMES


def count_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing-file", "not-a-video", "connection-refused", "not-ready"])
def test_failures_are_one_line_and_exit_2(case, live_server, clip, tmp_path):
    path, _ = clip
    url = f"ws://127.0.0.1:{free_port()}/ws/stream"  # nothing listens there
    expected = "connection refused"
    if case == "missing-file":
        path, expected = tmp_path / "nope.mp4", "no such file"
    elif case == "not-a-video":
        path, expected = tmp_path / "model.onnx", "not a video"
        path.write_bytes(b"\x08\x07" * 100)
    elif case == "not-ready":
        server = live_server(tmp_path / "missing.onnx", ready=False)
        url, expected = server.ws_url + "/ws/stream", "not ready"
    result = run_stream(str(path), "--url", url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("fer-stream: error: ") and expected in result.stderr, result.stderr


@pytest.mark.slow
def test_api_key_is_sent_when_the_service_needs_one(live_server, clip):
    path, _ = clip
    server = live_server(FER_API_KEYS="stream-key-1")
    url = server.ws_url + "/ws/stream"
    refused = run_stream(str(path), "--url", url, "--limit", "2")
    assert refused.returncode == 2 and "needs an API key" in refused.stderr, refused.stderr
    ok = run_stream(str(path), "--url", url, "--limit", "2", "--api-key", "stream-key-1", "--summary")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["answered"] == 2
