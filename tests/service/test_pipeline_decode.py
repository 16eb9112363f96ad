"""The pipeline decodes only what it needs: a large JPEG at a reduced DCT scale, more only when the smallest
face's crop needs it; its boxes are in full-image pixels and equal (IoU >= 0.9) to those of a full decode."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import service.pipeline
from bench.photos import sized_photos
from service.app import load_pipeline
from service.config import Settings
from service.detectors import Box, iou
from tests.service.conftest import SHIPPED_MODEL, encode, post_image
from tests.service.test_images import with_exif_orientation


@pytest.fixture(scope="module")
def pipeline():
    return load_pipeline(Settings(model_path=SHIPPED_MODEL))


def boxes(prediction) -> list[Box]:
    return [Box(**f["box"]) for f in prediction.faces]


def scales_of_decodes(monkeypatch) -> list[float]:
    """The scale of every decode the pipeline makes from now on."""
    seen: list[float] = []
    real = service.pipeline.decode

    def spy(*args, **kwargs):
        image = real(*args, **kwargs)
        seen.append(image.scale)
        return image

    monkeypatch.setattr(service.pipeline, "decode", spy)
    return seen


def photo(width: int, height: int, faces: int) -> np.ndarray:
    """The bench's photo of that many faces (15-30% of the frame height each), enlarged to width x height."""
    small = next(p for p in sized_photos(None, sizes=((1920, 1080),), counts=(faces,)))
    return cv2.resize(small.rgb, (width, height), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("size", [(1920, 1080), (4032, 3024)])
def test_boxes_from_a_reduced_decode_equal_those_of_a_full_decode(pipeline, monkeypatch, size):
    data = encode(photo(*size, faces=3), "JPEG")
    scales = scales_of_decodes(monkeypatch)
    reduced = pipeline.run_bytes(data, 20, 24)
    assert scales and scales[0] < 1.0  # 1/2 for 1080p, 1/4 for 12 MP
    full = pipeline.run(pipeline.decode(data), 20, 24)  # decode() without a face size: in full
    assert scales[-1] == 1.0
    assert (reduced.width, reduced.height) == (full.width, full.height) == size
    assert len(boxes(reduced)) == len(boxes(full)) == 3
    for a, b in zip(boxes(reduced), boxes(full), strict=True):
        assert iou(a, b) >= 0.9, (a, b)
    for a, b in zip(reduced.faces, full.faces, strict=True):
        assert abs(a["confidence"] - b["confidence"]) < 0.1  # crops from fewer pixels, the same faces


def test_a_face_too_small_to_crop_from_the_reduced_decode_is_cropped_from_a_larger_one(pipeline, monkeypatch):
    big_face = photo(4032, 3024, faces=1)  # the face is some 700 px: 1/4 scale leaves plenty for a 48 px crop
    scales = scales_of_decodes(monkeypatch)
    pipeline.run_bytes(encode(big_face, "JPEG"), 20, 24)
    assert scales == [0.25]
    # the same frame with the face shrunk to about 150 px: at 1/4 its crop would be 37 px
    frame = np.full((3024, 4032, 3), 110, np.uint8)
    small = next(p for p in sized_photos(None, sizes=((1920, 1080),), counts=(1,)))
    (x, y, w, h) = small.faces[0]
    head = small.rgb[max(0, y - h // 2): y + h + h // 2, max(0, x - w // 2): x + w + w // 2]
    head = cv2.resize(head, None, fx=150 / w, fy=150 / w, interpolation=cv2.INTER_AREA)
    frame[1000:1000 + head.shape[0], 2000:2000 + head.shape[1]] = head
    scales.clear()
    prediction = pipeline.run_bytes(encode(frame, "JPEG"), 20, 24)
    assert len(prediction.faces) == 1 and 120 <= prediction.faces[0]["box"]["w"] <= 180
    assert scales == [0.25, 0.5]  # detected at 1/4, re-decoded at 1/2 for a crop of >= 48 px


def test_a_sideways_12_megapixel_photo_gets_boxes_in_the_upright_frame(client, pipeline, monkeypatch):
    upright = photo(3024, 4032, faces=1)  # portrait
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # as a camera held sideways stores it
    scales = scales_of_decodes(monkeypatch)
    r = post_image(client, with_exif_orientation(stored, 6))
    assert r.status_code == 200 and scales[0] == 0.25
    body = r.json()
    assert body["image"] == {"width": 3024, "height": 4032}
    expected = pipeline.run_bytes(encode(upright, "JPEG"), 20, 24)
    assert len(body["faces"]) == 1 and iou(Box(**body["faces"][0]["box"]), boxes(expected)[0]) >= 0.9
