"""Face detectors on real photos: every registered detector, group photos, no-face photos, failures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.photos import ASTRONAUT_FACE, HOPPER_FACE, grace_hopper, group_photos, no_face_photos
from service.config import Settings
from service.detectors import DETECTORS, Box, HaarDetector, YuNetDetector, clip_box, create_detector, downscale, nms
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


def test_downscale_clip_and_nms():
    small, scale = downscale(np.zeros((3000, 4000), np.uint8), 640)
    assert small.shape == (480, 640) and scale == 4000 / 640
    assert clip_box(-10, -5, 50, 40, width=100, height=100) == Box(0, 0, 40, 35)
    assert clip_box(120, 10, 10, 10, width=100, height=100) is None
    a, b, c = Box(0, 0, 10, 10, 0.9), Box(1, 1, 10, 10, 0.8), Box(50, 50, 10, 10, 0.7)
    assert nms([b, c, a], 0.4) == [a, c]


def test_detector_failure_is_a_clean_error_not_a_crash(make_app, astronaut_jpeg, monkeypatch):
    import ctypes

    from fastapi.testclient import TestClient

    def broken(*args):  # libfacedetection returns a null pointer when it cannot run
        return ctypes.POINTER(ctypes.c_int)()

    with TestClient(make_app()) as client:
        pipeline = client.app.state.service.pipeline
        monkeypatch.setattr(pipeline.detector, "_fn", broken)
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
