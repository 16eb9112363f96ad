"""The detector interface, the Box it returns, and what every detector shares: scaling,
clipping, non-maximum suppression, the count of requests in flight. No FastAPI here."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any, Protocol

import cv2
import numpy as np


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float | None = None  # detector confidence in [0, 1], where the detector has one
    # five landmarks (right eye, left eye, nose, right and left mouth corner) in image pixels, if any
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def area(self) -> int:
        return self.w * self.h


class Occupancy:
    """How many requests are in this process's pipelines right now (all models share one detector): a detector
    may use several threads for one request only while it is the only one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> Occupancy:
        with self._lock:
            self.count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.count -= 1


class FaceDetector(Protocol):
    name: str
    needs_rgb: bool
    occupancy: Occupancy

    def scale_for(self, width: int, height: int, min_size: int) -> float:
        """The scale (<= 1) at which this detector looks at a width x height image for faces of ``min_size``
        px and more: an image decoded at that scale or larger gives the same boxes as the full image."""
        ...

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int, scale: float = 1.0) -> list[Box]:
        """Faces in the upright image (gray (h, w); rgb (h, w, 3) when needs_rgb), which is the full image
        decoded at ``scale``. ``min_size`` and the boxes are in full-image pixels; boxes are clipped to it."""
        ...

    def describe(self) -> dict[str, Any]: ...


def shrink_for(width: int, height: int, max_side: int) -> float:
    """The scale (<= 1) that brings the longer side down to ``max_side`` (0: no bound)."""
    longest = max(width, height)
    return 1.0 if max_side <= 0 or longest <= max_side else max_side / longest


def resize_to(image: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """(the image resized by ``scale``, the x and y factors from its pixels back to the input's). A scale >= 1
    returns the image itself. Down to half size bilinear interpolation hardly aliases and is fast; below half,
    area averaging (OpenCV's INTER_AREA takes 4 ms for 640x480 -> 533x400, bilinear 0.7 ms)."""
    h, w = image.shape[:2]
    if scale >= 1.0:
        return image, 1.0, 1.0
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA
    return cv2.resize(image, (nw, nh), interpolation=interpolation), w / nw, h / nh


def scale_box(box: Box, factor: float, width: int, height: int) -> Box | None:
    """The box (and landmarks) multiplied by ``factor``, clipped to width x height."""
    marks = None if box.landmarks is None else tuple((x * factor, y * factor) for x, y in box.landmarks)
    return clip_box(box.x * factor, box.y * factor, box.w * factor, box.h * factor, width, height, box.score, marks)


def offset_box(box: Box, dx: int, dy: int) -> Box:
    marks = None if box.landmarks is None else tuple((x + dx, y + dy) for x, y in box.landmarks)
    return replace(box, x=box.x + dx, y=box.y + dy, landmarks=marks)


def clip_box(x: float, y: float, w: float, h: float, width: int, height: int, score: float | None = None,
             landmarks: tuple[tuple[float, float], ...] | None = None) -> Box | None:
    """The box intersected with the image, in integer pixels; None when nothing is left."""
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x0, y0, x1 - x0, y1 - y0, score, landmarks)


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union else 0.0


def nms(boxes: list[Box], iou_threshold: float) -> list[Box]:
    """Greedy non-maximum suppression: keep the best-scored (else largest) box of each overlapping group."""
    order = sorted(boxes, key=lambda b: (b.score if b.score is not None else 0.0, b.area), reverse=True)
    kept: list[Box] = []
    for box in order:
        if all(iou(box, k) <= iou_threshold for k in kept):
            kept.append(box)
    return kept
