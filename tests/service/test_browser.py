"""The live demo page in a real browser: Debian's chromium driven by Playwright, a fake camera playing a y4m
video of real moving faces, against a real fer-serve process (tiny test model, real face detection).

Writes test-artifacts/demo.png and tracking.png (screenshots of the streaming page: one face; two tracked
faces and their emotion timeline) and test-artifacts/browser-stream.json (the rate the page reached);
FER_UPDATE_SCREENSHOT=1 also copies the screenshots to docs/ (taken with the shipped model).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from bench.moving_people import detectable_faces, looping, render
from tests.service import conftest
from tests.service.conftest import ASTRONAUT_FACE, FER_LABELS, ROOT, SHIPPED_MODEL, build_onnx, encode, iou
from tests.service.moving_face import moving_face_frames

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
FAKE_UI = "--use-fake-ui-for-media-stream"  # answers the camera prompt with "allow"
FAKE_CAMERA = "--use-fake-device-for-media-stream"
CAMERA_FRAMES = 60
WAIT_MS = 60_000


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 30) -> Path:
    """Raw YUV 4:2:0 video (Chromium's fake camera refuses 4:4:4 with NotFoundError)."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())  # Y plane, then quarter-size U and V
    return path


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> tuple[Path, list[tuple[int, ...]]]:
    """The fake camera's video (the astronaut sliding round a gray 640x480 canvas) and its face box per frame."""
    frames, boxes = zip(*moving_face_frames(astronaut, CAMERA_FRAMES), strict=True)
    return write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", list(frames)), list(boxes)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def launch(playwright: Any) -> Iterator[Callable[..., Any]]:
    """launch(*chromium_flags) -> a Browser (Debian's chromium; Playwright's own download is not available)."""
    browsers: list[Any] = []

    def start(*flags: str) -> Any:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*BROWSER_ARGS, *flags])
        browsers.append(browser)
        return browser

    yield start
    for browser in browsers:
        browser.close()


