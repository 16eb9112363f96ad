"""Would more test-time augmentation help? A shipped model (its graph already averages each face with its mirror)
scored on FER2013 PublicTest faces through more views of each face, their probabilities averaged:

- ``shift S``: the face and its four copies moved S px left, right, up and down (edges repeated): 5 views;
- ``ten-crop C``: five C x C crops (centre and corners) resized back to 48 x 48: 5 views, 10 with the mirrors
  inside the graph (the classic ten-crop), and the same with the whole face as a sixth.

    python -m bench.tta_eval [--model models/fer2013_vgg_int8.onnx] [--split PublicTest] [--json OUT]

Choose on PublicTest (the default); views multiply the model's cost per face, so a gain must beat the noise:
``changed`` counts the faces whose top label the views change, the paired spread of the difference.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SHIFTS = (2, 3)
CROPS = (44, 42)


def shifted(faces: np.ndarray, dx: int, dy: int) -> np.ndarray:
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return np.stack([cv2.warpAffine(f, m, f.shape[::-1], borderMode=cv2.BORDER_REPLICATE) for f in faces])


def cropped(faces: np.ndarray, side: int, x: int, y: int) -> np.ndarray:
    h, w = faces.shape[1:]
    return np.stack([cv2.resize(f[y:y + side, x:x + side], (w, h), interpolation=cv2.INTER_LINEAR) for f in faces])


def views(faces: np.ndarray) -> dict[str, np.ndarray]:
    """Every view of every face, by name: 'base', 'shift S: dx,dy', 'crop C: x,y'."""
    out = {"base": faces}
    for s in SHIFTS:
        for dx, dy in ((s, 0), (-s, 0), (0, s), (0, -s)):
            out[f"shift {s}: {dx},{dy}"] = shifted(faces, dx, dy)
    for c in CROPS:
        m = faces.shape[1] - c
        for x, y in ((m // 2, m // 2), (0, 0), (m, 0), (0, m), (m, m)):
            out[f"crop {c}: {x},{y}"] = cropped(faces, c, x, y)
    return out


def score(predict: Callable[[np.ndarray], np.ndarray], faces: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Accuracy of each view alone and of each averaged set, and how many top labels each set changes."""
    probs = {name: predict(v) for name, v in views(faces).items()}
    base = probs["base"].argmax(1)

    def combined(names: list[str]) -> dict[str, Any]:
        top = np.mean([probs[n] for n in names], axis=0).argmax(1)
        return {"views": len(names), "accuracy": float((top == y).mean()), "changed": int((top != base).sum())}

    sets = {"base": combined(["base"])}
    for s in SHIFTS:
        sets[f"shift {s}"] = combined(["base", *(n for n in probs if n.startswith(f"shift {s}:"))])
    for c in CROPS:
        crops = [n for n in probs if n.startswith(f"crop {c}:")]
        sets[f"ten-crop {c}"] = combined(crops)
        sets[f"ten-crop {c} + whole"] = combined([*crops, "base"])
    return {"single": {n: float((p.argmax(1) == y).mean()) for n, p in probs.items()}, "sets": sets}


def run(data: str, model: str, split: str = "PublicTest") -> dict[str, Any]:
    from training.data import load_fer2013
    from training.evaluate import OnnxPredictor

    fer = load_fer2013(data)
    idx = fer.indices(split)
    # the graph's own output, before calibration: what a graph with more views inside would average
    predict = OnnxPredictor.load(model).raw
    return {"model": os.path.basename(model), "split": split, "faces": len(idx),
            **score(predict, fer.images[idx], fer.labels[idx])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("FER2013_CSV", "../shared/data/fer2013.csv.gz"))
    p.add_argument("--model", default="models/fer2013_vgg_int8.onnx")
    p.add_argument("--split", default="PublicTest", choices=("PublicTest", "PrivateTest"))
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = p.parse_args()
    out = run(args.data, args.model, args.split)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{out['model']} on {out['split']} ({out['faces']:,} faces), mirror inside every view")
    print("| views | n | accuracy | top labels changed |\n|---|---:|---:|---:|")
    for set_name, r in out["sets"].items():
        print(f"| {set_name} | {r['views']} | {r['accuracy']:.2%} | {r['changed']} |")


if __name__ == "__main__":
    main()
