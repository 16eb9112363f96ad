"""OpenCV's Haar cascade, as in the thesis notebook (haarcascade_frontalface_default.xml, 1.32, 5)."""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from service.detectors.base import Box, Occupancy, clip_box, nms, resize_to, shrink_for
from service.errors import DetectionFailed


class HaarDetector:
    name = "haar"
    needs_rgb = False

    def __init__(self, scale_factor: float = 1.32, min_neighbors: int = 5, max_side: int = 640,
                 nms_iou: float = 0.4) -> None:
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side
        self.nms_iou = nms_iou
        self.path = str(cv2.data.haarcascades) + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._local = threading.local()  # a CascadeClassifier must not be shared between threads
        self.occupancy = Occupancy()
        if self._cascade().empty():
            raise RuntimeError(f"OpenCV could not load the Haar cascade {self.path}")

    def _cascade(self) -> Any:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = cv2.CascadeClassifier(self.path)
        return cascade

    def scale_for(self, width: int, height: int, min_size: int) -> float:
        return shrink_for(width, height, self.max_side)

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int, scale: float = 1.0) -> list[Box]:
        height, width = gray.shape
        full_w, full_h = round(width / scale), round(height / scale)
        small, fx, fy = resize_to(gray, self.scale_for(full_w, full_h, min_size) / scale)
        fx, fy = fx / scale, fy / scale  # cascade pixels -> full-image pixels
        small_min = max(1, int(min_size / max(fx, fy)))
        try:
            found = self._cascade().detectMultiScale(
                small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(small_min, small_min)
            )
        except cv2.error:
            raise DetectionFailed("Face detection failed on this image.") from None
        boxes = [clip_box(x * fx, y * fy, w * fx, h * fy, full_w, full_h) for x, y, w, h in found]
        return nms([b for b in boxes if b is not None], self.nms_iou)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "cascade": "haarcascade_frontalface_default.xml",
                "scale_factor": self.scale_factor, "min_neighbors": self.min_neighbors,
                "max_side": self.max_side, "nms_iou": self.nms_iou}
