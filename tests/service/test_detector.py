"""Face detection: the notebook's Haar cascade on real photos, downscaling and box clipping."""

from __future__ import annotations

import cv2
import numpy as np

from service.detector import HaarDetector, clip_box, downscale
from tests.service.conftest import ASTRONAUT_FACE, iou


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def test_haar_finds_the_astronauts_face_with_the_notebook_settings(astronaut):
    detector = HaarDetector()
    assert (detector.scale_factor, detector.min_neighbors) == (1.32, 5)
    boxes = detector.detect(gray(astronaut), None, min_size=24)
    assert len(boxes) == 1 and iou((boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h), ASTRONAUT_FACE) >= 0.5


def test_large_images_are_detected_downscaled_and_boxes_mapped_back(astronaut):
    big = cv2.resize(astronaut, (4000, 4000), interpolation=cv2.INTER_CUBIC)  # a 16-megapixel photo
    boxes = HaarDetector(max_side=640).detect(gray(big), None, min_size=24)
    scaled = tuple(int(v * 4000 / 512) for v in ASTRONAUT_FACE)
    assert len(boxes) == 1 and iou((boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h), scaled) >= 0.5


def test_downscale_keeps_aspect_and_reports_the_factor():
    small, scale = downscale(np.zeros((3000, 4000), np.uint8), 640)
    assert small.shape == (480, 640) and scale == 4000 / 640
    same, one = downscale(np.zeros((480, 640), np.uint8), 640)
    assert same.shape == (480, 640) and one == 1.0


def test_boxes_are_clipped_to_the_image():
    assert clip_box(-10, -5, 50, 40, width=100, height=100) == clip_box(0, 0, 40, 35, 100, 100)
    box = clip_box(90, 95, 30, 30, width=100, height=100)
    assert box is not None and (box.x + box.w, box.y + box.h) == (100, 100)
    assert clip_box(120, 10, 10, 10, width=100, height=100) is None


def test_no_face_in_a_flat_image():
    assert HaarDetector().detect(np.full((480, 640), 127, np.uint8), None, min_size=24) == []
