"""Face detectors on real photos: every registered detector, group photos, no-face photos, failures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.photos import ASTRONAUT_FACE, HOPPER_FACE, grace_hopper, group_photos, no_face_photos
from service.config import Settings
from service.detectors import (
    DETECTORS,
    Box,
    HaarDetector,
    YuNetDetector,
    clip_box,
    create_detector,
    nms,
    resize_to,
    scale_box,
    shrink_for,
)
from service.detectors.yunet import FACE_PX, suppress
from service.errors import DetectionFailed
from tests.service.conftest import iou, post_image


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def as_tuple(b: Box) -> tuple[int, int, int, int]:
    return (b.x, b.y, b.w, b.h)


@pytest.fixture(params=sorted(DETECTORS))
def detector(request):
    return create_detector(Settings(detector=request.param))


def test_the_astronaut_has_one_face_for_every_detector(detector, astronaut):
    boxes = detector.detect(gray(astronaut), astronaut, min_size=24)
    assert len(boxes) == 1 and iou(as_tuple(boxes[0]), ASTRONAUT_FACE) >= 0.5


def test_grace_hopper_has_one_face_for_every_detector(detector):
    photo = grace_hopper()
    boxes = detector.detect(gray(photo), photo, min_size=24)
    assert len(boxes) == 1 and iou(as_tuple(boxes[0]), HOPPER_FACE) >= 0.5


def test_photos_without_people_give_no_face_for_every_detector(detector):
    flat = np.full((480, 640, 3), 127, np.uint8)
    for rgb in (flat, dict(no_face_photos())["coffee"], dict(no_face_photos())["rocket"]):
        assert detector.detect(gray(rgb), rgb, min_size=24) == []


def test_large_photos_are_detected_downscaled_and_mapped_back(detector, astronaut):
    big = cv2.resize(astronaut, (4000, 4000), interpolation=cv2.INTER_CUBIC)  # a 16-megapixel photo
    boxes = detector.detect(gray(big), big, min_size=24)
    scaled = tuple(round(v * 4000 / 512) for v in ASTRONAUT_FACE)
    assert len(boxes) == 1 and iou(as_tuple(boxes[0]), scaled) >= 0.5


def test_the_default_cnn_detector_finds_every_face_of_group_photos():
    yunet = YuNetDetector()
    for photo in list(group_photos(n=6, seed=1)):
        found = yunet.detect(gray(photo.rgb), photo.rgb, min_size=24)
        assert len(found) == len(photo.faces), photo.name
        for truth in photo.faces:
            assert max(iou(as_tuple(b), truth) for b in found) >= 0.5, (photo.name, truth)


def test_haar_finds_only_real_faces_in_group_photos():
    haar = HaarDetector()
    hits = 0
    for photo in list(group_photos(n=6, seed=1)):
        for b in haar.detect(gray(photo.rgb), photo.rgb, min_size=24):
            assert max(iou(as_tuple(b), t) for t in photo.faces) >= 0.5, photo.name  # no false positive
            hits += 1
    assert hits >= 6


def test_yunet_gives_scores_and_five_landmarks_inside_the_face(astronaut):
    (box,) = YuNetDetector().detect(gray(astronaut), astronaut, min_size=24)
    assert box.score is not None and 0.5 <= box.score <= 1.0
    assert box.landmarks is not None and len(box.landmarks) == 5
    for x, y in box.landmarks:
        assert box.x <= x <= box.x + box.w and box.y <= y <= box.y + box.h
    (right_eye, left_eye) = box.landmarks[:2]
    assert right_eye[0] < left_eye[0]  # image-left eye first


def test_a_face_cut_by_the_border_is_clipped_to_the_image(detector, astronaut):
    cut = np.ascontiguousarray(astronaut[90:, 200:])  # the face's top-left corner is outside
    for b in detector.detect(gray(cut), cut, min_size=24):
        assert b.x >= 0 and b.y >= 0 and b.x + b.w <= cut.shape[1] and b.y + b.h <= cut.shape[0]


def test_resize_clip_scale_and_nms():
    small, fx, fy = resize_to(np.zeros((3000, 4000), np.uint8), shrink_for(4000, 3000, 640))
    assert small.shape == (480, 640) and fx == fy == 4000 / 640
    same, fx, fy = resize_to(small, 1.5)
    assert same is small and fx == fy == 1.0
    assert shrink_for(4000, 3000, 0) == 1.0
    assert clip_box(-10, -5, 50, 40, width=100, height=100) == Box(0, 0, 40, 35)
    assert clip_box(120, 10, 10, 10, width=100, height=100) is None
    assert scale_box(Box(40, 20, 80, 60, 0.9, ((50.0, 30.0),)), 0.25, 100, 100) == Box(10, 5, 20, 15, 0.9,
                                                                                      ((12.5, 7.5),))
    a, b, c = Box(0, 0, 10, 10, 0.9), Box(1, 1, 10, 10, 0.8), Box(50, 50, 10, 10, 0.7)
    assert nms([b, c, a], 0.4) == [a, c]
    xywh = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10], [0, 0, 10, 40]], np.float32)
    assert suppress(xywh, 0.3) == [0, 2, 3]  # best first; the tall box overlaps the first at IoU 1/4


def test_yunet_shrinks_a_frame_only_as_far_as_the_smallest_face_allows():
    yunet = YuNetDetector(max_side=960)  # the default is 640
    assert yunet.scale_for(640, 480, min_size=24) == pytest.approx(FACE_PX / 24)
    assert yunet.scale_for(640, 480, min_size=10) == 1.0  # never enlarged
    assert yunet.scale_for(640, 480, min_size=80) == pytest.approx(FACE_PX / 80)
    assert yunet.scale_for(4032, 3024, min_size=24) == pytest.approx(960 / 4032)  # the cost bound


def test_yunet_finds_a_face_at_the_smallest_size_asked_for(astronaut):
    """The astronaut's face shrunk to about 28 px wide: found with min_size 24 in a 640x480 frame (looked at
    20/24 of its size) and, without the cost bound, in a 1280x720 one; not with min_size 60 (the frame shrunk
    to 1/3: a 9 px face), nor in 1280x720 under the default 640 px bound (a 14 px face)."""
    head = cv2.resize(astronaut[40:200, 150:300], (48, 51), interpolation=cv2.INTER_AREA)
    for width, height in ((640, 480), (1280, 720)):
        frame = np.full((height, width, 3), 120, np.uint8)
        frame[200:251, 300:348] = head
        yunet = YuNetDetector(max_side=0 if width > 640 else 640)
        found = yunet.detect(gray(frame), frame, min_size=24)
        assert len(found) == 1 and 300 <= found[0].x <= 320 and 24 <= found[0].w <= 36, (width, found)
        assert yunet.detect(gray(frame), frame, min_size=60) == []
        if width > 640:
            assert YuNetDetector().detect(gray(frame), frame, min_size=24) == []


def test_detector_failure_is_a_clean_error_not_a_crash(make_app, astronaut_jpeg, monkeypatch):
    from fastapi.testclient import TestClient

    class Broken:
        def run(self, *args):  # what onnxruntime raises is its own type
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION")

    with TestClient(make_app()) as client:
        detector = client.app.state.service.pipeline.detector
        monkeypatch.setattr(detector, "_serial", Broken())
        monkeypatch.setattr(detector, "_parallel", Broken())
        r = post_image(client, astronaut_jpeg)
        assert r.status_code == 500
        assert r.json() == {"detail": "Face detection failed on this image.", "code": "detection_failed"}
        monkeypatch.undo()
        assert post_image(client, astronaut_jpeg).status_code == 200


def test_haar_failure_is_typed(astronaut, monkeypatch):
    haar = HaarDetector()

    class Broken:
        def detectMultiScale(self, *a, **kw):
            raise cv2.error("cascade failed")

    monkeypatch.setattr(haar, "_cascade", lambda: Broken())
    with pytest.raises(DetectionFailed):
        haar.detect(gray(astronaut), None, min_size=24)


def test_unknown_detector_setting_is_refused():
    with pytest.raises(ValueError):
        Settings(detector="mtcnn")
