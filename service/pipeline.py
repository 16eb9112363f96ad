"""Image bytes -> faces -> emotions: decode, detect, crop every face, classify them in one batch.

Synchronous and free of FastAPI: routes run it on the inference threads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from service.classifier import EmotionClassifier
from service.detectors import Box, FaceDetector, nms
from service.images import DecodedImage, decode

REGION_NMS_IOU = 0.4  # one face seen from two neighbouring regions is reported once


@dataclass
class Prediction:
    faces: list[dict[str, Any]]
    width: int
    height: int
    timings_ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    def __init__(self, detector: FaceDetector, classifier: EmotionClassifier, max_image_pixels: int,
                 align_faces: bool = False) -> None:
        self.detector = detector
        self.classifier = classifier
        self.max_image_pixels = max_image_pixels
        self.align_faces = align_faces
        self.want_rgb = detector.needs_rgb or classifier.needs_rgb

    def run_bytes(self, data: bytes, max_faces: int, min_face_size: int) -> Prediction:
        t0 = time.perf_counter()
        image = self.decode(data)
        decode_ms = (time.perf_counter() - t0) * 1000
        prediction = self.run(image, max_faces, min_face_size)
        prediction.timings_ms = {"decode": round(decode_ms, 3), **prediction.timings_ms,
                                 "total": round((time.perf_counter() - t0) * 1000, 3)}
        return prediction

    def decode(self, data: bytes) -> DecodedImage:
        return decode(data, self.max_image_pixels, want_rgb=self.want_rgb)

    def run(self, image: DecodedImage, max_faces: int, min_face_size: int) -> Prediction:
        t0 = time.perf_counter()
        boxes = self.find_faces(image, max_faces, min_face_size)
        t1 = time.perf_counter()
        faces = self.classify_faces(image, boxes)
        t2 = time.perf_counter()
        return Prediction(faces, image.width, image.height,
                          {"detect": round((t1 - t0) * 1000, 3), "classify": round((t2 - t1) * 1000, 3)})

    def find_faces(self, image: DecodedImage, max_faces: int, min_face_size: int,
                   regions: Sequence[Box] | None = None) -> list[Box]:
        """The faces to report, biggest first: detected in the whole image, or only inside ``regions`` (boxes
        in the image, e.g. around a stream's tracked faces: far fewer pixels than the whole frame)."""
        if regions is None:
            boxes = self.detector.detect(image.gray, image.rgb, min_face_size)
        else:
            boxes = nms([b for r in regions for b in self._detect_in(image, r, min_face_size)], REGION_NMS_IOU)
        boxes = [b for b in boxes if min(b.w, b.h) >= min_face_size]
        boxes.sort(key=lambda b: (-b.area, b.y, b.x))  # biggest face first
        return boxes[:max_faces]

    def _detect_in(self, image: DecodedImage, region: Box, min_face_size: int) -> list[Box]:
        x0, y0 = max(0, region.x), max(0, region.y)
        x1, y1 = min(image.width, region.x + region.w), min(image.height, region.y + region.h)
        if x1 - x0 < min_face_size or y1 - y0 < min_face_size:
            return []
        rgb = None if image.rgb is None else image.rgb[y0:y1, x0:x1]
        found = self.detector.detect(image.gray[y0:y1, x0:x1], rgb, min_face_size)
        return [replace(b, x=b.x + x0, y=b.y + y0, landmarks=None if b.landmarks is None else
                        tuple((px + x0, py + y0) for px, py in b.landmarks)) for b in found]

    def classify_faces(self, image: DecodedImage, boxes: list[Box]) -> list[dict[str, Any]]:
        """One answer dict per box (box, emotion, confidence, probabilities, detector), in one classifier call."""
        probs = self.classifier.classify(self.classifier.crops(image.gray, image.rgb, boxes, self.align_faces))
        labels = self.classifier.labels
        return [self._face(box, row, labels) for box, row in zip(boxes, probs, strict=True)]

    def _face(self, box: Box, probs: Any, labels: tuple[str, ...]) -> dict[str, Any]:
        best = int(probs.argmax())
        return {
            "box": {"x": box.x, "y": box.y, "w": box.w, "h": box.h},
            "emotion": labels[best],
            "confidence": float(probs[best]),
            "probabilities": {label: float(p) for label, p in zip(labels, probs, strict=True)},
            "detector": {"name": self.detector.name, "score": None if box.score is None else round(box.score, 4)},
        }
