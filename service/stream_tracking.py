"""One stream's work per frame on top of the pipeline: find the faces (in the whole frame, or only near the faces
already tracked), classify them, and follow them with a Tracker (service/tracking.py).

Detect only when needed: a full detection runs on the first frame, every ``detect_every`` frames, whenever
nothing is tracked, and whenever a face found in the previous frame is not found again near where its track
expected it (that frame is then detected in full at once). In between, the detector sees only squares of
``region_scale`` x the face's size around each track's predicted box. Runs on an inference thread; a stream
has one frame in flight, so one StreamTracker is never used by two threads at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.detectors import Box
from service.images import DecodedImage
from service.pipeline import Pipeline
from service.tracking import Tracker, TrackerConfig

# Chosen by measurement (bench/stream_tracking.py, docs/benchmarks.md section 9): see README.
DEFAULT_DETECT_EVERY = 5
DEFAULT_SMOOTHING_S = 0.5
REGION_SCALE = 2.0
# Regions covering more of the frame than this: detect the whole frame instead (the detector's time grows
# with the pixels it sees: measured here, a 220 px square takes 17% of a 640x480 frame's time).
MAX_REGION_FRACTION = 0.75


@dataclass(frozen=True)
class StreamOptions:
    detect_every: int = DEFAULT_DETECT_EVERY  # 1: full detection on every frame
    smoothing_s: float = DEFAULT_SMOOTHING_S
    region_scale: float = REGION_SCALE


@dataclass
class FrameResult:
    faces: list[dict[str, Any]]
    width: int
    height: int
    detection: str  # "full" or "regions"
    timings_ms: dict[str, float]


class StreamTracker:
    def __init__(self, options: StreamOptions = StreamOptions(), config: TrackerConfig | None = None) -> None:
        self.options = options
        self.tracker = Tracker(config or TrackerConfig(smoothing_s=options.smoothing_s))
        self.since_full: int | None = None  # processed frames since the last full detection
        self.last_t: float | None = None  # time of the last processed frame

    def process(self, pipeline: Pipeline, data: bytes, t: float, max_faces: int, min_face_size: int) -> FrameResult:
        """Decode, find, classify and track one frame taken at ``t`` seconds (the pipeline's own decoding and
        scales, as /predict; only the finding is the stream's). A frame that cannot be decoded raises its
        ServiceError and leaves the tracks as they were."""
        detection = "full"

        def find(image: DecodedImage) -> list[Box]:
            nonlocal detection
            regions = self.regions(t, image.width, image.height)
            if regions is not None:
                boxes = pipeline.find_faces(image, max_faces, min_face_size, regions)
                if self._all_found_again(boxes, t, image.width, image.height):
                    detection = "regions"
                    return boxes
            return pipeline.find_faces(image, max_faces, min_face_size)

        prediction = pipeline.run_bytes(data, max_faces, min_face_size, find=find)
        t0 = time.perf_counter()
        faces, labels = prediction.faces, pipeline.classifier.labels
        boxes = [Box(f["box"]["x"], f["box"]["y"], f["box"]["w"], f["box"]["h"]) for f in faces]
        probs = np.array([[face["probabilities"][label] for label in labels] for face in faces])
        for face, tracked in zip(faces, self.tracker.update(boxes, t, probs.reshape(-1, len(labels))), strict=True):
            assert tracked.smoothed is not None
            best = int(tracked.smoothed.argmax())
            face.update({
                "track_id": tracked.track_id, "track_age_s": round(tracked.age_s, 3), "track_frames": tracked.hits,
                "smoothed": {"emotion": labels[best], "confidence": float(tracked.smoothed[best]),
                             "probabilities": {label: float(p) for label, p in zip(labels, tracked.smoothed,
                                                                                   strict=True)}},
            })
        self.since_full = 0 if detection == "full" else (self.since_full or 0) + 1
        self.last_t = t
        timings = dict(prediction.timings_ms)
        timings["total"] = round(timings["total"] + (time.perf_counter() - t0) * 1000, 3)
        return FrameResult(faces, prediction.width, prediction.height, detection, timings)

    def regions(self, t: float, width: int, height: int) -> list[Box] | None:
        """Where to look for the tracked faces at time ``t``, or None when this frame needs a full detection."""
        if not self.tracker.tracks or self.since_full is None or self.since_full + 1 >= self.options.detect_every:
            return None
        squares = [_square(z, self.options.region_scale, width, height) for _, z in self.tracker.predicted_boxes(t)]
        merged = merge_overlapping([s for s in squares if s is not None])
        if not merged or sum(b.area for b in merged) > MAX_REGION_FRACTION * width * height:
            return None
        return merged

    def _all_found_again(self, boxes: list[Box], t: float, width: int, height: int) -> bool:
        """Whether every track found in the previous frame matches one of ``boxes``. A face expected partly
        outside the frame (coming in or leaving) is let go: the whole frame would not show more of it."""
        _, unmatched, _ = self.tracker.match(boxes, t)
        for i in unmatched:
            track = self.tracker.tracks[i]
            if track.last_seen == self.last_t and _inside(track.predicted(t), width, height):
                return False
        return True


def _inside(z: np.ndarray, width: int, height: int) -> bool:
    cx, cy, w, h = (float(v) for v in z)
    return cx - w / 2 >= 0 and cy - h / 2 >= 0 and cx + w / 2 <= width and cy + h / 2 <= height


def _square(z: np.ndarray, scale: float, width: int, height: int) -> Box | None:
    """A square of ``scale`` x the box's longer side around its centre, clipped to the image."""
    cx, cy, w, h = (float(v) for v in z)
    half = scale * max(w, h) / 2
    x0, y0 = max(0, round(cx - half)), max(0, round(cy - half))
    x1, y1 = min(width, round(cx + half)), min(height, round(cy + half))
    return Box(x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def merge_overlapping(boxes: list[Box]) -> list[Box]:
    """Overlapping boxes are replaced by their bounding box where that has no more pixels than the two apart
    (each searched once instead of their overlap twice), until no such pair is left."""
    out = list(boxes)
    while True:
        pair = next(((i, j) for i in range(len(out)) for j in range(i + 1, len(out))
                     if _union(out[i], out[j]).area <= out[i].area + out[j].area and _overlap(out[i], out[j])), None)
        if pair is None:
            return out
        i, j = pair
        out[i] = _union(out[i], out[j])
        del out[j]


def _overlap(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    return Box(x0, y0, max(a.x + a.w, b.x + b.w) - x0, max(a.y + a.h, b.y + b.h) - y0)
