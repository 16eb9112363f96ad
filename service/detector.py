"""Face detectors behind one small interface. No FastAPI here.

A detector gets the upright gray image (and RGB when it asks for colour) and returns boxes in that
image's pixel coordinates, clipped to it. Large images are detected on a downscaled copy and the
boxes mapped back, so a 12-megapixel photo costs about what a 640x480 frame does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from service.errors import DetectionFailed


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float | None = None  # detector confidence where the detector has one

    @property
    def area(self) -> int:
        return self.w * self.h


class FaceDetector(Protocol):
    name: str
    needs_rgb: bool

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int) -> list[Box]: ...

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


def clip_box(x: float, y: float, w: float, h: float, width: int, height: int, score: float | None = None) -> Box | None:
    """The box intersected with the image, in integer pixels; None when nothing is left."""
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x0, y0, x1 - x0, y1 - y0, score)


class HaarDetector:
    """OpenCV's haarcascade_frontalface_default.xml, with the notebook's scaleFactor 1.32, minNeighbors 5."""

    name = "haar"
    needs_rgb = False

    def __init__(self, scale_factor: float = 1.32, min_neighbors: int = 5, max_side: int = 640) -> None:
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side
        self.path = str(cv2.data.haarcascades) + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._local = threading.local()  # CascadeClassifier is not safe to share between threads
        if self._cascade().empty():
            raise RuntimeError(f"OpenCV could not load the Haar cascade {self.path}")

    def _cascade(self) -> Any:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = cv2.CascadeClassifier(self.path)
        return cascade

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int) -> list[Box]:
        height, width = gray.shape
        small, scale = downscale(gray, self.max_side)
        small_min = max(1, int(min_size / scale))
        try:
            found = self._cascade().detectMultiScale(
                small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(small_min, small_min)
            )
        except cv2.error:
            raise DetectionFailed("Face detection failed on this image.") from None
        boxes = [clip_box(x * scale, y * scale, w * scale, h * scale, width, height) for x, y, w, h in found]
        return [b for b in boxes if b is not None]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "cascade": "haarcascade_frontalface_default.xml",
                "scale_factor": self.scale_factor, "min_neighbors": self.min_neighbors, "max_side": self.max_side}


def create_detector(settings: Any) -> FaceDetector:
    """The detector named by settings.detector."""
    if settings.detector == "haar":
        return HaarDetector(settings.haar_scale_factor, settings.haar_min_neighbors, settings.detect_max_side)
    raise ValueError(f"unknown detector {settings.detector!r}; choose from: haar")