def open_page(browser: Any, url: str, camera_allowed: bool = True) -> Any:
    context = browser.new_context(permissions=["camera"] if camera_allowed else [],
                                  viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.goto(url + "/")
    return page


def status(page: Any) -> tuple[str, str]:
    return page.get_attribute("#status", "data-state"), page.inner_text("#status")


def wait_for_status(page: Any, *states: str, timeout: int = WAIT_MS) -> tuple[str, str]:
    page.wait_for_function("states => states.includes(document.getElementById('status').dataset.state)",
                           arg=list(states), timeout=timeout)
    return status(page)


def counter(page: Any, attribute: str) -> int:
    return int(page.get_attribute("#overlay", f"data-{attribute}"))


def wait_for_counter(page: Any, attribute: str, at_least: int) -> None:
    page.wait_for_function("([name, n]) => Number(document.getElementById('overlay').dataset[name]) >= n",
                           arg=[attribute, at_least], timeout=WAIT_MS)


def test_webcam_frames_stream_to_the_service_and_faces_are_drawn(live_server, launch, camera, monkeypatch):
    y4m, boxes = camera
    # The documentation's screenshot shows the shipped model; the test itself needs any model.
    model = SHIPPED_MODEL if os.environ.get("FER_UPDATE_SCREENSHOT") == "1" else None
    server = live_server(model)
    browser = launch(FAKE_UI, FAKE_CAMERA, f"--use-file-for-fake-video-capture={y4m}")
    page = open_page(browser, server.url)
    answers: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: answers.append(json.loads(payload))))
    assert wait_for_status(page, "ready")[0] == "ready"
    assert ("fer2013_seed_cnn" if model else "tiny-test-model") in page.inner_text("#model")

    page.click("#start")
    wait_for_counter(page, "faces", 1)
    start, before = time.monotonic(), counter(page, "predictions")
    wait_for_counter(page, "predictions", before + 30)
    elapsed, after = time.monotonic() - start, counter(page, "predictions")
    wait_for_counter(page, "faces", 1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo.png"))  # right away, while that answer's box is on screen

    # What came over the WebSocket: one answer per frame, in order, none dropped (one frame in flight).
    assert len(answers) >= 30  # (Playwright reports frames a little after the page has counted them)
    assert [a["seq"] for a in answers] == list(range(len(answers)))
    assert all(a["type"] == "prediction" and a["dropped"] == 0 for a in answers)
    assert all(a["image"] == {"width": 640, "height": 480} for a in answers)
    with_face = [a["faces"][0] for a in answers if len(a["faces"]) == 1]
    assert len(with_face) >= 0.9 * len(answers)
    # Every box lies on the face's path through the video, and the boxes move with it (new frames are sent).
    assert all(max(iou(face["box"], box) for box in boxes) >= 0.5 for face in with_face)
    xs = [face["box"]["x"] for face in with_face]
    assert max(xs) - min(xs) >= 10
    assert set(with_face[-1]["probabilities"]) == set(FER_LABELS)

    fps_shown = float(page.get_attribute("#fps", "data-value"))
    assert fps_shown > 0 and re.fullmatch(r"\d+\.\d", page.inner_text("#fps"))
    assert re.fullmatch(r"\d+ ms", page.inner_text("#latency"))
    assert re.fullmatch(r"\d+ ms", page.inner_text("#latency-avg"))
    assert page.inner_text("#dropped") == "0"
    assert status(page)[0] in ("streaming", "no-face")
    record = {"fps_shown": fps_shown, "fps_measured": round((after - before) / elapsed, 2),
              "latency_ms_smoothed": float(page.get_attribute("#latency-avg", "data-value")),
              "predictions": after, "chromium": browser.version, "model": "tiny-test-model",
              "frame": {"width": 640, "height": 480}}
    (ARTIFACTS / "browser-stream.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"browser stream: {record['fps_measured']} answers/s measured, {fps_shown:.1f} shown by the page, "
          f"{record['latency_ms_smoothed']:.0f} ms smoothed latency")
    if os.environ.get("FER_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / "demo.png", ROOT / "docs" / "demo.png")

    # The service goes away: the page says so and keeps retrying; a service back on the same port is found again.
    port = server.port
    server.stop()
    text = wait_for_status(page, "reconnecting")[1]
    assert "retrying" in text or "reconnecting" in text
    monkeypatch.setattr(conftest, "free_port", lambda: port)
    live_server()
    resumed_from = counter(page, "predictions")
    wait_for_counter(page, "predictions", resumed_from + 5)
    assert wait_for_status(page, "streaming", "no-face")[0] in ("streaming", "no-face")


@pytest.fixture(scope="module")
def two_people_camera(tmp_path_factory: pytest.TempPathFactory, fer2013: Any) -> Path:
    """The astronaut and a FER2013 face swinging past each other, an 8 s loop at 20 frames a second."""
    from service.config import Settings
    from service.detectors import create_detector

    detector = create_detector(Settings())
    faces = detectable_faces(fer2013.images[fer2013.indices("Training")[:200]],
                             lambda rgb: len(detector.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), rgb, 24)), 1)
    frames = [f.rgb for f in render(looping(faces[0], 160), 160)]
    return write_y4m(tmp_path_factory.mktemp("camera") / "two.y4m", frames, fps=20)


