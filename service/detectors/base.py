"""The detector interface, the Box it returns, and what every detector shares: downscaling,
clipping, non-maximum suppression. No FastAPI here."""

from __future__ import annotations

from dataclasses import dataclass
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


class FaceDetector(Protocol):
    name: str
    needs_rgb: bool

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int) -> list[Box]:
        """Faces in the upright image (gray (H, W); rgb (H, W, 3) when needs_rgb), clipped to it."""
        ...

    def describe(self) -> dict[str, Any]: ...


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """(copy whose longer side is at most max_side, factor to multiply its coordinates back by)."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if longest <= max_side:
        return image, 1.0
    scale = longest / max_side
    small = cv2.resize(image, (max(1, round(w / scale)), max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
    return small, scale


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
