"""How small may a face be and still be classified about as well as at full size? FER2013 PublicTest faces
shrunk to S x S (area averaging, as a camera sees a smaller face) and brought back to the model's input size as
the service's crop does (bilinear upscaling), classified by a shipped model.

    python -m bench.face_size_eval [--model models/NAME.onnx] [--sizes 16,20,...,48] [--json out.json]

It reports the smallest side whose accuracy is within ``TOLERANCE`` of the full-size faces' (PublicTest only;
PrivateTest is never looked at here): the ``?min_face_size`` above which emotions are about as reliable as they get.
The service's default stays lower (24), where the detector still matches libfacedetection's recall.
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
from training.data import USAGES, load_fer2013

SIZES = (16, 20, 24, 28, 32, 36, 40, 44, 48)
TOLERANCE = 0.03  # accuracy points (as a fraction) below the full-size faces' that still count as "as well"


def shrunk(faces: np.ndarray, side: int, out: int) -> np.ndarray:
    """(N, out, out) faces seen at ``side`` px, then upscaled to ``out`` px as the service's crop does."""
    if side == faces.shape[1] == out:
        return faces
    small = (cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in faces)
    return np.stack([cv2.resize(s, (out, out), interpolation=cv2.INTER_LINEAR) for s in small])


def smallest_within(rows: list[dict[str, Any]], full: float, tolerance: float = TOLERANCE) -> int | None:
    """The smallest side from which every larger measured side stays within ``tolerance`` of ``full``."""
    ok = None
    for row in sorted(rows, key=lambda r: -r["side"]):
        if row["accuracy"] < full - tolerance:
            break
        ok = row["side"]
    return ok


def run(data_path: str, model_path: str, sizes: tuple[int, ...] = SIZES, threads: int = 1) -> dict[str, Any]:
    data = load_fer2013(data_path)
    select = data.usage == USAGES.index("PublicTest")
    faces, labels = data.images[select], data.labels[select]
    classifier = EmotionClassifier.load(Path(model_path), intra_threads=threads)
    spec = classifier.contract.input
    if classifier.labels != data.label_names:
        raise SystemExit(f"{model_path} is not a FER2013 model (labels {classifier.labels})")
    rows = []
    for side in sizes:
        batch = shrunk(faces, side, spec.width)[..., None].astype(np.float32)
        batch = batch * classifier._scale + classifier._offset
        probs = np.concatenate([classifier.classify(batch[i:i + 256]) for i in range(0, len(batch), 256)])
        rows.append({"side": side, "accuracy": round(float((probs.argmax(1) == labels).mean()), 4)})
        print(f"{side:3d} px: {rows[-1]['accuracy']:.2%}", flush=True)
    full = next((r["accuracy"] for r in rows if r["side"] == spec.width), None)
    smallest = None if full is None else smallest_within(rows, full)
    return {"model": Path(model_path).name, "split": "PublicTest", "faces": len(faces), "rows": rows,
            "tolerance": TOLERANCE, "full_size_accuracy": full, "smallest_side_within_tolerance": smallest}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("FER2013_CSV", "../shared/data/fer2013.csv.gz"))
    p.add_argument("--model", default=None, help="ONNX model (default: the service's default model)")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = p.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    out = run(args.data, args.model or str(default_model_path(Settings())), sizes, args.threads)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{out['model']}: smallest face side within {TOLERANCE:.0%} of full size: "
          f"{out['smallest_side_within_tolerance']} px")


if __name__ == "__main__":
    main()
