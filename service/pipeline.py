"""Image bytes -> faces -> emotions: decode (only as large as needed), detect, crop every face, classify them
in one batch. Boxes are always in the full image's pixels, whatever scale it was decoded at.

Synchronous and free of FastAPI: routes run it on the inference threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.classifier import EmotionClassifier
from service.detectors import Box, FaceDetector, nms, offset_box, scale_box
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

    def run_bytes(self, data: bytes, max_faces: int, min_face_size: int,
                  find: Callable[[DecodedImage], list[Box]] | None = None) -> Prediction:
        """Decode only as much of the image as finding faces of ``min_face_size`` px needs, and more only when
        the smallest face found would be cropped from fewer pixels than the classifier's input has. ``find``
        replaces find_faces (a stream looks near its tracked faces first: service/stream_tracking.py)."""
        with self.detector.occupancy:
            t0 = time.perf_counter()
            image = self.decode(data, min_face_size)
            t1 = time.perf_counter()
            boxes = find(image) if find is not None else self.find_faces(image, max_faces, min_face_size)
            t2 = time.perf_counter()
            needed = self.crop_scale(boxes)
            if image.scale < needed:
                image = decode(data, self.max_image_pixels, want_rgb=self.want_rgb, min_scale=needed)
            t3 = time.perf_counter()
            faces = self.classify_faces(image, boxes)
            t4 = time.perf_counter()
        ms = {"decode": (t1 - t0) + (t3 - t2), "detect": t2 - t1, "classify": t4 - t3, "total": t4 - t0}
        return Prediction(faces, image.width, image.height, {k: round(v * 1000, 3) for k, v in ms.items()})

    def decode(self, data: bytes, min_face_size: int | None = None) -> DecodedImage:
        """The image, in full; or, given ``min_face_size``, a JPEG at the smallest DCT scale at which the
        detector still sees faces of that size (the detector's scale_for)."""
        if min_face_size is None:
            return decode(data, self.max_image_pixels, want_rgb=self.want_rgb)
        size = min_face_size
        return decode(data, self.max_image_pixels, want_rgb=self.want_rgb,
                      min_scale=lambda w, h: self.detector.scale_for(w, h, size))

    def crop_scale(self, boxes: Sequence[Box]) -> float:
        """The smallest decode scale at which every face's crop has at least the classifier's input size."""
        if not boxes:
            return 0.0
        spec = self.classifier.contract.input
        return min(1.0, max(spec.width, spec.height) / max(1, min(min(b.w, b.h) for b in boxes)))

    def run(self, image: DecodedImage, max_faces: int, min_face_size: int) -> Prediction:
        with self.detector.occupancy:
            t0 = time.perf_counter()
            boxes = self.find_faces(image, max_faces, min_face_size)
            t1 = time.perf_counter()
            faces = self.classify_faces(image, boxes)
            t2 = time.perf_counter()
        return Prediction(faces, image.width, image.height,
                          {"detect": round((t1 - t0) * 1000, 3), "classify": round((t2 - t1) * 1000, 3)})

    def find_faces(self, image: DecodedImage, max_faces: int, min_face_size: int,
                   regions: Sequence[Box] | None = None) -> list[Box]:
        """The faces to report, biggest first, in full-image pixels: detected in the whole image, or only inside
        ``regions`` (boxes in the image, e.g. around a stream's tracked faces: far fewer pixels than the frame)."""
        if regions is None:
            boxes = self.detector.detect(image.gray, image.rgb, min_face_size, image.scale)
        else:
            boxes = nms([b for r in regions for b in self._detect_in(image, r, min_face_size)], REGION_NMS_IOU)
        # a reduced JPEG decode rounds its size up: clip to the full image exactly
        clipped = (scale_box(b, 1.0, image.width, image.height) for b in boxes)
        boxes = [b for b in clipped if b is not None and min(b.w, b.h) >= min_face_size]
        boxes.sort(key=lambda b: (-b.area, b.y, b.x))  # biggest face first
        return boxes[:max_faces]

    def _detect_in(self, image: DecodedImage, region: Box, min_face_size: int) -> list[Box]:
        x0, y0 = max(0, region.x), max(0, region.y)
        x1, y1 = min(image.width, region.x + region.w), min(image.height, region.y + region.h)
        if x1 - x0 < min_face_size or y1 - y0 < min_face_size:
            return []
        s = image.scale  # the region in decoded pixels
        c0, r0, c1, r1 = int(x0 * s), int(y0 * s), max(int(x0 * s) + 1, round(x1 * s)), max(int(y0 * s) + 1,
                                                                                           round(y1 * s))
        rgb = None if image.rgb is None else image.rgb[r0:r1, c0:c1]
        found = self.detector.detect(image.gray[r0:r1, c0:c1], rgb, min_face_size, s)
        return [offset_box(b, round(c0 / s), round(r0 / s)) for b in found]

    def classify_faces(self, image: DecodedImage, boxes: list[Box]) -> list[dict[str, Any]]:
        """One answer dict per box (box, emotion, confidence, probabilities, detector), in one classifier call."""
        crop_boxes = boxes
        if image.scale != 1.0:  # boxes are in full-image pixels, the arrays at image.scale
            height, width = image.gray.shape
            crop_boxes = [scale_box(b, image.scale, width, height) or Box(min(width - 1, int(b.x * image.scale)),
                                                                           min(height - 1, int(b.y * image.scale)),
                                                                           1, 1) for b in boxes]
        crops = self.classifier.crops(image.gray, image.rgb, crop_boxes, self.align_faces)
        probs = self.classifier.classify(crops, alone=self.detector.occupancy.count <= 1)
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
