"""Face detectors side by side on real photos with boxes (bench/photos.py): recall at IoU >= 0.5,
false positives per image and milliseconds per image, per detector and per photo group.

    python -m bench.detection_eval [--data ../shared/data/fer2013.csv.gz] [--json out.json]

Each detector runs exactly as the service runs it (same settings, same scale rule); ``yuface (before)`` is
libfacedetection itself as the service ran it before the ONNX conversion (downscaled to 640 px). A second table
measures the min_face_size rule: recall of faces of exactly 24-48 px at the scale the rule picks.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.photos import Photo, evaluation_set, small_face_photos
from service.config import Settings
from service.detectors import DETECTORS, Box

IOU = 0.5


def _iou(a: tuple[int, int, int, int], b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b.x + b.w) - max(a[0], b.x))
    iy = max(0, min(a[1] + a[3], b.y + b.h) - max(a[1], b.y))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b.w * b.h - inter)


def match(truth: list[tuple[int, int, int, int]], found: list[Box]) -> tuple[int, int]:
    """(true positives, false positives) with greedy one-to-one matching at IoU >= 0.5."""
    pairs = sorted(((_iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_t: set[int] = set()
    used_f: set[int] = set()
    for score, i, j in pairs:
        if score < IOU:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t), len(found) - len(used_f)


def evaluate(detector: Any, photos: list[Photo], min_face_size: int) -> dict[str, Any]:
    rows: dict[str, dict[str, float]] = {}
    times = []
    for photo in photos:
        gray = cv2.cvtColor(photo.rgb, cv2.COLOR_RGB2GRAY)
        detector.detect(gray, photo.rgb, min_face_size)  # warm caches
        t = time.perf_counter()
        found = detector.detect(gray, photo.rgb, min_face_size)
        times.append((time.perf_counter() - t) * 1000)
        tp, fp = match(photo.faces, found)
        for group in (photo.group, "all"):
            r = rows.setdefault(group, {"images": 0, "faces": 0, "found": 0, "false_positives": 0})
            r["images"] += 1
            r["faces"] += len(photo.faces)
            r["found"] += tp
            r["false_positives"] += fp
    for r in rows.values():
        r["recall"] = r["found"] / r["faces"] if r["faces"] else float("nan")
        r["fp_per_image"] = r["false_positives"] / r["images"]
    return {"groups": rows, "ms_per_image_median": float(np.median(times)), "ms_per_image_mean": float(np.mean(times))}


def table(results: dict[str, dict[str, Any]]) -> str:
    """One row per detector: recall and false positives per image for each photo group, then overall."""
    groups = [g for g in next(iter(results.values()))["groups"] if g != "all"] + ["all"]
    head = " | ".join(f"{g}: recall, FP/img" for g in groups)
    lines = [f"| detector | {head} | ms / image (median) |", "|---|" + "---:|" * (len(groups) + 1)]
    for name, r in results.items():
        g = r["groups"]
        cells = []
        for k in groups:
            recall = "-" if not g[k]["faces"] else f"{g[k]['recall']:.1%} ({int(g[k]['found'])}/{int(g[k]['faces'])})"
            cells.append(f"{recall}, {g[k]['fp_per_image']:.2f}")
        lines.append(f"| `{name}` | {' | '.join(cells)} | {r['ms_per_image_median']:.1f} |")
    return "\n".join(lines)


def reference(settings: Settings) -> Any | None:
    """libfacedetection itself (yuface wheel), as the service ran it before the ONNX conversion; None without it."""
    try:
        from bench.yuface_reference import YuFaceDetector

        return YuFaceDetector(settings.detector_confidence, 640, settings.nms_iou)
    except RuntimeError:
        return None


def rule(settings: Settings, seed: int = 0) -> dict[str, Any]:
    """Recall of faces of exactly 24-48 px: in 640x480 frames, where min_face_size alone sets the scale (a frame
    is shrunk until the smallest face asked for is 20 px), and in 1280x720 ones, where the cost bound
    detect_max_side shrinks further; for min_face_size 24 (faces >= 24 count) and 40 (faces >= 40 count)."""
    sizes = (24, 28, 32, 40, 48)
    detector = DETECTORS["yunet"](settings)
    results: dict[str, Any] = {}
    for frame in ((640, 480), (1280, 720)):
        photos = list(small_face_photos(sizes, per_size=8, seed=seed, frame=frame))
        for min_size in (24, 40):
            asked = [p for p in photos if int(p.group.split("-")[1]) >= min_size]
            r = evaluate(detector, asked, min_size)
            label = f"{frame[0]}x{frame[1]}, min_face_size {min_size}"
            results[label] = {**r, "scale": detector.scale_for(*frame, min_size)}
    return {"face_sizes": list(sizes), "results": results, "table": rule_table(results, sizes)}


def rule_table(results: dict[str, Any], sizes: tuple[int, ...]) -> str:
    head = " | ".join(f"{s} px" for s in sizes)
    lines = [f"| frame, setting | detection scale | {head} | FP/img |", "|---|" + "---:|" * (len(sizes) + 2)]
    for label, r in results.items():
        cells = []
        for size in sizes:
            g = r["groups"].get(f"small-{size}")
            cells.append("-" if g is None else f"{g['recall']:.0%} ({int(g['found'])}/{int(g['faces'])})")
        lines.append(f"| {label} | {r['scale']:.3f} | {' | '.join(cells)} | {r['groups']['all']['fp_per_image']:.2f} |")
    return "\n".join(lines)


def run(data: str | None, fer_images: np.ndarray | None = None) -> dict[str, Any]:
    """``fer_images``: FER2013's PrivateTest faces when the caller has them already (else read from ``data``)."""
    fer = fer_images
    if fer is None and data and Path(data).is_file():
        from training.data import load_fer2013

        d = load_fer2013(data)
        fer = d.images[d.indices("PrivateTest")]
    photos = evaluation_set(fer)
    settings = Settings()
    results = {name: evaluate(factory(settings.model_copy(update={"detector": name})), photos,
                              settings.min_face_size)
               for name, factory in DETECTORS.items()}
    if (ref := reference(settings)) is not None:
        results["yuface (before)"] = evaluate(ref, photos, settings.min_face_size)
    counts = {g: sum(1 for p in photos if p.group == g) for g in dict.fromkeys(p.group for p in photos)}
    return {"photos": counts, "faces": sum(len(p.faces) for p in photos), "min_face_size": settings.min_face_size,
            "detectors": results, "table": table(results), "rule": rule(settings), "cpu": os.cpu_count()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("FER2013_CSV", "../shared/data/fer2013.csv.gz"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    out = run(args.data)
    print(f"photos: {out['photos']}, faces: {out['faces']}")
    print(out["table"])
    print(out["rule"]["table"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
