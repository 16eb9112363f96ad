"""The reference the service's YuNet (onnxruntime, models/detectors/yunet_s.onnx) is converted from and checked
against: libfacedetection itself, as compiled into the ``yuface`` wheel (BSD-3), called through ctypes.

Used by the parity test (tests/service/test_yunet_parity.py) and, as the row ``yuface``, by the detection
bench. Not a service detector any more: the ONNX conversion finds the same faces, faster, on any CPU.

The library is called directly rather than through the wheel's own Python binding, because that binding
allocates a result buffer on every call and never frees it (measured: RSS +14 MB per 300 images, without
bound). Each thread passes its own reusable buffer instead.
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

from service.detectors.base import Box, Occupancy, clip_box, nms, shrink_for
from service.errors import DetectionFailed

RESULT_BUFFER_BYTES = 0x20000  # the size libfacedetection requires for its result buffer
FACE_SHORTS = 16  # per face: score (0-100), x, y, w, h, five landmarks (x, y), one unused
MAX_FACES = (RESULT_BUFFER_BYTES - 4) // (2 * FACE_SHORTS)
_SYMBOL = "_Z14facedetect_cnnPhS_iii"  # int* facedetect_cnn(uchar* result, uchar* bgr, int w, int h, int step)


def library_path() -> Path:
    spec = find_spec("yuface")
    if spec is None or spec.origin is None:
        raise RuntimeError("the yuface package (libfacedetection) is not installed")
    return Path(spec.origin).parent / "libfacedetection.so"


def _load_library() -> Any:
    lib = ctypes.CDLL(str(library_path()))  # ctypes releases the GIL
    fn = lib[_SYMBOL]
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


def area_resize(image: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """Downscaled by area averaging, as the service did before (service.detectors.resize_to is bilinear above 1/2)."""
    h, w = image.shape[:2]
    if scale >= 1.0:
        return image, 1.0, 1.0
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA), w / nw, h / nh


class YuFaceDetector:
    """libfacedetection as the service ran it before the ONNX conversion: downscaled to ``max_side``."""

    name = "yuface"
    needs_rgb = True

    def __init__(self, confidence: float = 0.6, max_side: int = 640, nms_iou: float = 0.4, threads: int = 1) -> None:
        # libfacedetection parallelises with OpenMP, which reads its thread count once, when it loads.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        self._fn = _load_library()
        self._local = threading.local()
        self.occupancy = Occupancy()
        self.confidence = confidence
        self.max_side = max_side
        self.nms_iou = nms_iou
        # The first call initialises the library's static weights: do it here, on one thread.
        self.raw(np.zeros((64, 64, 3), np.uint8))

    def raw(self, bgr: np.ndarray) -> np.ndarray:
        """(n, 16) int16 rows for one contiguous BGR image: score 0-100, x, y, w, h, 5 landmarks (x, y)."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = np.zeros(RESULT_BUFFER_BYTES, np.uint8)
        result = self._fn(buffer.ctypes.data, bgr.ctypes.data, bgr.shape[1], bgr.shape[0], bgr.strides[0])
        if not result:
            raise DetectionFailed("Face detection failed on this image.")
        n = min(int(result[0]), MAX_FACES)
        return np.frombuffer(buffer, dtype=np.int16, count=FACE_SHORTS * n, offset=4).reshape(n, FACE_SHORTS).copy()

    def scale_for(self, width: int, height: int, min_size: int) -> float:
        return shrink_for(width, height, self.max_side)

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int, scale: float = 1.0) -> list[Box]:
        height, width = gray.shape
        source = gray if rgb is None else rgb
        small, fx, fy = area_resize(source, shrink_for(width, height, self.max_side))
        # The CNN wants BGR; a gray image is given as three equal channels.
        code = cv2.COLOR_GRAY2BGR if small.ndim == 2 else cv2.COLOR_RGB2BGR
        bgr = np.ascontiguousarray(cv2.cvtColor(small, code))
        if min(bgr.shape[:2]) < 2:
            return []
        fx, fy = fx / scale, fy / scale
        boxes = []
        for row in self.raw(bgr).astype(np.float64):
            score = row[0] / 100.0  # libfacedetection scores 0-100
            if score < self.confidence:
                continue
            marks = tuple((float(row[5 + 2 * i] * fx), float(row[6 + 2 * i] * fy)) for i in range(5))
            box = clip_box(row[1] * fx, row[2] * fy, row[3] * fx, row[4] * fy, round(width / scale),
                           round(height / scale), score=round(float(score), 4), landmarks=marks)
            if box is not None:
                boxes.append(box)
        return nms(boxes, self.nms_iou)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "library": "libfacedetection (yuface wheel)", "confidence": self.confidence,
                "max_side": self.max_side, "nms_iou": self.nms_iou}
