"""Face detectors behind one interface, chosen by name (setting FER_DETECTOR).

- ``yunet``: libfacedetection's CNN (default): finds far more real faces than Haar (docs/benchmarks.md).
- ``blazeface``: MediaPipe's BlazeFace (ONNX): fastest, but misses small faces.
- ``haar``: the thesis notebook's OpenCV cascade and parameters, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.detectors.base import Box, FaceDetector, clip_box, downscale, iou, nms
from service.detectors.blazeface import BlazeFaceDetector
from service.detectors.haar import HaarDetector
from service.detectors.yunet import YuNetDetector

__all__ = ["DETECTORS", "BlazeFaceDetector", "Box", "FaceDetector", "HaarDetector", "YuNetDetector", "clip_box",
           "create_detector", "downscale", "iou", "nms"]

DETECTORS: dict[str, Callable[[Any], FaceDetector]] = {
    "haar": lambda s: HaarDetector(s.haar_scale_factor, s.haar_min_neighbors, s.detect_max_side, s.nms_iou),
    "yunet": lambda s: YuNetDetector(s.detector_confidence, s.detect_max_side, s.nms_iou),
    "blazeface": lambda s: BlazeFaceDetector(s.detector_confidence, s.nms_iou),
}


def create_detector(settings: Any) -> FaceDetector:
    """The detector named by settings.detector."""
    try:
        factory = DETECTORS[settings.detector]
    except KeyError:
        known = ", ".join(sorted(DETECTORS))
        raise ValueError(f"unknown detector {settings.detector!r}; choose from: {known}") from None
    return factory(settings)
