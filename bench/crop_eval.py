"""Which face crop matches training? FER2013 PublicTest faces, upscaled 3x into a larger frame (as
bench/alignment_eval.py builds them), found by the service's detector, then classified through each candidate
crop rule (model_contract.CropSpec) and, for reference, from the original 48x48 face.

    python -m bench.crop_eval [--model models/NAME.onnx] [--n 1500] [--split PublicTest]

Choose on PublicTest (the default; the rule goes into the model's contract with ``fer-train amend --crop``);
PrivateTest only to report. Every rule is measured on the same detections.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.alignment_eval import _iou, tilted_frame
from model_contract import CropSpec
from service.catalog import default_model_path
from service.classifier import EmotionClassifier
from service.config import Settings
from service.detectors import Box, create_detector

# yunet's boxes are taller than FER2013's crops: on PublicTest frames the placed face's side is 0.93 x max(w, h)
# and its centre 0.025 x side above the box's, so the grid spans that point.
SCALES = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3)
SHIFTS = (-0.05, -0.025, 0.0, 0.05)


def candidates() -> list[CropSpec]:
    rules = [CropSpec("box", 1.0, 0.0), CropSpec("box", 1.2, 0.0)]
    return rules + [CropSpec("square", s, dy) for s in SCALES for dy in SHIFTS]


def detections(fer: Any, positions: np.ndarray, detector: str) -> list[tuple[int, np.ndarray, Box]]:
    """(position, frame, detected box) of every face the detector finds where it was placed (IoU >= 0.3)."""
    settings = Settings(detector=detector)
    det = create_detector(settings)
    found = []
    for pos in positions:
        gray, truth = tilted_frame(fer.images[pos], 0)
        boxes = det.detect(gray, cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), settings.min_face_size)
        best = max(boxes, key=lambda b: _iou(b, truth), default=None)
        if best is not None and _iou(best, truth) >= 0.3:
            found.append((int(pos), gray, best))
    return found


def run(data: str, model: str, split: str = "PublicTest", n: int = 1500, detector: str = "yunet") -> dict[str, Any]:
    from training.data import load_fer2013

    fer = load_fer2013(data)
    positions = fer.indices(split)[:n]
    found = detections(fer, positions, detector)
    clf = EmotionClassifier.load(Path(model))
    y = np.array([fer.labels[p] for p, _, _ in found])
    original = clf.classify(fer.images[[p for p, _, _ in found]][..., None].astype(np.float32))
    rows = []
    for rule in candidates():
        clf.contract = replace(clf.contract, crop=rule)
        batch = np.concatenate([clf.crops(gray, None, [box]) for _, gray, box in found])
        accuracy = float((clf.classify(batch).argmax(1) == y).mean())
        rows.append({"shape": rule.shape, "scale": rule.scale, "shift_y": rule.shift_y, "accuracy": accuracy})
    best = max(rows, key=lambda r: r["accuracy"])
    return {"split": split, "detector": detector, "model": os.path.basename(model), "faces": len(positions),
            "detected": len(found), "accuracy_original_48x48": float((original.argmax(1) == y).mean()),
            "rules": rows, "best": best}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("FER2013_CSV", "../shared/data/fer2013.csv.gz"))
    p.add_argument("--model", default=None, help="ONNX model (default: the service's default model)")
    p.add_argument("--split", default="PublicTest", choices=("PublicTest", "PrivateTest"))
    p.add_argument("--n", type=int, default=1500)
    p.add_argument("--detector", default="yunet")
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = p.parse_args()
    out = run(args.data, args.model or str(default_model_path(Settings())), args.split, args.n, args.detector)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{out['model']} on {out['split']}: {out['detected']}/{out['faces']} faces found by {out['detector']}; "
          f"original 48x48 faces {out['accuracy_original_48x48']:.1%}")
    print("| crop | scale | shift_y | accuracy |\n|---|---:|---:|---:|")
    for r in out["rules"]:
        print(f"| {r['shape']} | {r['scale']:g} | {r['shift_y']:g} | {r['accuracy']:.1%} |")
    b = out["best"]
    print(f"best: {b['shape']} scale {b['scale']:g} shift_y {b['shift_y']:g} -> {b['accuracy']:.1%}")


if __name__ == "__main__":
    main()
