"""Face detectors behind one interface, chosen by name (setting FER_DETECTOR).

- ``yunet``: libfacedetection's YuNet-s CNN on onnxruntime (default): far more real faces than Haar
  (docs/benchmarks.md), converted from the yuface wheel (scripts/convert-yunet.sh).
- ``blazeface``: MediaPipe's BlazeFace (ONNX): fast, but misses small faces.
- ``haar``: the thesis notebook's OpenCV cascade and parameters, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.detectors.base import (
    Box,
    FaceDetector,
    Occupancy,
    clip_box,
    iou,
    nms,
    offset_box,
    resize_to,
    scale_box,
    shrink_for,
)
from service.detectors.blazeface import BlazeFaceDetector
from service.detectors.haar import HaarDetector
from service.detectors.yunet import YuNetDetector

__all__ = ["DETECTORS", "BlazeFaceDetector", "Box", "FaceDetector", "HaarDetector", "Occupancy", "YuNetDetector",
           "clip_box", "create_detector", "iou", "nms", "offset_box", "resize_to", "scale_box", "shrink_for"]

DETECTORS: dict[str, Callable[[Any], FaceDetector]] = {
    "haar": lambda s: HaarDetector(s.haar_scale_factor, s.haar_min_neighbors, s.detect_max_side, s.nms_iou),
    "yunet": lambda s: YuNetDetector(s.detector_confidence, s.detect_max_side, s.nms_iou, threads=1,
                                     idle_threads=s.detector_idle_threads),
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