def test_live_page_labels_each_track_and_draws_its_emotion_over_time(live_server, launch, two_people_camera,
                                                                      tmp_path):
    screenshot = os.environ.get("FER_UPDATE_SCREENSHOT") == "1"
    labels = (*FER_LABELS, "contempt")  # an 8-label model: the timeline takes its labels from the answers
    server = live_server(SHIPPED_MODEL if screenshot else build_onnx(tmp_path / "eight.onnx", labels=labels))
    page = open_page(launch(FAKE_UI, FAKE_CAMERA, f"--use-file-for-fake-video-capture={two_people_camera}"),
                     server.url)
    answers: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: answers.append(json.loads(payload))))
    wait_for_status(page, "ready")
    page.click("#start")
    page.wait_for_function("() => { const c = document.getElementById('timeline').dataset;"
                           " return c.tracks.split(',').length >= 2 && Number(c.samples) >= 60; }", timeout=WAIT_MS)
    if screenshot:
        time.sleep(12)  # a longer history for the documentation
    wait_for_counter(page, "faces", 2)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tracking.png"), full_page=True)

    timeline = page.evaluate("() => ({...document.getElementById('timeline').dataset})")
    expected = list(FER_LABELS) if screenshot else list(labels)
    assert timeline["labels"].split(",") == expected
    rows = [int(i) for i in timeline["tracks"].split(",")]
    assert len(rows) >= 2 and len(set(rows)) == len(rows)
    # The rows are the tracks the service reported; the two people hold their tracks (ids are few).
    reported = {face["track_id"] for a in answers if a["type"] == "prediction" for face in a["faces"]}
    assert set(rows) <= reported and len(reported) <= 6, reported
    assert page.get_attribute("#overlay", "data-tracks").count(",") == 1  # two boxes, each with its id
    # Each row is painted: opaque, coloured pixels (the bands) in its last seconds, not the grey background.
    painted = page.evaluate("""() => {
      const c = document.getElementById('timeline'), ctx = c.getContext('2d');
      return [0, 1].map((row) => {
        let n = 0;
        for (let x = c.width - 80; x < c.width - 2; x += 4) {
          const y = 22 + row * 44 + 19;
          const [r, g, b, a] = ctx.getImageData(x, y, 1, 1).data;
          if (a === 255 && !(r === g && g === b)) n += 1;
        }
        return n;
      });
    }""")
    assert all(n > 0 for n in painted), painted
    if screenshot:
        shutil.copyfile(ARTIFACTS / "tracking.png", ROOT / "docs" / "tracking.png")


