"""Face detectors side by side on real photos with boxes (bench/photos.py): recall at IoU >= 0.5,
false positives per image and milliseconds per image, per detector and per photo group.

    python -m bench.detection_eval [--data ../shared/data/fer2013.csv.gz] [--json out.json]

Each detector runs exactly as the service runs it (same settings, same downscaling to 640 px).
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

from bench.photos import Photo, evaluation_set
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
    counts = {g: sum(1 for p in photos if p.group == g) for g in dict.fromkeys(p.group for p in photos)}
    return {"photos": counts, "faces": sum(len(p.faces) for p in photos), "min_face_size": settings.min_face_size,
            "detectors": results, "table": table(results), "cpu": os.cpu_count()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("FER2013_CSV", "../shared/data/fer2013.csv.gz"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    out = run(args.data)
    print(f"photos: {out['photos']}, faces: {out['faces']}")
    print(out["table"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
