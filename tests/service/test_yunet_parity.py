"""The shipped YuNet ONNX file against its reference, libfacedetection in the yuface wheel, on real photos:
the same faces, boxes within IoU 0.95 and landmarks within 1.5 px (the library rounds its outputs down to
whole pixels and its scores down to 0.01), and the file is exactly what the converter makes from the wheel."""

from __future__ import annotations

import hashlib
import importlib.util

import cv2
import numpy as np
import pytest

from bench.photos import astronaut, grace_hopper, group_photos, sized_photos
from bench.yuface_reference import YuFaceDetector, library_path
from service.detectors import YuNetDetector, iou
from service.detectors.yunet import MODEL
from tests.service.conftest import ROOT

WHEEL = "yuface-2023.5.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
LIBRARY_SHA256 = "7fc3c140b563f449ce7cb5bd102ece650681e5bfeffc87efe79272be1932c4f4"


def real_photos() -> list[tuple[str, np.ndarray]]:
    photos = [("astronaut", astronaut()), ("grace_hopper", grace_hopper())]
    photos += [(p.name, p.rgb) for p in group_photos(n=4, seed=3)]
    photos += [(p.name, p.rgb) for p in sized_photos(None, sizes=((640, 480),), counts=(1, 3))]
    return photos


@pytest.fixture(scope="module")
def reference() -> YuFaceDetector:
    return YuFaceDetector(confidence=0.0)


@pytest.fixture(scope="module")
def onnx_yunet() -> YuNetDetector:
    return YuNetDetector(confidence=0.5, idle_threads=1)


def library_faces(reference: YuFaceDetector, rgb: np.ndarray) -> np.ndarray:
    """(n, 15) float rows: score 0-1, x, y, w, h, 5 landmarks, as libfacedetection returns them."""
    rows = reference.raw(np.ascontiguousarray(rgb[..., ::-1])).astype(np.float64)[:, :15]
    rows[:, 0] /= 100.0
    return rows


def float_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (x, y, w, h) boxes in float pixels."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return float(iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih))


@pytest.mark.parametrize("name,rgb", real_photos(), ids=[n for n, _ in real_photos()])
def test_onnx_yunet_finds_what_libfacedetection_finds(name, rgb, reference, onnx_yunet):
    expected = library_faces(reference, rgb)
    got = onnx_yunet._run(np.ascontiguousarray(rgb)[None])  # the network and its decoding, no resizing
    # every face the library scores >= 0.55 is found, and nothing else above 0.55 (scores differ by < 0.01)
    assert len(expected[expected[:, 0] >= 0.55]) == len(got[got[:, 0] >= 0.55]) >= 1, name
    for row in expected[expected[:, 0] >= 0.55]:
        overlaps = [float_iou(row[1:5] + 0.5, g[1:5]) for g in got]
        match = got[int(np.argmax(overlaps))]
        assert max(overlaps) >= 0.95, (name, row[:5], match[:5])
        assert 0.0 <= match[0] - row[0] < 0.011, (name, row[0], match[0])
        # the library truncates to whole pixels: ours are up to 1 px above, and no further off than 1.5 px
        np.testing.assert_allclose(match[1:15], row[1:15] + 0.5, atol=1.5, err_msg=name)


def test_the_service_detector_matches_the_library_as_the_service_ran_it(reference):
    """The whole detect(): both downscaled the same way (to longest side 640, area averaging below half size) and
    thresholded at 0.6; the library's whole-pixel rounding grows with the scale back to the photo (factor f):
    coordinates within 1.5 f + 1 px."""
    ours, theirs = YuNetDetector(max_side=640), YuFaceDetector(max_side=640)
    for name, rgb in real_photos():
        big = cv2.resize(rgb, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)  # both shrink it, below 1/2
        gray = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY)
        a, b = ours.detect(gray, big, 24), theirs.detect(gray, big, 24)
        assert len(a) == len(b) >= 1, name
        tolerance = 1.5 * max(big.shape[:2]) / 640 + 1
        for box in b:
            match = max(a, key=lambda o: iou(box, o))
            assert np.abs(np.subtract((match.x, match.y, match.w, match.h), (box.x, box.y, box.w, box.h))).max() \
                <= tolerance, (name, box, match)


def test_the_shipped_onnx_file_is_what_the_converter_makes_from_the_wheel(tmp_path):
    """scripts/convert-yunet.sh, minus the download: the installed wheel's library, the same converter."""
    library = library_path()
    assert hashlib.sha256(library.read_bytes()).hexdigest() == LIBRARY_SHA256  # pyproject pins yuface 2023.5.1
    spec = importlib.util.spec_from_file_location("yunet_to_onnx", ROOT / "scripts" / "yunet_to_onnx.py")
    assert spec is not None and spec.loader is not None
    converter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(converter)
    out = tmp_path / "yunet_s.onnx"
    converter.convert(library, out, f"{WHEEL} (PyPI), yuface/libfacedetection.so")
    assert out.read_bytes() == MODEL.read_bytes()
