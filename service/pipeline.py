"""Image bytes -> faces -> emotions: decode, detect, crop every face, classify them in one batch.

Synchronous and free of FastAPI: routes run it on the inference threads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from service.classifier import EmotionClassifier
from service.detectors import Box, FaceDetector
from service.images import DecodedImage, decode


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
        image = decode(data, self.max_image_pixels, want_rgb=self.want_rgb)
        decode_ms = (time.perf_counter() - t0) * 1000
        prediction = self.run(image, max_faces, min_face_size)
        prediction.timings_ms = {"decode": round(decode_ms, 3), **prediction.timings_ms,
                                 "total": round((time.perf_counter() - t0) * 1000, 3)}
        return prediction

    def run(self, image: DecodedImage, max_faces: int, min_face_size: int) -> Prediction:
        t0 = time.perf_counter()
        boxes = self.detector.detect(image.gray, image.rgb, min_face_size)
        boxes = [b for b in boxes if min(b.w, b.h) >= min_face_size]
        boxes.sort(key=lambda b: (-b.area, b.y, b.x))  # biggest face first
        boxes = boxes[:max_faces]
        t1 = time.perf_counter()
        probs = self.classifier.classify(self.classifier.crops(image.gray, image.rgb, boxes, self.align_faces))
        t2 = time.perf_counter()
        labels = self.classifier.labels
        faces = [self._face(box, row, labels) for box, row in zip(boxes, probs, strict=True)]
        return Prediction(faces, image.width, image.height,
                          {"detect": round((t1 - t0) * 1000, 3), "classify": round((t2 - t1) * 1000, 3)})

    def _face(self, box: Box, probs: Any, labels: tuple[str, ...]) -> dict[str, Any]:
        best = int(probs.argmax())
        return {
            "box": {"x": box.x, "y": box.y, "w": box.w, "h": box.h},
            "emotion": labels[best],
            "confidence": float(probs[best]),
            "probabilities": {label: float(p) for label, p in zip(labels, probs, strict=True)},
            "detector": {"name": self.detector.name, "score": None if box.score is None else round(box.score, 4)},
        }