def test_photo_upload_shows_each_face_with_every_label_of_the_model(live_server, launch, astronaut, tmp_path):
    labels = (*FER_LABELS, "contempt")  # an 8-label model: the page takes its labels from the answers
    server = live_server(build_onnx(tmp_path / "eight.onnx", labels=labels))
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(encode(astronaut, "JPEG", quality=92))
    blank = tmp_path / "wall.png"
    blank.write_bytes(encode(np.full((240, 320, 3), 128, np.uint8), "PNG"))
    page = open_page(launch(), server.url)
    wait_for_status(page, "ready")
    page.click("#tab-upload")
    assert page.is_hidden("#webcam-panel") and page.is_visible("#upload-panel")

    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#upload-results[data-state=done]", state="attached", timeout=WAIT_MS)
    assert page.get_attribute("#upload-results", "data-faces") == "1"
    assert wait_for_status(page, "photo-done")[1] == "Found 1 face in astronaut.jpg."
    faces = page.query_selector_all("#upload-results .face")
    assert len(faces) == 1
    rows = faces[0].query_selector_all("tr[data-label]")
    assert [row.get_attribute("data-label") for row in rows] == list(labels)
    probabilities = [float(row.get_attribute("data-probability")) for row in rows]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    top = faces[0].get_attribute("data-emotion")
    assert top == labels[int(np.argmax(probabilities))]
    assert faces[0].query_selector("tr.top").get_attribute("data-label") == top
    # The photo is drawn at the size the service saw, with the box on the face: its left edge is box green.
    size = page.evaluate("() => [document.getElementById('upload-canvas').width, "
                         "document.getElementById('upload-canvas').height]")
    assert size == [512, 512]
    heading = faces[0].query_selector("h3").inner_text()
    w, h, x, y = (int(v) for v in re.search(r"box (\d+)×(\d+) at \((\d+), (\d+)\)", heading).groups())
    assert iou({"x": x, "y": y, "w": w, "h": h}, ASTRONAUT_FACE) >= 0.5
    pixel = page.evaluate("([x, y]) => Array.from(document.getElementById('upload-canvas').getContext('2d')"
                          ".getImageData(x, y, 1, 1).data)", [x, y + h // 2])
    assert pixel[:3] == [0, 230, 118]

    page.set_input_files("#file", str(blank))
    page.wait_for_selector("#upload-results[data-faces='0'][data-state=done]", state="attached", timeout=WAIT_MS)
    assert "No face" in wait_for_status(page, "no-face")[1]
    assert page.query_selector_all("#upload-results .face") == []


def test_page_says_the_service_is_not_ready_and_streams_nothing(live_server, launch, camera, tmp_path):
    y4m, _ = camera
    server = live_server(tmp_path / "missing.onnx", ready=False)
    page = open_page(launch(FAKE_UI, FAKE_CAMERA, f"--use-file-for-fake-video-capture={y4m}"), server.url)
    text = wait_for_status(page, "not-ready")[1]
    assert "not ready" in text and "model is not loaded" in text
    assert page.inner_text("#model") == "Model: not loaded"
    page.click("#start")  # the camera starts, the stream waits for the service instead of failing
    page.wait_for_function("document.getElementById('video').videoWidth > 0", timeout=WAIT_MS)
    time.sleep(3)
    state, text = status(page)
    assert state == "not-ready" and "not ready" in text
    assert counter(page, "answers") == 0
    page.click("#stop")
    wait_for_status(page, "stopped")
    assert page.evaluate("document.getElementById('video').srcObject") is None and page.is_enabled("#start")


@pytest.mark.parametrize(("flags", "allowed", "state", "words"), [
    ((FAKE_CAMERA,), False, "no-camera-permission", "permission was denied"),  # the prompt is dismissed
    ((FAKE_UI, f"{FAKE_CAMERA}=device-count=0"), True, "no-camera", "No camera was found"),
], ids=["permission-denied", "no-camera"])
def test_page_explains_why_the_camera_cannot_start(live_server, launch, flags, allowed, state, words):
    server = live_server()
    page = open_page(launch(*flags), server.url, camera_allowed=allowed)
    wait_for_status(page, "ready")
    page.click("#start")
    got, text = wait_for_status(page, state, "streaming", "camera-error", "no-camera", "no-camera-permission")
    assert (got, words in text) == (state, True), text
    assert page.is_enabled("#start") and not page.is_enabled("#stop")


def test_page_passes_the_api_key_from_its_own_url(live_server, launch, astronaut, tmp_path):
    server = live_server(FER_API_KEYS="page-key-7")
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(encode(astronaut, "JPEG", quality=92))
    browser = launch()
    for query, faces in (("?api_key=page-key-7", "1"), ("", None)):
        page = browser.new_context().new_page()
        page.goto(f"{server.url}/{query}")
        wait_for_status(page, "ready")
        page.click("#tab-upload")
        page.set_input_files("#file", str(photo))
        if faces is not None:
            page.wait_for_selector("#upload-results[data-state=done]", state="attached", timeout=WAIT_MS)
            assert page.get_attribute("#upload-results", "data-faces") == faces
        else:
            page.wait_for_function("() => document.getElementById('status').innerText.includes('API key')",
                                   timeout=WAIT_MS)


def test_page_lists_every_model_and_answers_with_the_chosen_ones_labels(live_server, launch, astronaut, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    build_onnx(folder / "seven.onnx", name="seven", training={"label_source": "fer2013", "latency": {
        "ms_per_face": 1.0, "batch": 1, "threads": 1, "hardware": "test"}})
    eight = (*FER_LABELS, "contempt")
    build_onnx(folder / "eight.onnx", labels=eight, name="eight", training={"label_source": "ferplus8"})
    server = live_server(FER_MODELS_DIR=str(folder))
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(encode(astronaut, "JPEG", quality=92))
    page = open_page(launch(), server.url)
    wait_for_status(page, "ready")
    options = page.eval_on_selector_all("#model-select option", "os => os.map(o => [o.value, o.selected])")
    assert sorted(options) == [["eight", False], ["seven", True]]  # the default is preselected
    assert page.get_attribute("#model", "data-labels") == ",".join(FER_LABELS)

    page.select_option("#model-select", "eight")
    assert page.get_attribute("#model", "data-labels") == ",".join(eight)
    page.click("#tab-upload")
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#upload-results[data-state=done]", state="attached", timeout=WAIT_MS)
    rows = page.query_selector_all("#upload-results .face tr[data-label]")
    assert [row.get_attribute("data-label") for row in rows] == list(eight)  # contempt included
