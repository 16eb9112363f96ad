"""Run by bench/.venv-fer's python (not importable from the project venv): times ``FER().detect_emotions``
on each image of an .npz (BGR arrays, as cv2.imread gives) and prints one JSON object on stdout.

    bench/.venv-fer/bin/python -I bench/fer_peer_worker.py images.npz --repeat 3
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("images")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    import fer
    import numpy as np
    import tensorflow as tf
    from fer.fer import FER

    t = time.perf_counter()
    detector = FER()  # the package's defaults: Haar cascade (scale 1.1, min 50 px), quantized TFLite model
    init_s = time.perf_counter() - t
    rows = []
    with np.load(args.images) as npz:
        names = sorted(npz.files, key=lambda k: int(k.removeprefix("img")))
        images = [npz[k] for k in names]
    t = time.perf_counter()
    detector.detect_emotions(images[0])
    first_ms = (time.perf_counter() - t) * 1000
    for img in images:
        found = detector.detect_emotions(img)  # warm-up, and the boxes
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            detector.detect_emotions(img)
            times.append((time.perf_counter() - t) * 1000)
        rows.append({"ms": float(np.median(times)), "boxes": [[int(v) for v in f["box"]] for f in found],
                     "emotions": [max(f["emotions"], key=f["emotions"].get) for f in found]})
    print(json.dumps({"fer_version": fer.__version__, "tensorflow_version": tf.__version__, "init_s": init_s,
                      "first_call_ms": first_ms, "images": rows}))


if __name__ == "__main__":
    main()
