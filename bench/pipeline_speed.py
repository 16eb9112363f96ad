"""Section 2: the whole pipeline in process (JPEG bytes -> decode -> detect -> classify), as a worker runs it:
images/s and per-stage milliseconds per frame size, with detection recall (IoU >= 0.5) beside every figure;
then each stage alone (``stages``): decoding as /predict does and in full, cv2.imdecode, every detector,
classifying one face, on the one-face photos and a 12 MP one.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from bench.detection_eval import match
from bench.photos import Photo, jpeg
from service.app import load_pipeline
from service.config import Settings
from service.detectors import Box

STAGES = ("decode", "detect", "classify", "total")
BOX_NOTE = ("a pasted FER2013 face's true box is its whole 48x48 crop (FER2013 cut it with forehead, chin and some "
            "background), so a detector with tighter boxes can find that face and still miss IoU 0.5: it then counts "
            "as missed and as a false positive")


def time_photo(pipeline: Any, data: bytes, repeat: int, max_faces: int, min_face_size: int) -> dict[str, Any]:
    """Median stage timings over ``repeat`` runs (after one warm-up) and the boxes found."""
    prediction = pipeline.run_bytes(data, max_faces, min_face_size)
    runs = [pipeline.run_bytes(data, max_faces, min_face_size).timings_ms for _ in range(repeat)]
    ms = {stage: float(np.median([r[stage] for r in runs])) for stage in STAGES}
    boxes = [Box(f["box"]["x"], f["box"]["y"], f["box"]["w"], f["box"]["h"]) for f in prediction.faces]
    return {"ms": ms, "boxes": boxes}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """images/s (images over the sum of their median times), mean stage ms, recall and false positives."""
    faces = sum(r["faces"] for r in rows)
    found = sum(r["found"] for r in rows)
    total_s = sum(r["ms"]["total"] for r in rows) / 1000
    return {"images": len(rows), "faces": faces, "found": found, "recall": round(found / faces, 4) if faces else None,
            "false_positives": sum(r["false_positives"] for r in rows),
            "images_per_s": round(len(rows) / total_s, 2) if total_s else None,
            "ms": {stage: round(float(np.mean([r["ms"][stage] for r in rows])), 2) for stage in STAGES}}


def by_size(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    sizes = dict.fromkeys(r["size"] for r in rows)
    return {size: summarise([r for r in rows if r["size"] == size]) for size in sizes} | {"all": summarise(rows)}


def run(photos: list[Photo], detectors: tuple[str, ...] = ("yunet", "haar"), repeat: int = 5,
        quality: int = 90, with_stages: bool = True) -> dict[str, Any]:
    settings = Settings()
    cv2.setNumThreads(settings.opencv_threads)  # as the service's lifespan does
    payloads = [(photo, jpeg(photo.rgb, quality)) for photo in photos]
    results = {}
    for name in detectors:
        pipeline = load_pipeline(settings.model_copy(update={"detector": name}))
        rows = []
        for photo, data in payloads:
            timed = time_photo(pipeline, data, repeat, settings.max_faces, settings.min_face_size)
            tp, fp = match(photo.faces, timed["boxes"])
            rows.append({"photo": photo.name, "size": photo.group, "faces": len(photo.faces), "found": tp,
                         "false_positives": fp, "jpeg_bytes": len(data), "ms": timed["ms"]})
        results[name] = {"sizes": by_size(rows), "photos": rows}
    threads = (f"one request at a time, opencv_threads {settings.opencv_threads}, "
               f"ort_intra_threads {settings.ort_intra_threads}")
    out = {"repeat": repeat, "jpeg_quality": quality, "note": BOX_NOTE, "threads": threads, "detectors": results}
    return out | ({"stages": stages(photos, repeat=max(10, 6 * repeat))} if with_stages else {})


def stages(photos: list[Photo], repeat: int = 30) -> dict[str, Any]:
    """Milliseconds per stage (median of ``repeat``, in process, one request at a time) for the one-face photos
    and a 12 MP one: decoding as /predict does and in full, cv2.imdecode, each detector, classifying one face."""
    from bench.speed_targets import twelve_megapixel_photo

    settings = Settings()
    cv2.setNumThreads(settings.opencv_threads)
    pipeline = load_pipeline(settings)
    chosen = [p for p in photos if p.name.endswith("-1face")] + [twelve_megapixel_photo()]
    rows = [row for photo in chosen for row in _photo_stages(photo, pipeline, settings, repeat)]
    return {"repeat": repeat, "threads": f"opencv_threads {settings.opencv_threads}, detector threads "
                                         f"{pipeline.detector.describe().get('threads', 1)}", "rows": rows}


def _photo_stages(photo: Photo, pipeline: Any, settings: Settings, repeat: int) -> list[dict[str, Any]]:
    from bench.stats import median_ms
    from service.detectors import YuNetDetector, create_detector
    from service.images import decode

    frame = photo.group if photo.group != "4032x3024" else "4032x3024 (12 MP)"
    min_size, limit = settings.min_face_size, settings.max_image_pixels
    data = jpeg(photo.rgb)
    rows: list[dict[str, Any]] = []

    def add(stage: str, fn: Any, *args: Any) -> None:
        fn(*args)
        rows.append({"frame": frame, "stage": stage, "ms": round(median_ms(lambda: fn(*args), repeat), 2)})

    image = pipeline.decode(data, min_size)
    add(f"decode as /predict does (scale {image.scale:g})", pipeline.decode, data, min_size)
    add("decode in full (service.images)", decode, data, limit, True)
    add("cv2.imdecode, full size", cv2.imdecode, np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    add(f"detect: {pipeline.detector.name} as the service runs it", pipeline.detector.detect, image.gray, image.rgb,
        min_size, image.scale)
    if photo.group == "640x480":
        full = decode(data, limit, want_rgb=True)
        add("detect: yunet, one thread", YuNetDetector(idle_threads=1).detect, full.gray, full.rgb, min_size)
        for side in (640, 480, 320):  # min_size 1: the frame is shrunk by max_side alone
            add(f"detect: yunet at longest side {side}", YuNetDetector(max_side=side).detect, full.gray, full.rgb, 1)
        for name in ("haar", "blazeface"):
            other = create_detector(settings.model_copy(update={"detector": name}))
            add(f"detect: {name}", other.detect, full.gray, full.rgb, min_size)
        try:
            from bench.yuface_reference import YuFaceDetector

            for side in (640, 480, 320):
                add(f"detect: yuface (libfacedetection) at longest side {side}", YuFaceDetector(max_side=side).detect,
                    full.gray, full.rgb, min_size)
        except RuntimeError:  # yuface not installed: the reference rows are left out
            pass
        add("classify one face (crop + model)", pipeline.classify_faces, full, pipeline.find_faces(full, 1, min_size))
    add("whole pipeline (run_bytes)", pipeline.run_bytes, data, settings.max_faces, min_size)
    return rows
