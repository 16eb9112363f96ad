"""Does eye-level alignment (FER_ALIGN_FACES) help classification? Measured on real faces with labels:
FER2013 PrivateTest faces, upscaled into a photo-like frame and tilted by known angles, then found
by the service's detector and classified with and without alignment.

    python -m bench.alignment_eval [--data ../shared/data/fer2013.csv.gz] [--model models/...onnx] [--n 1000]

Both arms use the same detections; only the crop differs. PrivateTest is used to *measure* a default
the shipped model does not depend on (nothing in the model is chosen by it); run --split PublicTest to
choose, PrivateTest to report.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from service.catalog import default_model_path
from service.classifier import EmotionClassifier
from service.config import Settings
from service.detectors import Box, create_detector

ANGLES = (-20, -10, 0, 10, 20)


def tilted_frame(face: np.ndarray, degrees: float, scale: int = 3, margin: int = 40) -> tuple[np.ndarray, Box]:
    """A gray 48x48 face upscaled into a frame with a margin, tilted about its centre; its box."""
    size = 48 * scale
    side = size + 2 * margin
    frame = np.full((side, side), int(np.median(face)), np.uint8)
    big = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
    frame[margin : margin + size, margin : margin + size] = big
    m = cv2.getRotationMatrix2D((side / 2, side / 2), degrees, 1.0)
    tilted: np.ndarray = cv2.warpAffine(frame, m, (side, side), borderMode=cv2.BORDER_REPLICATE)
    return tilted, Box(margin, margin, size, size)


def run(data: str, model: str, split: str = "PublicTest", n: int = 1000, detector: str = "yunet") -> dict[str, Any]:
    from training.data import load_fer2013

    fer = load_fer2013(data)
    positions = fer.indices(split)[:n]
    settings = Settings(detector=detector)
    det = create_detector(settings)
    clf = EmotionClassifier.load(Path(model))
    rows = {}
    for angle in ANGLES:
        found, correct = 0, {False: 0, True: 0}
        for pos in positions:
            gray, truth = tilted_frame(fer.images[pos], angle)
            rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
            boxes = det.detect(gray, rgb, settings.min_face_size)
            if not boxes:
                continue
            box = max(boxes, key=lambda b: _iou(b, truth))
            if _iou(box, truth) < 0.3:
                continue
            found += 1
            for align in (False, True):
                probs = clf.classify(clf.crops(gray, rgb, [box], align=align))
                correct[align] += int(probs[0].argmax() == fer.labels[pos])
        rows[str(angle)] = {"faces": len(positions), "detected": found,
                            "accuracy_plain": correct[False] / max(found, 1),
                            "accuracy_aligned": correct[True] / max(found, 1)}
    return {"split": split, "detector": detector, "model": os.path.basename(model), "by_angle": rows}


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / float(a.area + b.area - inter)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("FER2013_CSV", "../shared/data/fer2013.csv.gz"))
    p.add_argument("--model", default=None, help="ONNX model (default: the service's default model)")
    p.add_argument("--split", default="PublicTest", choices=("PublicTest", "PrivateTest"))
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--detector", default="yunet")
    args = p.parse_args()
    out = run(args.data, args.model or str(default_model_path(Settings())), args.split, args.n, args.detector)
    print(json.dumps(out, indent=2))
    print("| tilt | detected | accuracy without alignment | with alignment |\n|---:|---:|---:|---:|")
    for angle, r in out["by_angle"].items():
        print(f"| {angle} deg | {r['detected']}/{r['faces']} | {r['accuracy_plain']:.1%} "
              f"| {r['accuracy_aligned']:.1%} |")


if __name__ == "__main__":
    main()
